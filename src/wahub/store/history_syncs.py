"""Coexistence history sync per account: the one request per onboarding that Meta allows for each kind
(``history``, ``smb_app_state_sync``) and the progress the ``history`` webhooks report.

Meta: https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users
("this step can be performed only once"; to do it again the business offboards and onboards again, which is a
new account here). Progress: https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store import upsert
from wahub.store.models import HistorySync, utcnow

HISTORY = "history"
CONTACTS = "smb_app_state_sync"
KINDS = (HISTORY, CONTACTS)
PHASES = 3  # day 0-1, day 1-90, day 90-180
DECLINED = 2593109  # Meta: the business declined to share its chat history


@dataclass(frozen=True, slots=True)
class Status:
    """What a history sync has reached, as the CLI, the API and the admin page show it."""

    history_requested_at: datetime | None
    history_request_id: str | None
    contacts_requested_at: datetime | None
    contacts_request_id: str | None
    phase: int | None
    progress: int | None
    chunks: int
    updated_at: datetime | None
    error: str | None

    def summary(self) -> str:
        """``history sync: 60% (phase 2 of 3)``, ``history sync: declined …``, or ``not requested``."""
        if self.error:
            return f"history sync: {self.error}"
        if self.progress is None:
            return "history sync: requested, no webhook yet" if self.history_requested_at else "history sync: none"
        phase = f" (phase {self.phase + 1} of {PHASES})" if self.phase is not None else ""
        return f"history sync: {self.progress}%{phase}"


NONE = Status(None, None, None, None, None, None, 0, None, None)


async def status(session: AsyncSession, account_id: int) -> Status:
    """The account's history sync (``NONE``: never asked, nothing reported)."""
    row = await session.get(HistorySync, account_id)
    return NONE if row is None else _status(row)


async def by_account(session: AsyncSession) -> dict[int, Status]:
    """Every account's history sync that has a row, by account id (the lists show it beside each account)."""
    return {row.account_id: _status(row) for row in (await session.scalars(sa.select(HistorySync))).all()}


def _status(row: HistorySync) -> Status:
    return Status(
        row.history_requested_at,
        row.history_request_id,
        row.contacts_requested_at,
        row.contacts_request_id,
        row.phase,
        row.progress,
        row.chunks,
        row.updated_at,
        row.error,
    )


async def claim(session: AsyncSession, account_id: int, kind: str) -> None:
    """Mark ``kind`` asked for now, before asking Meta, or raise ``AlreadyRequested`` saying when it was. One
    conditional UPDATE decides, so two commands run at once cannot both ask."""
    table: sa.Table = HistorySync.__table__  # type: ignore[assignment]
    await upsert.insert_ignore_many(session, table, [{"account_id": account_id, "chunks": 0}], ("account_id",))
    column = table.c.history_requested_at if kind == HISTORY else table.c.contacts_requested_at
    done = await session.execute(
        sa.update(table).where(table.c.account_id == account_id, column.is_(None)).values({column.name: utcnow()})
    )
    if done.rowcount == 1:  # type: ignore[attr-defined]
        return
    at = await session.scalar(sa.select(column).where(table.c.account_id == account_id))
    what = "history" if kind == HISTORY else "contacts"
    raise errors.AlreadyRequested(
        f"the {what} sync was requested already, on {at:%Y-%m-%d %H:%M} UTC; Meta allows it once per "
        "onboarding (to ask again, the business offboards and onboards the number again)"
    )


async def release(session: AsyncSession, account_id: int, kind: str) -> None:
    """Meta refused or never answered a claimed request: it may be asked again."""
    table: sa.Table = HistorySync.__table__  # type: ignore[assignment]
    column = table.c.history_requested_at if kind == HISTORY else table.c.contacts_requested_at
    await session.execute(sa.update(table).where(table.c.account_id == account_id).values({column.name: None}))


async def record_request(session: AsyncSession, account_id: int, kind: str, request_id: str | None) -> None:
    """Keep Meta's request id for a claimed ``kind`` (claimed now when it was not)."""
    row = await _row(session, account_id)
    if kind == HISTORY:
        row.history_requested_at, row.history_request_id = row.history_requested_at or utcnow(), request_id
    else:
        row.contacts_requested_at, row.contacts_request_id = row.contacts_requested_at or utcnow(), request_id


async def record_chunk(session: AsyncSession, account_id: int, raw: dict[str, Any], at: datetime | None) -> None:
    """A ``history`` chunk (its ``metadata.phase/chunk_order/progress``, or its ``errors``): the progress only
    moves forward, since chunks come out of order; the phase is the one of the furthest chunk."""
    row = await _row(session, account_id)
    row.chunks = (row.chunks or 0) + 1
    row.updated_at = at or utcnow()
    for error in raw.get("errors") or []:
        if isinstance(error, dict):
            code = error.get("code")
            title = str(error.get("title") or error.get("message") or "error")[:200]
            row.error = "declined by the business" if code == DECLINED else f"{title} ({code})"
    metadata = raw.get("metadata")
    if not isinstance(metadata, dict):
        return
    progress, phase = _int(metadata.get("progress")), _int(metadata.get("phase"))
    if progress is not None and (row.progress is None or progress >= row.progress):
        row.progress = min(progress, 100)
        row.phase = phase if phase is not None else row.phase
    elif row.phase is None:
        row.phase = phase


async def _row(session: AsyncSession, account_id: int) -> HistorySync:
    """The account's row, made if missing, locked until the transaction ends: two processors counting chunks of
    one sync (Meta sends them in bursts) take turns, each adding to what the other committed."""
    values = {"account_id": account_id, "chunks": 0}
    row, _ = await upsert.locked_row(session, HistorySync, values, HistorySync.account_id == account_id)
    return row


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
