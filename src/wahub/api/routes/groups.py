"""``/api/v1/groups``: WhatsApp groups through Meta's Groups API. Calls that change a group reach Meta at once
(as template management does); what Meta does later arrives by the group webhooks and is stored as it comes.
Messages to a group are sent as any message is: ``POST /api/v1/messages`` with ``recipient_type: group`` and
the group's ``group_id``.

Meta's Groups API: https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/reference/
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query

from wahub import errors
from wahub.api import schemas
from wahub.api.context import AppContext
from wahub.api.deps import Admin, Ctx, Reader, ReadSession
from wahub.api.schemas import groups as out
from wahub.automations import groups as service
from wahub.automations.groups import GroupApi
from wahub.store import groups

T = TypeVar("T")

router = APIRouter(prefix="/api/v1/groups", tags=["groups"])

_META = {
    409: {"description": "Meta has not named the group yet (it is still being created)"},
    502: {"description": "Meta did not answer, or answered with a transient error: try again later"},
}


@router.post("", status_code=202, response_model=out.GroupOut, responses=_META)  # type: ignore[arg-type]
async def create_group(body: out.GroupIn, ctx: Ctx, _admin: Admin) -> out.GroupOut:
    """Create a group at Meta. It is ``creating`` until Meta's ``group_lifecycle_update`` webhook gives its id
    and invite link (a moment later); then share the invite link: Meta lets nobody be added otherwise."""
    row_id = await _refused_by_meta(
        service.create(
            ctx.sessions, _api(ctx), ctx.vault, body.account_id, body.subject, body.description, body.join_approval_mode
        )
    )
    return await _view(ctx, row_id)


@router.get("", response_model=out.GroupList)
async def list_groups(
    session: ReadSession,
    _who: Reader,
    account_id: schemas.Id | None = None,
    deleted: Annotated[bool, Query(description="include deleted groups")] = False,
) -> out.GroupList:
    """The groups wahub knows, newest first."""
    rows = await groups.listing(session, account_id, deleted=deleted)
    return out.GroupList(items=[out.GroupOut.of(row) for row in rows])


@router.get("/{group_id}", response_model=out.GroupOut, responses=_META)  # type: ignore[arg-type]
async def get_group(
    group_id: schemas.Id,
    ctx: Ctx,
    _who: Reader,
    refresh: Annotated[bool, Query(description="read it from Meta first")] = False,
) -> out.GroupOut:
    """A group as last stored (``refresh``: as Meta has it now, participants included)."""
    if refresh:
        await _refused_by_meta(service.refresh(ctx.sessions, _api(ctx), ctx.vault, group_id))
    return await _view(ctx, group_id)


@router.patch("/{group_id}", response_model=out.GroupOut, responses=_META)  # type: ignore[arg-type]
async def update_group(group_id: schemas.Id, body: out.GroupPatch, ctx: Ctx, _admin: Admin) -> out.GroupOut:
    """Change the subject and/or description (the group's conversation takes the new subject as its name)."""
    await _refused_by_meta(service.update(ctx.sessions, _api(ctx), ctx.vault, group_id, body.subject, body.description))
    return await _view(ctx, group_id)


@router.delete("/{group_id}", response_model=out.GroupOut, responses=_META)  # type: ignore[arg-type]
async def delete_group(group_id: schemas.Id, ctx: Ctx, _admin: Admin) -> out.GroupOut:
    """End the group at Meta, for every participant; wahub keeps it (``deleted``) with its messages."""
    await _refused_by_meta(service.delete(ctx.sessions, _api(ctx), ctx.vault, group_id))
    return await _view(ctx, group_id)


@router.get("/{group_id}/invite-link", response_model=out.InviteLinkOut, responses=_META)  # type: ignore[arg-type]
async def get_invite_link(group_id: schemas.Id, ctx: Ctx, _who: Reader) -> out.InviteLinkOut:
    """The group's invite link, as Meta has it now."""
    link = await _refused_by_meta(service.invite_link(ctx.sessions, _api(ctx), ctx.vault, group_id, reset=False))
    return out.InviteLinkOut(invite_link=link)


@router.post("/{group_id}/invite-link", response_model=out.InviteLinkOut, responses=_META)  # type: ignore[arg-type]
async def reset_invite_link(group_id: schemas.Id, ctx: Ctx, _admin: Admin) -> out.InviteLinkOut:
    """A new invite link: the old one stops working."""
    link = await _refused_by_meta(service.invite_link(ctx.sessions, _api(ctx), ctx.vault, group_id, reset=True))
    return out.InviteLinkOut(invite_link=link)


@router.get("/{group_id}/participants", response_model=list[out.ParticipantOut])
async def list_participants(group_id: schemas.Id, session: ReadSession, _who: Reader) -> list[out.ParticipantOut]:
    """The participants wahub knows (from the group webhooks; ``GET /{id}?refresh=true`` reads Meta's list)."""
    return out.GroupOut.of(await groups.get(session, group_id)).participants


@router.delete("/{group_id}/participants", status_code=202, responses=_META)  # type: ignore[arg-type]
async def remove_participants(group_id: schemas.Id, body: out.UsersIn, ctx: Ctx, _admin: Admin) -> dict[str, list[str]]:
    """Ask Meta to remove participants; each removal is confirmed by webhook and then leaves the list."""
    await _refused_by_meta(service.remove_participants(ctx.sessions, _api(ctx), ctx.vault, group_id, body.participants))
    return {"requested": body.participants}


@router.get("/{group_id}/join-requests", response_model=list[out.JoinRequestOut])
async def list_join_requests(group_id: schemas.Id, session: ReadSession, _who: Reader) -> list[out.JoinRequestOut]:
    """The open join requests of a group that requires approval (from the group webhooks)."""
    return out.GroupOut.of(await groups.get(session, group_id)).join_requests


@router.post("/{group_id}/join-requests/approve", response_model=out.JoinAnswerOut, responses=_META)  # type: ignore[arg-type]
async def approve_join_requests(
    group_id: schemas.Id, body: out.JoinRequestsIn, ctx: Ctx, _admin: Admin
) -> out.JoinAnswerOut:
    """Let these users in (a full group refuses: at most 8 participants)."""
    answer = await _refused_by_meta(
        service.answer_join_requests(ctx.sessions, _api(ctx), ctx.vault, group_id, body.join_requests, approve=True)
    )
    return out.JoinAnswerOut(**answer)


@router.post("/{group_id}/join-requests/reject", response_model=out.JoinAnswerOut, responses=_META)  # type: ignore[arg-type]
async def reject_join_requests(
    group_id: schemas.Id, body: out.JoinRequestsIn, ctx: Ctx, _admin: Admin
) -> out.JoinAnswerOut:
    """Turn these join requests down."""
    answer = await _refused_by_meta(
        service.answer_join_requests(ctx.sessions, _api(ctx), ctx.vault, group_id, body.join_requests, approve=False)
    )
    return out.JoinAnswerOut(**answer)


async def _view(ctx: AppContext, group_id: int) -> out.GroupOut:
    async with ctx.readers() as session, session.begin():
        return out.GroupOut.of(await groups.get(session, group_id))


def _api(ctx: AppContext) -> GroupApi:
    if ctx.group_api is None:
        raise errors.NoAccount("this server does not call Meta (no worker role): manage groups from one that does")
    return ctx.group_api


async def _refused_by_meta(call: Awaitable[T]) -> T:
    """Meta's refusal of a group call, as a 422 with wahub's reason and Meta's words; a transient failure stays
    one (502)."""
    try:
        return await call
    except errors.PermanentProviderError as exc:
        said = f"{exc.message} (Meta: {exc.title})" if exc.title and exc.title != exc.message else exc.message
        raise errors.InvalidInput(f"Meta refused it: {said}", field="group", code=exc.code) from exc
