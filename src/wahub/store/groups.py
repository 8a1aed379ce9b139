"""Groups: the WhatsApp groups of each account's number, kept as Meta's Groups API answers and the group
webhooks describe them (``webhook/meta.py`` reads those into ``domain.GroupEvent``).

A group is also a contact of its own (``domain.group_contact``), whose conversation holds the group's messages;
that contact is named after the group's subject, so the inbox lists the group by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.store import contacts, upsert
from wahub.store.models import Group, utcnow

CREATING, ACTIVE, SUSPENDED, DELETED, FAILED = "creating", "active", "suspended", "deleted", "failed"
MAX_PARTICIPANTS = 8  # Meta's limit for a Cloud API group, besides the business


async def create_pending(
    session: AsyncSession,
    account_id: int,
    request_id: str,
    subject: str,
    description: str | None,
    join_approval_mode: str,
) -> Group:
    """A group Meta took a creation request for; the ``group_create`` webhook naming ``request_id`` fills in
    its id and invite link (it may have come first: then that row is the one)."""
    row = await _by_request(session, account_id, request_id)
    if row is None:
        row = await _added(
            session,
            account_id=account_id,
            request_id=request_id,
            subject=subject,
            description=description,
            join_approval_mode=join_approval_mode,
            state=CREATING,
        )
    return row


async def get(session: AsyncSession, group_row_id: int, *, lock: bool = False) -> Group:
    """The stored group (``lock``: locked until the transaction ends and read afresh, for a change to its
    participants or join requests, which are written whole)."""
    row = await session.get(Group, group_row_id, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise errors.NotFound(f"group {group_row_id} does not exist")
    return row


async def find(session: AsyncSession, account_id: int, group_id: str, *, lock: bool = False) -> Group | None:
    """The group with Meta's id ``group_id`` on this account (``lock``: as ``get``)."""
    stmt = sa.select(Group).where(Group.account_id == account_id, Group.group_id == group_id)
    return (await session.scalars(_locked(stmt, lock))).first()


async def listing(session: AsyncSession, account_id: int | None = None, *, deleted: bool = False) -> list[Group]:
    """The groups (of ``account_id``), newest first; deleted ones only when asked."""
    stmt = sa.select(Group).order_by(Group.id.desc())
    if account_id is not None:
        stmt = stmt.where(Group.account_id == account_id)
    if not deleted:
        stmt = stmt.where(Group.state != DELETED)
    return list((await session.scalars(stmt)).all())


async def apply_events(session: AsyncSession, account_id: int, events: Sequence[domain.GroupEvent]) -> int:
    """Apply group webhook items in order; returns how many changed a group. A webhook about a group wahub
    did not create (made before wahub, or by another tool) makes its row."""
    changed = 0
    for event in events:
        row = await _row_for(session, account_id, event)
        if row is None:
            continue
        _apply(row, event)
        row.updated_at = utcnow()
        changed += 1
        if row.group_id and row.subject:
            await name_contact(session, row)
    return changed


def apply_info(row: Group, info: dict[str, Any]) -> None:
    """What ``GET /{group_id}`` answered: subject, description, mode, suspension and the participants."""
    if isinstance(info.get("subject"), str):
        row.subject = info["subject"][:256]
    if isinstance(info.get("description"), str):
        row.description = info["description"]
    if isinstance(info.get("join_approval_mode"), str):
        row.join_approval_mode = info["join_approval_mode"][:32]
    if row.state in (ACTIVE, SUSPENDED, CREATING) and isinstance(info.get("suspended"), bool):
        row.state = SUSPENDED if info["suspended"] else ACTIVE
    members = info.get("participants")
    if isinstance(members, list):
        now = utcnow().isoformat()
        current = dict(row.participants or {})
        seen = {str(m.get("wa_id")) for m in members if isinstance(m, dict) and m.get("wa_id")}
        row.participants = {w: current.get(w) or {"user_id": None, "joined_at": now} for w in sorted(seen)}
    row.updated_at = utcnow()


async def name_contact(session: AsyncSession, row: Group) -> None:
    """Name the group's contact (its conversation in the inbox) after the group's subject."""
    assert row.group_id is not None
    contact = await contacts.upsert_contact(session, row.account_id, domain.group_contact(row.group_id))
    if contact.profile_name != row.subject:
        contact.profile_name = row.subject


async def _by_request(session: AsyncSession, account_id: int, request_id: str, *, lock: bool = False) -> Group | None:
    stmt = sa.select(Group).where(Group.account_id == account_id, Group.request_id == request_id)
    return (await session.scalars(_locked(stmt, lock))).first()


def _locked(stmt: sa.Select[tuple[Group]], lock: bool) -> sa.Select[tuple[Group]]:
    return stmt.with_for_update().execution_options(populate_existing=True) if lock else stmt


async def _row_for(session: AsyncSession, account_id: int, event: domain.GroupEvent) -> Group | None:
    row = None
    if event.kind == "group_create" and event.request_id:
        row = await _by_request(session, account_id, event.request_id, lock=True)
    if row is None and event.group_id:  # locked: two processors, or the API, may change its members at once
        row = await find(session, account_id, event.group_id, lock=True)
    if row is None and event.group_id:
        row = await _added(
            session,
            account_id=account_id,
            group_id=event.group_id,
            request_id=event.request_id if event.kind == "group_create" else None,
            subject=(event.subject or "")[:256],
            join_approval_mode=event.join_approval_mode or "auto_approve",
            state=ACTIVE,
        )
    return row


async def _added(session: AsyncSession, **values: Any) -> Group:
    """A new group row, or the one another transaction holds for its request id or Meta's id. The API's row for
    a creation request and the row the ``group_create`` webhook makes may be written at once (Meta sends the
    webhook as it answers the request): each looked and found nothing; the unique keys make the second insert wait
    for the first to commit and do nothing, and the row read then is that one, so the group has one row."""
    values = {"participants": {}, "join_requests": {}, **values}
    keys = [Group.request_id == values["request_id"]] if values.get("request_id") else []
    keys += [Group.group_id == values["group_id"]] if values.get("group_id") else []
    row, _ = await upsert.locked_row(session, Group, values, Group.account_id == values["account_id"], sa.or_(*keys))
    return row


def _apply(row: Group, event: domain.GroupEvent) -> None:
    failed = "; ".join(f"{e.code}: {e.title or ''}".strip() for e in event.errors) or None
    kind = event.kind
    if kind == "group_create":
        if failed and not event.invite_link:
            row.state, row.error = FAILED, failed
            return
        row.group_id = event.group_id or row.group_id
        row.invite_link = event.invite_link or row.invite_link
        row.state = ACTIVE if row.state in (CREATING, FAILED) else row.state
    elif kind == "group_delete":
        if failed:
            row.error = failed
            return
        row.state = DELETED
    elif kind == "group_suspend":
        row.state = SUSPENDED
    elif kind == "group_suspend_cleared":
        row.state = ACTIVE
    if event.subject is not None:
        row.subject = event.subject[:256]
    if event.description is not None:
        row.description = event.description
    if event.join_approval_mode is not None:
        row.join_approval_mode = event.join_approval_mode[:32]
    _participants(row, event)


def _participants(row: Group, event: domain.GroupEvent) -> None:
    members, requests = dict(row.participants or {}), dict(row.join_requests or {})
    at = _iso(event.timestamp)
    for ref in event.added:
        if ref.wa_id:
            members[ref.wa_id] = {"user_id": ref.user_id, "joined_at": at}
            requests = {rid: r for rid, r in requests.items() if r.get("wa_id") != ref.wa_id}
    for ref in event.removed:
        members.pop(ref.wa_id or "", None)
    if event.join_request_id:
        if event.kind == "group_join_request_created" and event.requester is not None:
            requester = event.requester
            requests[event.join_request_id] = {"wa_id": requester.wa_id, "user_id": requester.user_id, "at": at}
        elif event.kind != "group_join_request_created":
            requests.pop(event.join_request_id, None)  # revoked, approved or rejected
    row.participants, row.join_requests = members, requests


def _iso(value: datetime) -> str:
    return value.isoformat()
