"""``GET /api/v1/stream``: the live event stream (server-sent events) of what the caller may see.

Each event's SSE ``id`` is its id on the stream (``store/stream.py``); a client that reconnects with
``Last-Event-ID`` (or ``?last_event_id=``, for a first connection that resumes) gets every event after it, in order,
then the live ones, with none missed and none twice. When that cannot be (the events were pruned, or the
connection fell more than its queue behind), the stream sends ``event: resync`` and closes: the client reloads
what it shows and connects again without an id.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent

from wahub import errors
from wahub.api import visibility
from wahub.api.deps import Ctx, Principal, Reader
from wahub.api.live import PAGE, Hub, Subscription
from wahub.store import stream, stream_events

router = APIRouter(prefix="/api/v1", tags=["stream"])

MAX_ID = 2**63 - 1


# Left out of /openapi.json: an answer that never ends is not one OpenAPI can describe, and a fuzzer of the
# document (tests/integration/test_openapi_fuzz.py) would wait on it for ever. docs/architecture.md describes it.
@router.get("/stream", response_class=EventSourceResponse, include_in_schema=False)
async def open_stream(
    request: Request,
    ctx: Ctx,
    principal: Reader,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=24)] = None,
    last_event_id: Annotated[
        int | None, Query(ge=0, le=MAX_ID, description="resume after this event id (as `Last-Event-ID`)")
    ] = None,
) -> EventSourceResponse:
    """Live events: ``message.created``, ``message.updated``, ``conversation.updated``; ``resync`` when the
    client must reload. Heartbeats (SSE comments) keep idle connections open."""
    after = last_event_id
    if last_event_id_header is not None and last_event_id_header.strip():
        try:
            after = int(last_event_id_header)
        except ValueError:
            after = -1
        if not 0 <= after <= MAX_ID:
            raise errors.InvalidInput("Last-Event-ID must be an event id the stream sent", field="Last-Event-ID")
    hub: Hub = request.app.state.stream_hub
    # Subscribed before the answer starts: a client that has the headers gets every event written after that.
    # What the hub reads from now on is queued; what it read before is in the table.
    subscription = hub.subscribe()
    if after is None:
        after, resuming = hub.last, False
    else:
        resuming = True
    return EventSourceResponse(
        _events(hub, subscription, ctx.readers, Viewer.of(principal), after, resuming=resuming),
        ping=hub.heartbeat,
        send_timeout=30,
    )


class Viewer:
    """Which events a connection may receive: the one place the stream applies visibility
    (``api/visibility.py``: keys and admins see every conversation; an agent, theirs and the unassigned)."""

    def __init__(self, agent_id: int | None) -> None:
        self.agent_id = agent_id

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        return cls(visibility.agent_id(principal))

    def sees(self, event: stream_events.Event) -> bool:
        if self.agent_id is None:
            return True
        return event.conversation_id is not None and event.assignee_user_id in (None, self.agent_id)


def _sse(event: stream_events.Event) -> ServerSentEvent:
    data = {"id": event.id, "kind": event.kind, **event.payload, "at": stream.timestamp(event.created_at)}
    return ServerSentEvent(json.dumps(data, separators=(",", ":")), event=event.kind, id=str(event.id))


def _resync(reason: str) -> ServerSentEvent:
    return ServerSentEvent(json.dumps({"reason": reason}), event="resync")


async def _events(
    hub: Hub,
    subscription: Subscription,
    readers: async_sessionmaker[AsyncSession],
    viewer: Viewer,
    after: int,
    *,
    resuming: bool,
) -> AsyncIterator[ServerSentEvent]:
    try:
        if resuming:  # what was written before the subscription is in the table (the hub may not have read it)
            async with readers() as session, session.begin():
                gone = await stream_events.missed(session, after)
            if gone:
                yield _resync("the events after this id are no longer kept")
                return
            while True:  # catch up from the table, a page at a time
                async with readers() as session, session.begin():
                    page = await stream_events.read(session, after, PAGE)
                for event in page:
                    if viewer.sees(event):
                        yield _sse(event)
                    after = event.id
                if subscription.overflowed:
                    yield _resync("the connection fell too far behind")
                    return
                if len(page) < PAGE:
                    break
        while True:
            events = await subscription.take(timeout=1.0)
            if subscription.overflowed:
                yield _resync("the connection fell too far behind")
                return
            for event in events:
                if event.id <= after:  # sent already while catching up
                    continue
                if viewer.sees(event):
                    yield _sse(event)
                after = event.id
    finally:
        hub.unsubscribe(subscription)
