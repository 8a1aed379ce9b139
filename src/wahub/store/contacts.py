"""Contacts, keyed per account by phone (``wa_id``) and/or business-scoped ``user_id``; either may be missing.

When a webhook first names both keys of a person we knew under one key each, the two contacts are merged,
history and all. A ``user_changed_number`` moves the contact to its new number and remembers the old one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.domain import ContactRef, InboundMessage, MessageType
from wahub.store import audiences, db, upsert
from wahub.store.keys import one_of
from wahub.store.models import Contact, Conversation, Message, utcnow

# A lookup of this many contacts at once is a bulk one (a chunk of a broadcast, an audience, an import), perhaps
# in a transaction that added thousands of contacts already: ``db.plan_for_now``.
PLAN_FOR_NOW = 500


async def find(session: AsyncSession, account_id: int, ref: ContactRef) -> Contact | None:
    """The contact matching ``ref`` by ``wa_id`` first, then by ``user_id``."""
    for column, value in ((Contact.wa_id, ref.wa_id), (Contact.user_id, ref.user_id)):
        if value:
            stmt = sa.select(Contact).where(Contact.account_id == account_id, column == value)
            contact = (await session.scalars(stmt)).first()
            if contact is not None:
                return contact
    return None


async def upsert_contact(session: AsyncSession, account_id: int, ref: ContactRef) -> Contact:
    """The contact for ``ref``, created if new; fills in an id or a profile name learnt later."""
    resolved = await resolve_many(session, account_id, [ref])
    return resolved.get(ref)


class Resolved:
    """Contacts found or created for a set of refs; ``get`` accepts any ref that names one of their keys."""

    def __init__(self, contacts: Iterable[Contact]) -> None:
        self._by_wa = {c.wa_id: c for c in contacts if c.wa_id}
        self._by_user = {c.user_id: c for c in contacts if c.user_id}

    def all(self) -> list[Contact]:
        return list({id(c): c for c in (*self._by_wa.values(), *self._by_user.values())}.values())

    def get(self, ref: ContactRef) -> Contact:
        contact = (self._by_wa.get(ref.wa_id) if ref.wa_id else None) or (
            self._by_user.get(ref.user_id) if ref.user_id else None
        )
        if contact is None:
            raise errors.NotFound(f"no contact for {ref.key}")
        return contact


async def _load(session: AsyncSession, account_id: int, refs: list[ContactRef]) -> list[Contact]:
    wa_ids = {r.wa_id for r in refs if r.wa_id}
    user_ids = {r.user_id for r in refs if r.user_id}
    keys = []
    if wa_ids:
        keys.append(one_of(Contact.wa_id, wa_ids))
    if user_ids:
        keys.append(one_of(Contact.user_id, user_ids))
    stmt = sa.select(Contact).where(Contact.account_id == account_id, sa.or_(*keys))
    return list((await session.scalars(stmt)).all())


async def resolve_many(session: AsyncSession, account_id: int, refs: Iterable[ContactRef]) -> Resolved:
    """Find or create the contact of every ref in a few statements; merge contacts that turn out to be one
    person; keep profile names current."""
    wanted = [r for r in dict.fromkeys(refs) if r.wa_id or r.user_id]
    if not wanted:
        return Resolved([])
    missing = {r.wa_id or r.user_id: r for r in wanted}
    if len(wanted) >= PLAN_FOR_NOW:
        await db.plan_for_now(session)
    existing = await _load(session, account_id, wanted)
    by_wa = {c.wa_id: c for c in existing if c.wa_id}
    by_user = {c.user_id: c for c in existing if c.user_id}
    for ref in wanted:
        if (ref.wa_id and ref.wa_id in by_wa) or (ref.user_id and ref.user_id in by_user):
            missing.pop(ref.wa_id or ref.user_id, None)
    if missing:
        now = utcnow()
        rows = [
            {
                "account_id": account_id,
                "wa_id": r.wa_id,
                "user_id": r.user_id,
                "profile_name": r.name,
                "created_at": now,
                "updated_at": now,
            }
            for r in missing.values()
        ]
        await upsert.insert_ignore_many(session, Contact.__table__, rows)  # type: ignore[arg-type]
        existing = await _load(session, account_id, wanted)
    contacts = await _reconcile(session, wanted, existing)
    return Resolved(contacts)


async def _reconcile(session: AsyncSession, refs: list[ContactRef], contacts: list[Contact]) -> list[Contact]:
    by_wa = {c.wa_id: c for c in contacts if c.wa_id}
    by_user = {c.user_id: c for c in contacts if c.user_id}
    for ref in refs:
        phone = by_wa.get(ref.wa_id) if ref.wa_id else None
        scoped = by_user.get(ref.user_id) if ref.user_id else None
        if phone is not None and scoped is not None and phone.id != scoped.id:
            await merge(session, keep=phone, drop=scoped)
            contacts = [c for c in contacts if c.id != scoped.id]
            by_user[scoped.user_id or ""] = phone
            scoped = phone
        contact = phone or scoped
        if contact is None:
            continue
        changed = False
        if ref.wa_id and not contact.wa_id:
            contact.wa_id, changed = ref.wa_id, True
            by_wa[ref.wa_id] = contact
        if ref.user_id and not contact.user_id:
            contact.user_id, changed = ref.user_id, True
            by_user[ref.user_id] = contact
        if ref.name and ref.name != contact.profile_name:
            contact.profile_name, changed = ref.name, True
        if changed:
            contact.updated_at = utcnow()
    return contacts


async def merge(session: AsyncSession, *, keep: Contact, drop: Contact) -> None:
    """Make ``drop`` part of ``keep``: its messages and conversation move over, its keys fill ``keep``'s gaps."""
    own = await _conversation(session, keep)
    theirs = await _conversation(session, drop)
    if theirs is not None and own is not None:
        await session.execute(
            sa.update(Message).where(Message.conversation_id == theirs.id).values(conversation_id=own.id)
        )
        own.unread_count += theirs.unread_count
        own.last_inbound_at = _latest(own.last_inbound_at, theirs.last_inbound_at)
        own.last_message_at = _latest(own.last_message_at, theirs.last_message_at)
        await session.delete(theirs)
    elif theirs is not None:
        theirs.contact_id = keep.id
    await session.execute(sa.update(Message).where(Message.contact_id == drop.id).values(contact_id=keep.id))
    wa_id, user_id, name = drop.wa_id, drop.user_id, drop.profile_name
    await audiences.merge(session, keep=keep, drop=drop)
    await session.delete(drop)
    await session.flush()
    keep.wa_id = keep.wa_id or wa_id
    keep.user_id = keep.user_id or user_id
    keep.profile_name = keep.profile_name or name
    keep.updated_at = utcnow()


async def change_number(session: AsyncSession, contact: Contact, new_wa_id: str) -> None:
    """The user moved to ``new_wa_id`` (a user_changed_number system message): same person, same history."""
    if contact.wa_id == new_wa_id:
        return
    other = (
        await session.scalars(
            sa.select(Contact).where(Contact.account_id == contact.account_id, Contact.wa_id == new_wa_id)
        )
    ).first()
    if other is not None and other.id != contact.id:
        other.wa_id = None
        await session.flush()
        await merge(session, keep=contact, drop=other)
    if contact.wa_id:
        contact.previous_wa_ids = [*(contact.previous_wa_ids or []), contact.wa_id]
    contact.wa_id = new_wa_id
    contact.updated_at = utcnow()


def record_preference(contact: Contact, category: str, value: str, at: datetime) -> None:
    """A marketing-message preference (stop, resume...); an older one never replaces a newer one. ``stop`` and
    ``resume`` of ``marketing_messages`` also opt the contact out and back in (``audiences.apply_preference``)."""
    if contact.marketing_preference_at is None or at >= contact.marketing_preference_at:
        contact.marketing_preference = value[:32]
        contact.marketing_preference_at = at
    audiences.apply_preference(contact, category, value, at)


def record_text(contact: Contact, opt_out_keyword: str | None, message: InboundMessage) -> bool:
    """A new inbound message from the contact: a text that is exactly the account's opt-out keyword (trimmed,
    any case) opts them out of marketing. A group's messages opt no one out. Returns whether it did."""
    if message.type is not MessageType.TEXT or message.group_id:
        return False
    text = message.content.get("text")
    body = text.get("body") if isinstance(text, dict) else None
    if not audiences.is_opt_out_keyword(opt_out_keyword, body):
        return False
    return audiences.opt_out(contact, message.timestamp, audiences.Source.KEYWORD)


async def _conversation(session: AsyncSession, contact: Contact) -> Conversation | None:
    stmt = sa.select(Conversation).where(
        Conversation.account_id == contact.account_id, Conversation.contact_id == contact.id
    )
    return (await session.scalars(stmt)).first()


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)
