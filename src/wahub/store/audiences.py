"""What campaigns select recipients by: labels on contacts, their custom attributes, and their marketing
opt-out (by the API, by a keyword the contact writes, or by Meta's ``user_preferences`` webhook).

Labels are trimmed (inner runs of spaces become one) and unique per contact whatever their case; attributes are
a flat JSON object, merged on each change, ``None`` removing a key. The opt-out keeps when it last changed, so
an older change (a webhook Meta delivers late) never overrides a newer one.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store import upsert
from wahub.store.models import Contact, ContactLabel, Message, utcnow

LABEL_MAX = 64  # characters of one label
LABELS_MAX = 100  # labels on one contact
ATTRIBUTE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
ATTRIBUTE_VALUE_MAX = 1024  # characters of a string value
ATTRIBUTES_MAX = 100  # keys of one contact
ATTRIBUTES_BYTES = 16_384  # the whole object, as compact JSON
MARKETING_STOPPED = 131050  # Meta's error: the user stopped marketing messages from this business
# ';' and '|' separate labels in a CSV import's cell: a label holding one could not be imported.
_LABEL_FORBIDDEN = re.compile(r"[;|\x00-\x1f\x7f]")


class Source(StrEnum):
    """How a contact opted out (or back in)."""

    API = "api"
    KEYWORD = "keyword"
    META = "meta"


def label(value: object, field: str = "labels") -> tuple[str, str]:
    """A label as given, normalised: ``(name, key)``, ``key`` the case-folded name. InvalidInput if it is not
    one."""
    if not isinstance(value, str):
        raise errors.InvalidInput(f"{field}: a label is a string", field=field)
    name = " ".join(value.split())
    if not name:
        raise errors.InvalidInput(f"{field}: a label cannot be empty", field=field)
    if len(name) > LABEL_MAX:
        raise errors.InvalidInput(f"{field}: '{name[:20]}…' is longer than {LABEL_MAX} characters", field=field)
    if _LABEL_FORBIDDEN.search(name):
        raise errors.InvalidInput(f"{field}: '{name}' holds ';', '|' or a control character", field=field)
    return name, name.casefold()


def labels(values: Iterable[object], field: str = "labels") -> dict[str, str]:
    """Labels normalised and deduplicated by key (the first spelling wins): ``{key: name}``."""
    found: dict[str, str] = {}
    for value in values:
        name, key = label(value, field)
        found.setdefault(key, name)
    return found


async def add_labels(session: AsyncSession, contact_id: int, values: Iterable[object]) -> int:
    """Put labels on a contact (those it has already, in any case, stay as they are). Returns how many were
    new; InvalidInput beyond ``LABELS_MAX`` labels."""
    wanted = labels(values)
    have = set((await session.scalars(sa.select(ContactLabel.key).where(ContactLabel.contact_id == contact_id))).all())
    new = {key: name for key, name in wanted.items() if key not in have}
    if len(have) + len(new) > LABELS_MAX:
        raise errors.InvalidInput(f"labels: a contact has at most {LABELS_MAX} labels", field="labels")
    now = utcnow()
    rows = [{"contact_id": contact_id, "key": k, "name": n, "created_at": now} for k, n in new.items()]
    inserted = await upsert.insert_ignore_many(
        session,
        ContactLabel.__table__,  # type: ignore[arg-type]
        rows,
        returning=("key",),
    )
    return len(inserted)


async def remove_label(session: AsyncSession, contact_id: int, value: str) -> bool:
    """Take a label off a contact (matched whatever its case); False if it did not have it."""
    _, key = label(value, "label")
    stmt = sa.delete(ContactLabel).where(ContactLabel.contact_id == contact_id, ContactLabel.key == key)
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def labels_of(session: AsyncSession, contact_ids: Iterable[int]) -> dict[int, list[str]]:
    """The labels of each contact, sorted case-insensitively."""
    ids = list(set(contact_ids))
    found: dict[int, list[str]] = defaultdict(list)
    if not ids:
        return found
    stmt = (
        sa.select(ContactLabel.contact_id, ContactLabel.name)
        .where(ContactLabel.contact_id.in_(ids))
        .order_by(ContactLabel.key)
    )
    for contact_id, name in (await session.execute(stmt)).all():
        found[contact_id].append(name)
    return found


def labelled(values: Iterable[object]) -> sa.ColumnElement[bool]:
    """The condition on ``Contact``: it has every one of these labels."""
    return sa.and_(
        *(
            sa.exists().where(ContactLabel.contact_id == Contact.id, ContactLabel.key == key)
            for key in labels(values, "label")
        )
    )


def attribute_changes(changes: Mapping[str, object], field: str = "attributes") -> dict[str, Any]:
    """``changes`` checked: keys like identifiers (1-64 characters), values strings, numbers, booleans or
    ``None`` (remove the key). InvalidInput naming the first key that is wrong."""
    checked: dict[str, Any] = {}
    for key, value in changes.items():
        where = f"{field}.{key}"[:100]
        if not isinstance(key, str) or not ATTRIBUTE_KEY.fullmatch(key):
            raise errors.InvalidInput(
                f"{where}: a key is 1-64 letters, digits, '_', '.' or '-', not starting with a digit", field=field
            )
        if isinstance(value, str):
            if len(value) > ATTRIBUTE_VALUE_MAX:
                raise errors.InvalidInput(f"{where}: longer than {ATTRIBUTE_VALUE_MAX} characters", field=field)
        elif isinstance(value, float) and not math.isfinite(value):
            raise errors.InvalidInput(f"{where}: not a finite number", field=field)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
            raise errors.InvalidInput(f"{where}: a number beyond ±2^53 loses digits in JSON", field=field)
        elif value is not None and not isinstance(value, bool | int | float):
            raise errors.InvalidInput(
                f"{where}: a value is a string, a number, a boolean or null (which removes it); attributes are flat",
                field=field,
            )
        checked[key] = value
    return checked


def merge_attributes(contact: Contact, changes: Mapping[str, object]) -> bool:
    """Merge ``changes`` into the contact's attributes (``None`` removes a key). Returns whether anything
    changed; InvalidInput (the contact unchanged) beyond ``ATTRIBUTES_MAX`` keys or ``ATTRIBUTES_BYTES``."""
    checked = attribute_changes(changes)
    current = dict(contact.attributes or {})
    merged = {k: v for k, v in {**current, **checked}.items() if v is not None}
    if len(merged) > ATTRIBUTES_MAX:
        raise errors.InvalidInput(f"attributes: a contact has at most {ATTRIBUTES_MAX} attributes", field="attributes")
    size = len(json.dumps(merged, separators=(",", ":"), ensure_ascii=False).encode())
    if size > ATTRIBUTES_BYTES:
        raise errors.InvalidInput(
            f"attributes: {size} bytes as JSON, more than {ATTRIBUTES_BYTES} a contact may hold", field="attributes"
        )
    if merged == current and all(type(merged[k]) is type(current[k]) for k in merged):
        return False
    contact.attributes = merged or None
    contact.updated_at = utcnow()
    return True


def opt_out(contact: Contact, at: datetime, source: Source) -> bool:
    """The contact opts out of marketing at ``at``; an already opted-out contact keeps its first time. Returns
    whether it changed (not if a later opt-in or opt-out was recorded already)."""
    if contact.opt_out_changed_at is not None and at < contact.opt_out_changed_at:
        return False
    contact.opt_out_changed_at = at
    if contact.opted_out_at is not None:
        return False
    contact.opted_out_at, contact.opt_out_source = at, source.value
    contact.updated_at = utcnow()
    return True


def opt_in(contact: Contact, at: datetime) -> bool:
    """The contact takes marketing again from ``at``; returns whether it changed (see ``opt_out``)."""
    if contact.opt_out_changed_at is not None and at < contact.opt_out_changed_at:
        return False
    contact.opt_out_changed_at = at
    if contact.opted_out_at is None:
        return False
    contact.opted_out_at, contact.opt_out_source = None, None
    contact.updated_at = utcnow()
    return True


async def opt_out_by_messages(session: AsyncSession, failed: Sequence[tuple[int, datetime]]) -> None:
    """Meta failed these messages (id, when) with 131050, the user stopped marketing messages: their contacts
    opt out (source ``meta``), as Meta's ``user_preferences`` stop would.
    https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes"""
    when = dict(failed)
    stmt = sa.select(Message.id, Contact).join(Contact, Contact.id == Message.contact_id).where(Message.id.in_(when))
    for message_id, contact in (await session.execute(stmt)).all():
        opt_out(contact, when[message_id], Source.META)


def is_opt_out_keyword(keyword: str | None, text: object) -> bool:
    """Whether an inbound text is exactly the account's opt-out keyword (trimmed, whatever the case)."""
    if not keyword or not keyword.strip() or not isinstance(text, str):
        return False
    return text.strip().casefold() == keyword.strip().casefold()


def apply_preference(contact: Contact, category: str, value: str, at: datetime) -> bool:
    """Meta's ``user_preferences`` webhook: ``marketing_messages`` ``stop`` opts out, ``resume`` opts back in;
    anything else (a signup, a future value) leaves the opt-out as it is.
    https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/user_preferences
    """
    if category != "marketing_messages":
        return False
    if value == "stop":
        return opt_out(contact, at, Source.META)
    if value == "resume":
        return opt_in(contact, at)
    return False


async def merge(session: AsyncSession, *, keep: Contact, drop: Contact) -> None:
    """``drop`` becomes part of ``keep`` (``contacts.merge``): its labels join ``keep``'s, its attributes fill
    ``keep``'s gaps, and the opt-out that changed last holds."""
    rows = (await session.execute(sa.select(ContactLabel).where(ContactLabel.contact_id == drop.id))).scalars().all()
    moved = [{"contact_id": keep.id, "key": r.key, "name": r.name, "created_at": r.created_at} for r in rows]
    await upsert.insert_ignore_rows(session, ContactLabel.__table__, moved)  # type: ignore[arg-type]
    if drop.attributes:
        keep.attributes = {**drop.attributes, **(keep.attributes or {})}
    keep.saved_name = keep.saved_name or drop.saved_name
    if drop.opt_out_changed_at is not None and (
        keep.opt_out_changed_at is None or drop.opt_out_changed_at > keep.opt_out_changed_at
    ):
        keep.opted_out_at, keep.opt_out_source = drop.opted_out_at, drop.opt_out_source
        keep.opt_out_changed_at = drop.opt_out_changed_at
