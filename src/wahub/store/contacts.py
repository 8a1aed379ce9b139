"""Contacts, keyed per account by phone (``wa_id``) and/or business-scoped ``user_id``; either may be missing."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.domain import ContactRef
from wahub.store import upsert
from wahub.store.models import Contact, utcnow


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
    if not ref.wa_id and not ref.user_id:
        raise errors.InvalidInput("a contact needs a wa_id or a user_id")
    contact = await find(session, account_id, ref)
    if contact is None:
        now = utcnow()
        stmt = upsert.insert_ignore(
            session,
            Contact.__table__,  # type: ignore[arg-type]
            {
                "account_id": account_id,
                "wa_id": ref.wa_id,
                "user_id": ref.user_id,
                "profile_name": ref.name,
                "created_at": now,
                "updated_at": now,
            },
        )
        await session.execute(stmt)
        contact = await find(session, account_id, ref)
        if contact is None:  # pragma: no cover - the insert or a concurrent one made it
            raise errors.Conflict("contact could not be created")
        return contact
    changed = False
    if ref.wa_id and not contact.wa_id:
        contact.wa_id, changed = ref.wa_id, True
    if ref.user_id and not contact.user_id:
        contact.user_id, changed = ref.user_id, True
    if ref.name and ref.name != contact.profile_name:
        contact.profile_name, changed = ref.name, True
    if changed:
        contact.updated_at = utcnow()
    return contact
