"""The inbox's pages: the shell (``/``: the conversation list and an empty pane), a conversation (``/c/{id}``,
the deep link an ERP page may open; ``?at={message_id}`` opens it at that message), everything linked to an ERP
record (``/e/{entity_type}/{entity_id}``), and the partials htmx and the live script swap in.

Every page and partial of the list takes the list's view in its query string (``listing.ListView``: ``filter``,
``account``, ``entity_type`` and ``entity_id``, ``q``).

A full page answers a browser's navigation; an htmx request (``HX-Request``) gets the part it asked for. What
a principal may not see is "not found", as in the API.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from wahub import errors
from wahub.api.deps import Principal, ReadSession
from wahub.store import accounts, paging, users
from wahub.web import auth, listing, reading, views
from wahub.web.auth import Viewer
from wahub.web.deps import LocalClock, MediaLinks, Templates

router = APIRouter(include_in_schema=False)

STREAM_HEADER = "X-Wahub-Stream-After"
NOT_FOUND = ("Conversation not found", "It does not exist, or it is not yours to see.")
MESSAGE_NOT_FOUND = ("Message not found", "This conversation has no such message, or it is not yours to see.")
RECORD_NOT_FOUND = ("Record not found", "A record's link is /e/{type}/{id}: a type of letters, digits and ._:- .")


def list_view(
    which: Annotated[str | None, Query(alias="filter")] = None,
    account: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    q: str | None = None,
) -> listing.ListView:
    """The list's view from the query string (values that name nothing are dropped)."""
    return listing.ListView.of(which, account, entity_type, entity_id, q)


View = Annotated[listing.ListView, Depends(list_view)]


def _id(value: str) -> int:
    """A conversation's or message's id from a path: anything else names nothing (404)."""
    if not value.isascii() or not value.isdigit() or not 1 <= int(value[:11]) <= paging.ID_MAX:
        raise errors.NotFound("nothing has this id")
    return int(value)


def _pane(
    stream_after: int,
    header: views.Header | None = None,
    chunk: reading.Chunk | None = None,
    *,
    missing: tuple[str, str] | None = None,
) -> dict[str, object]:
    """What ``partials/pane.html`` shows: a conversation, "not found" (a title and a line), or nothing open."""
    return {"stream_after": stream_after, "header": header, "chunk": chunk, "missing": missing}


async def _shell(
    request: Request,
    session: ReadSession,
    principal: Principal,
    pages: Templates,
    clock: views.Clock,
    view: listing.ListView,
    pane: dict[str, object] | None,
    status: int = 200,
    found: reading.RowPage | None = None,
) -> Response:
    user = await users.get(session, principal.id)
    found = found or await reading.rows(session, principal, view, clock)
    return pages.render(
        "inbox.html",
        status=status,
        user=user,
        csrf=auth.csrf_token(request) or "",
        view=view,
        filters=listing.FILTER_LABELS,
        accounts=[(a.id, a.name) for a in await accounts.all_accounts(session)],
        listing=found,
        hits=await reading.hits(session, principal, view, clock),
        pane=pane,
    )


@router.get("/")
async def inbox(
    request: Request,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    view: View,
) -> Response:
    """The inbox: the conversation list, and a pane waiting for one to be opened."""
    position = await reading.stream_position(session)  # before the data (``reading.stream_position``)
    return await _shell(request, session, principal, pages, clock, view, _pane(position))


@router.get("/e/{entity_type}/{entity_id:path}")
async def record(
    entity_type: str,
    entity_id: str,
    request: Request,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    sign: MediaLinks,
    view: View,
) -> Response:
    """Everything linked to an ERP record: the list of its conversations (open and resolved), and the one
    conversation open when there is exactly one."""
    position = await reading.stream_position(session)
    entity = listing.entity(entity_type, entity_id)
    if entity is None:
        missing = _pane(position, missing=RECORD_NOT_FOUND)
        return await _shell(request, session, principal, pages, clock, view, missing, 404)
    view = view.but(entity=entity)
    found = await reading.rows(session, principal, view, clock)
    pane = _pane(position)
    if len(found.rows) == 1:
        only = found.rows[0].id
        header = await reading.header(session, principal, only, clock)
        pane = _pane(position, header, await reading.chunk(session, principal, only, clock, sign))
    return await _shell(request, session, principal, pages, clock, view, pane, found=found)


@router.get("/c/{conversation_id}")
async def conversation(
    conversation_id: str,
    request: Request,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    sign: MediaLinks,
    view: View,
    at: str | None = None,
) -> Response:
    """A conversation: its newest messages, older ones loaded as the thread is scrolled up; with ``at``, the
    messages around that one (highlighted), older and newer ones loaded as it is scrolled either way."""
    position = await reading.stream_position(session)
    try:
        cid = _id(conversation_id)
        header = await reading.header(session, principal, cid, clock)
    except errors.NotFound:
        header = None
    pane, status = _pane(position, missing=NOT_FOUND), 404
    if header is not None:
        try:
            if at is None:
                chunk = await reading.chunk(session, principal, header.id, clock, sign)
            else:
                chunk = await reading.around(session, principal, header.id, _id(at), clock, sign)
            pane, status = _pane(position, header, chunk), 200
        except errors.NotFound:
            pane = _pane(position, missing=MESSAGE_NOT_FOUND)
    if auth.is_htmx(request):
        return pages.render("partials/pane.html", status=status, pane=pane)
    return await _shell(request, session, principal, pages, clock, view, pane, status)


@router.get("/c/{conversation_id}/messages")
async def older_messages(
    conversation_id: str,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    sign: MediaLinks,
    before: Annotated[int | None, Query(ge=1, le=paging.ID_MAX)] = None,
    after: Annotated[int | None, Query(ge=1, le=paging.ID_MAX)] = None,
) -> Response:
    """The page of messages before message ``before`` (scrolling up), or after message ``after`` (scrolling
    down a conversation opened at a message)."""
    try:
        cid = _id(conversation_id)
        if after is not None:
            chunk = await reading.newer_chunk(session, principal, cid, after, clock, sign)
        elif before is not None:
            chunk = await reading.chunk(session, principal, cid, clock, sign, before)
        else:
            return Response(status_code=404)
    except errors.NotFound:
        return Response(status_code=404)
    return pages.render("partials/chunk.html", chunk=chunk)


@router.get("/c/{conversation_id}/messages/{message_id}")
async def one_message(
    conversation_id: str,
    message_id: str,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    sign: MediaLinks,
) -> Response:
    """One message as a bubble (the live script adds or replaces it); empty when it shows on another."""
    try:
        found = await reading.bubble(session, principal, _id(conversation_id), _id(message_id), clock, sign)
    except errors.NotFound:
        return Response(status_code=404)
    if found is None:
        return Response(status_code=204)
    return pages.render("partials/bubble.html", bubble=found, separated=True)


@router.get("/c/{conversation_id}/header")
async def conversation_header(
    conversation_id: str, session: ReadSession, principal: Viewer, pages: Templates, clock: LocalClock
) -> Response:
    """The open conversation's header (the live script renews it on ``conversation.updated``)."""
    try:
        found = await reading.header(session, principal, _id(conversation_id), clock)
    except errors.NotFound:
        return Response(status_code=404)
    return pages.render("partials/header.html", header=found)


@router.get("/list")
async def conversation_list(
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    view: View,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The list's rows: the first page (a resync) or the page after ``cursor`` ("more")."""
    position = await reading.stream_position(session)
    try:
        found = await reading.rows(session, principal, view, clock, cursor)
    except errors.InvalidInput:
        return Response(status_code=404)
    # The stream position read before the rows: a resync resumes the stream after it (``static/js/live.js``).
    headers = {STREAM_HEADER: str(position)}
    return pages.render("partials/rows.html", headers=headers, listing=found, view=view)


@router.get("/list/{conversation_id}")
async def list_row(
    conversation_id: str,
    session: ReadSession,
    principal: Viewer,
    pages: Templates,
    clock: LocalClock,
    view: View,
) -> Response:
    """One conversation's row in this list, or nothing (204) when it is not in it (any more)."""
    try:
        found = await reading.row(session, principal, view, _id(conversation_id), clock)
    except errors.NotFound:
        found = None
    if found is None:
        return Response(status_code=204)
    return pages.render("partials/row.html", row=found, view=view, active=False)
