"""``/api/v1/contacts``: the people who wrote to, or were written to by, the accounts, with what campaigns select
them by: labels, custom attributes and the marketing opt-out. An agent sees, and changes, those they may write
to: without a conversation assigned to someone else (``api/visibility.py``)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api import schemas, visibility
from wahub.api.deps import Admin, Ctx, Principal, Reader, ReadSession, Sender
from wahub.store import audiences, db, paging, search
from wahub.store.models import Contact, utcnow

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


@router.get("", response_model=schemas.ContactPage)
async def list_contacts(
    session: ReadSession,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=100, description="part of a name, number or user id")] = None,
    account_id: schemas.Id | None = None,
    label: Annotated[
        list[str] | None,
        Query(max_length=20, description="only contacts with this label (any case); repeated: with all of them"),
    ] = None,
    opted_out: Annotated[bool | None, Query(description="only opted-out contacts (true) or only the others")] = None,
) -> schemas.ContactPage:
    """Contacts, newest first."""
    stmt = sa.select(Contact)
    if (visible := visibility.contact_filter(principal)) is not None:
        stmt = stmt.where(visible)
    if account_id is not None:
        stmt = stmt.where(Contact.account_id == account_id)
    if q:
        pattern = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(
            sa.or_(
                Contact.profile_name.ilike(pattern),
                Contact.saved_name.ilike(pattern),
                search.number().like(pattern),
                Contact.user_id.like(pattern),
            )
        )
    if label:
        stmt = stmt.where(audiences.labelled(label))
    if opted_out is not None:
        stmt = stmt.where(Contact.opted_out_at.is_not(None) if opted_out else Contact.opted_out_at.is_(None))
    page = await paging.page(session, stmt, Contact.id, kind="c", limit=limit, cursor=cursor)
    found = await audiences.labels_of(session, (row[0].id for row in page.items))
    return schemas.ContactPage(
        items=[schemas.ContactOut.of(row[0], found.get(row[0].id)) for row in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/{contact_id}", response_model=schemas.ContactOut)
async def get_contact(contact_id: schemas.Id, session: ReadSession, principal: Reader) -> schemas.ContactOut:
    return await _contact_out(session, principal, contact_id)


@router.patch("/{contact_id}", response_model=schemas.ContactOut)
async def update_contact(
    contact_id: schemas.Id, body: schemas.ContactPatch, ctx: Ctx, principal: Sender
) -> schemas.ContactOut:
    """Merge attributes into the contact's (``null`` removes one) and/or set its saved name."""
    async with db.transaction(ctx.sessions) as session:
        contact = await _writable(session, principal, contact_id)
        if body.attributes is not None:
            audiences.merge_attributes(contact, body.attributes)
        if "saved_name" in body.model_fields_set:
            name = " ".join(body.saved_name.split()) if body.saved_name else None
            if name != contact.saved_name:
                contact.saved_name, contact.updated_at = name or None, utcnow()
        return await _contact_out(session, principal, contact_id)


@router.post("/{contact_id}/labels", response_model=schemas.ContactOut)
async def add_labels(
    contact_id: schemas.Id, body: schemas.ContactLabelsIn, ctx: Ctx, principal: Sender
) -> schemas.ContactOut:
    """Put labels on the contact; those it has already (in any case) stay as they are."""
    async with db.transaction(ctx.sessions) as session:
        await _writable(session, principal, contact_id)
        await audiences.add_labels(session, contact_id, body.labels)
        return await _contact_out(session, principal, contact_id)


@router.delete("/{contact_id}/labels/{label}", status_code=204, response_class=Response)
async def remove_label(contact_id: schemas.Id, label: str, ctx: Ctx, principal: Sender) -> Response:
    """Take a label off the contact (matched whatever its case); 404 if it does not have it."""
    async with db.transaction(ctx.sessions) as session:
        await _writable(session, principal, contact_id)
        if not await audiences.remove_label(session, contact_id, label):
            raise errors.NotFound(f"contact {contact_id} has no label '{label[:64]}'")
    return Response(status_code=204)


@router.post("/{contact_id}/opt-out", response_model=schemas.ContactOut)
async def opt_out(contact_id: schemas.Id, ctx: Ctx, principal: Sender) -> schemas.ContactOut:
    """Opt the contact out of marketing: campaigns skip them. Opted out already: nothing changes."""
    async with db.transaction(ctx.sessions) as session:
        contact = await _writable(session, principal, contact_id)
        audiences.opt_out(contact, utcnow(), audiences.Source.API)
        return await _contact_out(session, principal, contact_id)


@router.post("/{contact_id}/opt-in", response_model=schemas.ContactOut)
async def opt_in(contact_id: schemas.Id, ctx: Ctx, principal: Sender) -> schemas.ContactOut:
    """Take the contact's opt-out back (they asked for marketing again)."""
    async with db.transaction(ctx.sessions) as session:
        contact = await _writable(session, principal, contact_id)
        audiences.opt_in(contact, utcnow())
        return await _contact_out(session, principal, contact_id)


@router.post("/{contact_id}/erase", response_model=schemas.ContactErased)
async def erase_contact(contact_id: schemas.Id, ctx: Ctx, principal: Admin) -> schemas.ContactErased:
    """Erase the person (admins only; it cannot be undone): their messages, statuses, media files (unless
    another conversation shares one), search entries, conversations, labels and the contact, and the webhook
    deliveries, live events and raw webhook events that carry them. Statistics keep their counts; the audit log
    records who erased whom. Again for a contact erased already: 200 with that erasure's counts."""
    from wahub import erasure  # the erasure reads the journal's wire format: loaded when used

    actor = f"{'user' if principal.kind == 'user' else 'api key'} {principal.id}"
    try:
        done = await erasure.erase_contact(
            ctx.sessions,
            db.sessionmaker(ctx.events),
            ctx.storage,
            contact_id,
            actor=actor,
            hash_key=ctx.vault.derive_key("erasure"),
        )
    except errors.NotFound:
        record = await erasure.earlier(ctx.sessions, contact_id)
        if record is None:
            raise
        return schemas.ContactErased(
            contact_id=contact_id, erased_at=record.created_at, already=True, counts=record.details
        )
    return schemas.ContactErased(contact_id=contact_id, erased_at=utcnow(), already=False, counts=done.counts())


async def _writable(session: AsyncSession, principal: Principal, contact_id: int) -> Contact:
    """The contact, locked for the change; 404 if it does not exist or the agent may not write to it."""
    await visibility.check_contact(session, principal, contact_id)
    contact = await session.get(Contact, contact_id, with_for_update=True)
    if contact is None:
        raise errors.NotFound(f"contact {contact_id} does not exist")
    return contact


async def _contact_out(session: AsyncSession, principal: Principal, contact_id: int) -> schemas.ContactOut:
    await visibility.check_contact(session, principal, contact_id)
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise errors.NotFound(f"contact {contact_id} does not exist")
    found = await audiences.labels_of(session, [contact_id])
    return schemas.ContactOut.of(contact, found.get(contact_id))
