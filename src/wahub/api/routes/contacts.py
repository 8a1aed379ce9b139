"""``/api/v1/contacts``: the people who wrote to, or were written to by, the accounts. An agent sees those they
may write to: without a conversation assigned to someone else (``api/visibility.py``)."""

from __future__ import annotations

from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query

from wahub import errors
from wahub.api import schemas, visibility
from wahub.api.deps import Reader, ReadSession
from wahub.store import paging
from wahub.store.models import Contact

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


@router.get("", response_model=schemas.ContactPage)
async def list_contacts(
    session: ReadSession,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=100, description="part of a name, number or user id")] = None,
    account_id: schemas.Id | None = None,
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
            sa.or_(Contact.profile_name.ilike(pattern), Contact.wa_id.like(pattern), Contact.user_id.like(pattern))
        )
    page = await paging.page(session, stmt, Contact.id, kind="c", limit=limit, cursor=cursor)
    return schemas.ContactPage(
        items=[schemas.ContactOut.of(row[0]) for row in page.items], next_cursor=page.next_cursor
    )


@router.get("/{contact_id}", response_model=schemas.ContactOut)
async def get_contact(contact_id: schemas.Id, session: ReadSession, principal: Reader) -> schemas.ContactOut:
    await visibility.check_contact(session, principal, contact_id)
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise errors.NotFound(f"contact {contact_id} does not exist")
    return schemas.ContactOut.of(contact)
