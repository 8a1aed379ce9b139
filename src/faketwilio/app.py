"""`create_app(config)`: the Starlette app that plays Twilio's Messaging API for WhatsApp. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from faketwilio.config import FakeTwilioConfig
from faketwilio.control import ControlEndpoints
from faketwilio.delivery import CallbackDelivery
from faketwilio.messages import MessageEndpoints
from faketwilio.rest import CDN_PATH, RestGate
from faketwilio.simulation import Simulator
from faketwilio.state import FakeState
from faketwilio.tasks import TaskSet

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_ACCOUNT = "/2010-04-01/Accounts/{account_sid}"


def create_app(config: FakeTwilioConfig | None = None) -> Starlette:
    """A faketwilio ASGI app; its in-memory state is `app.state.fake` (a `FakeState`)."""
    state = FakeState(config or FakeTwilioConfig())
    tasks = TaskSet()
    delivery = CallbackDelivery(state, tasks)
    simulator = Simulator(state, delivery, tasks)
    gate = RestGate(state)
    messages = MessageEndpoints(state, simulator)
    control = ControlEndpoints(state, simulator, tasks)
    wrap, guard = gate.wrap, control.guard

    routes = [
        Route("/_fake/requests", guard(control.requests), methods=["GET", "DELETE"]),
        Route("/_fake/messages", guard(control.messages), methods=["GET"]),
        Route("/_fake/arrivals", guard(control.arrivals), methods=["GET", "DELETE"]),
        Route("/_fake/inbound", guard(control.inbound), methods=["POST"]),
        Route("/_fake/inbound_log", guard(control.inbound_log), methods=["GET"]),
        Route("/_fake/typing", guard(control.typing), methods=["GET"]),
        Route("/_fake/webhooks", guard(control.webhooks), methods=["GET"]),
        Route("/_fake/faults", guard(control.faults), methods=["GET", "POST", "DELETE"]),
        Route("/_fake/config", guard(control.config), methods=["GET", "POST"]),
        Route("/_fake/contacts", guard(control.contacts), methods=["GET"]),
        Route("/_fake/reset", guard(control.reset), methods=["POST"]),
        Route(CDN_PATH + "{sid}", gate.cdn, methods=["GET"]),
        Route(_ACCOUNT + ".json", wrap(gate.account), methods=["GET"]),
        Route(_ACCOUNT + "/Messages.json", wrap(messages.create), methods=["POST"]),
        Route(_ACCOUNT + "/Messages/{sid}", wrap(messages.fetch), methods=["GET"]),
        Route(_ACCOUNT + "/Messages/{message_sid}/Media/{sid}", wrap(gate.media), methods=["GET"]),
        Route("/v2/Channels/Senders", wrap(gate.senders), methods=["GET"]),
        Route("/v2/Indicators/Typing.json", wrap(gate.typing), methods=["POST"]),
        Route("/{path:path}", wrap(gate.unknown), methods=_ALL_METHODS),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await delivery.open()
        try:
            yield
        finally:
            await tasks.cancel_all()
            await delivery.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.fake = state
    return app
