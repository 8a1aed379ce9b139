"""Account events: webhook changes about templates, numbers and the account, stored whole and once, and
applied to the objects they concern (templates, accounts)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.domain import ContactRef
from wahub.store import contacts, history_syncs, subscriber_webhooks, template_syncs, templates, upsert
from wahub.store.models import Account, AccountEvent, Contact, utcnow


@dataclass(frozen=True, slots=True)
class NewEvent:
    field: str
    waba_id: str | None
    phone_number_id: str | None
    raw: dict[str, Any]
    occurred_at: datetime | None
    account_id: int | None


def dedupe_key(field: str, waba_id: str | None, raw: dict[str, Any]) -> str:
    canonical = json.dumps([field, waba_id, raw], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record_many(
    session: AsyncSession, new: Sequence[NewEvent], out: subscriber_webhooks.Collector | None = None
) -> tuple[int, int]:
    """Store events once (a redelivered webhook hits the unique ``dedupe_key``) and apply the new ones; ``out``
    collects an ``account.event`` for each new one. Returns (new, duplicates)."""
    now = utcnow()
    rows = {
        dedupe_key(e.field, e.waba_id, e.raw): {
            "account_id": e.account_id,
            "waba_id": e.waba_id,
            "phone_number_id": e.phone_number_id,
            "field": e.field[:64],
            "raw": e.raw,
            "dedupe_key": dedupe_key(e.field, e.waba_id, e.raw),
            "occurred_at": e.occurred_at,
            "created_at": now,
        }
        for e in new
    }
    table: sa.Table = AccountEvent.__table__  # type: ignore[assignment]
    returning = ("id", "field", "waba_id", "raw", "account_id", "occurred_at")
    inserted = await upsert.insert_ignore_many(session, table, list(rows.values()), returning)
    for row in inserted:
        await _apply(session, row.field, row.waba_id, row.raw)
        if row.field == "history" and row.account_id is not None:
            # Only new chunks count: a redelivered one hits the dedupe key above and is not counted twice.
            await history_syncs.record_chunk(session, row.account_id, row.raw, row.occurred_at)
        elif row.field == "smb_app_state_sync" and row.account_id is not None:
            await _apply_app_contacts(session, row.account_id, row.raw)
        if out is not None:
            data = {"account_event_id": row.id, "field": row.field, "waba_id": row.waba_id, "value": row.raw}
            out.add(subscriber_webhooks.ACCOUNT_EVENT, data)
    return len(inserted), len(new) - len(inserted)


async def _apply(session: AsyncSession, field: str, waba_id: str | None, value: dict[str, Any]) -> None:
    if waba_id is None:
        return
    if field in _TEMPLATE_FIELDS:
        await _apply_template(session, field, waba_id, value)
        # The webhook says what changed of one template; the list says all of it (components of a new one).
        await template_syncs.request(session, [waba_id], template_syncs.WEBHOOK)
    elif field == "phone_number_quality_update":
        for account in await _accounts(session, waba_id, value.get("display_phone_number")):
            account.quality_rating = _text(value.get("event"))
            account.messaging_limit = _text(value.get("current_limit")) or account.messaging_limit
    elif field == "account_update":
        for account in await _accounts(session, waba_id, None):
            account.status_event = _text(value.get("event"), 64)


_TEMPLATE_FIELDS = {
    "message_template_status_update",
    "message_template_quality_update",
    "template_category_update",
    "message_template_components_update",
}


async def _apply_template(session: AsyncSession, field: str, waba_id: str, value: dict[str, Any]) -> None:
    name = _text(value.get("message_template_name"), 512)
    language = _text(value.get("message_template_language"), 16)
    if not name or not language:
        return
    template = await templates.locked(session, waba_id, name, language)
    if value.get("message_template_id") is not None:
        template.provider_template_id = str(value["message_template_id"])[:64]
    if field == "message_template_status_update":
        template.status = _text(value.get("event"))
        template.reason = _text(value.get("reason"), 10_000)
        template.category = _text(value.get("message_template_category")) or template.category
    elif field == "message_template_quality_update":
        template.quality = _text(value.get("new_quality_score"))
    elif field == "template_category_update":
        template.category = _text(value.get("new_category")) or template.category
    elif field == "message_template_components_update":
        template.components = [
            {k: v for k, v in value.items() if k.startswith("message_template_") and k not in _TEMPLATE_KEYS}
        ]
    template.updated_at = utcnow()


async def _apply_app_contacts(session: AsyncSession, account_id: int, value: dict[str, Any]) -> None:
    """The WhatsApp Business app's address book (coexistence): a contact added or edited there becomes (or
    names) the contact here, its ``saved_name`` the name the business saved; one removed there loses that name
    here, if it still has it. The contact, its conversation and messages stay.
    https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_app_state_sync/"""
    for item in value.get("state_sync") or []:
        if not isinstance(item, dict) or item.get("type") != "contact" or not isinstance(item.get("contact"), dict):
            continue
        found = item["contact"]
        digits = "".join(ch for ch in str(found.get("phone_number") or "") if ch.isascii() and ch.isdigit())
        if not 6 <= len(digits) <= 20:
            continue
        name = _text(found.get("full_name"), 256) or _text(found.get("first_name"), 256)
        if item.get("action") == "remove":
            stmt = sa.select(Contact).where(Contact.account_id == account_id, Contact.wa_id == digits)
            known = (await session.scalars(stmt)).first()
            if known is not None and name and known.saved_name == name:
                known.saved_name = None
        elif name:
            contact = await contacts.upsert_contact(session, account_id, ContactRef(wa_id=digits))
            contact.saved_name = name


_TEMPLATE_KEYS = {"message_template_id", "message_template_name", "message_template_language"}


async def _accounts(session: AsyncSession, waba_id: str, display_number: Any) -> list[Account]:
    stmt = sa.select(Account).where(Account.waba_id == waba_id)
    accounts = list((await session.scalars(stmt)).all())
    if isinstance(display_number, str | int) and display_number:
        digits = "".join(ch for ch in str(display_number) if ch.isdigit())
        accounts = [a for a in accounts if (a.display_phone_number or "").lstrip("+") in ("", digits)]
    return accounts


def _text(value: Any, limit: int = 32) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)[:limit]


async def get(session: AsyncSession, event_id: int) -> AccountEvent:
    row = await session.get(AccountEvent, event_id)
    if row is None:
        raise errors.NotFound(f"event {event_id} does not exist")
    return row
