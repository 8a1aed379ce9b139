"""`create_app(config)`: the Starlette app that plays Meta's Cloud API.

Wiring only: the state, the webhook sender, the simulator and the endpoint groups, plus a lifespan
that opens the aiohttp session for webhooks and cancels pending work on shutdown.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fakegraph import graph
from fakegraph.account import AccountEndpoints
from fakegraph.coexistence import CoexistenceEndpoints
from fakegraph.config import FakeGraphConfig
from fakegraph.control import ControlEndpoints
from fakegraph.delivery import WebhookDelivery
from fakegraph.group_control import GroupControl
from fakegraph.groups import GroupEndpoints
from fakegraph.media import DOWNLOAD_PATH, MediaEndpoints
from fakegraph.messages import MessageEndpoints
from fakegraph.simulation import Simulator
from fakegraph.state import FakeState
from fakegraph.tasks import TaskSet
from fakegraph.template_admin import TemplateAdmin
from fakegraph.tokens import TokenEndpoints

_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def create_app(config: FakeGraphConfig | None = None) -> Starlette:
    """A fakegraph ASGI app; its in-memory state is `app.state.fake` (a `FakeState`)."""
    state = FakeState(config or FakeGraphConfig())
    tasks = TaskSet()
    delivery = WebhookDelivery(state, tasks)
    simulator = Simulator(state, delivery, tasks)
    gate = graph.GraphGate(state)
    media = MediaEndpoints(state, gate)
    account = AccountEndpoints(state, media)
    messages = MessageEndpoints(state, simulator)
    control = ControlEndpoints(state, simulator, tasks)
    template_admin = TemplateAdmin(state, delivery, tasks)
    tokens = TokenEndpoints(state.tokens)
    groups = GroupEndpoints(state, delivery, tasks)
    group_control = GroupControl(groups)
    coexistence = CoexistenceEndpoints(state, delivery, tasks)
    wrap, guard = gate.wrap, control.guard

    routes = [
        Route("/_fake/requests", guard(control.requests), methods=["GET", "DELETE"]),
        Route("/_fake/messages", guard(control.messages), methods=["GET"]),
        Route("/_fake/arrivals", guard(control.arrivals), methods=["GET", "DELETE"]),
        Route("/_fake/inbound", guard(control.inbound), methods=["POST"]),
        Route("/_fake/inbound_log", guard(control.inbound_log), methods=["GET"]),
        Route("/_fake/webhooks", guard(control.webhooks), methods=["GET"]),
        Route("/_fake/faults", guard(control.faults), methods=["GET", "POST", "DELETE"]),
        Route("/_fake/config", guard(control.config), methods=["GET", "POST"]),
        Route("/_fake/contacts", guard(control.contacts), methods=["GET"]),
        Route("/_fake/reset", guard(control.reset), methods=["POST"]),
        Route("/_fake/tokens", guard(tokens.control), methods=["GET", "POST", "DELETE"]),
        Route("/_fake/groups", group_control.control_groups, methods=["GET"]),
        Route("/_fake/groups/join", group_control.control_join, methods=["POST"]),
        Route("/_fake/groups/suspend", group_control.control_suspend, methods=["POST"]),
        Route("/_fake/templates/status", template_admin.set_status, methods=["POST"]),
        Route(DOWNLOAD_PATH, wrap(media.download), methods=["GET"]),
        Route("/oauth/access_token", wrap(tokens.exchange, bearer=False), methods=["GET"]),
        Route("/{version}/oauth/access_token", wrap(tokens.exchange, bearer=False), methods=["GET"]),
        Route("/debug_token", wrap(tokens.debug), methods=["GET"]),
        Route("/{version}/debug_token", wrap(tokens.debug), methods=["GET"]),
        Route("/{version}/{object_id}/messages", wrap(messages.post), methods=["POST"]),
        Route("/{version}/{object_id}/media", wrap(media.upload), methods=["POST"]),
        Route("/{version}/{object_id}/message_templates", wrap(account.message_templates), methods=["GET"]),
        Route("/{version}/{object_id}/message_templates", wrap(template_admin.create), methods=["POST"]),
        Route("/{version}/{object_id}/message_templates", wrap(template_admin.delete), methods=["DELETE"]),
        Route("/{version}/{object_id}/smb_app_data", wrap(coexistence.smb_app_data), methods=["POST"]),
        Route("/{version}/{object_id}/phone_numbers", wrap(account.phone_numbers), methods=["GET"]),
        Route("/{version}/{object_id}/groups", wrap(groups.create), methods=["POST"]),
        Route("/{version}/{object_id}/groups", wrap(groups.listing), methods=["GET"]),
        Route("/{version}/{object_id}/invite_link", wrap(groups.invite_link), methods=["GET", "POST", "DELETE"]),
        Route("/{version}/{object_id}/join_requests", wrap(groups.join_requests), methods=["GET", "POST", "DELETE"]),
        Route("/{version}/{object_id}/participants", wrap(groups.remove_participants), methods=["DELETE"]),
        Route("/{version}/{object_id}", wrap(_either(groups.known, groups.info, account.get_object)), methods=["GET"]),
        Route(
            "/{version}/{object_id}",
            wrap(_either(groups.known, groups.delete, account.delete_object)),
            methods=["DELETE"],
        ),
        Route("/{version}/{object_id}", wrap(groups.update), methods=["POST"]),
        Route("/{path:path}", wrap(graph.unknown_path), methods=_ALL_METHODS),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await delivery.open()
        freezer = asyncio.create_task(_freeze_gc_every_second()) if state.config.freeze_gc else None
        try:
            yield
        finally:
            if freezer is not None:
                freezer.cancel()
            await tasks.cancel_all()
            await delivery.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.fake = state
    return app


def _either(is_group: Callable[[str], object], group: graph.Endpoint, other: graph.Endpoint) -> graph.Endpoint:
    """One Graph path for two kinds of object: a group's id goes to ``group``, any other id to ``other``."""

    async def endpoint(request: Request) -> Response:
        if is_group(request.path_params["object_id"]):
            return await group(request)
        return await other(request)

    return endpoint


async def _freeze_gc_every_second() -> None:
    """Keep what fakegraph stores (tens of thousands of messages in a benchmark) out of the collector's full
    passes: they stalled the server for 100-250 ms, and requests that waited meanwhile were all timestamped at
    once, as if the client had sent them in a burst. Meta's edge does not stall like that."""
    while True:
        await asyncio.sleep(1.0)
        gc.freeze()
