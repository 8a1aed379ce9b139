"""Storing the rows of a contacts import (``contacts_csv.py``) for one account, a chunk at a time:
contacts found by number or created, their saved name set, labels added, attributes merged. What a contact has
already is not changed again, so importing the same file twice changes nothing the second time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.domain import ContactRef
from wahub.imports.contacts_csv import Rejected, Row
from wahub.store import audiences, contacts, upsert
from wahub.store.keys import one_of
from wahub.store.models import Contact, ContactLabel, utcnow

CHUNK = 500  # rows per statement batch (and per transaction, as the CLI runs it)


@dataclass(slots=True)
class Summary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Rejected] = field(default_factory=list)


async def store(session: AsyncSession, account_id: int, rows: Sequence[Row], summary: Summary) -> None:
    """Store up to ``CHUNK`` rows (the caller commits); counts go to ``summary``. A row the contact cannot take
    (over the labels or attributes a contact may hold) is skipped with its reason, the contact unchanged."""
    wa_ids = [r.wa_id for r in rows]
    existing = set(
        (
            await session.scalars(
                sa.select(Contact.wa_id).where(Contact.account_id == account_id, Contact.wa_id.in_(wa_ids))
            )
        ).all()
    )
    resolved = await contacts.resolve_many(session, account_id, [ContactRef(wa_id=w) for w in wa_ids])
    found = {r.wa_id: resolved.get(ContactRef(wa_id=r.wa_id)) for r in rows}
    have: dict[int, set[str]] = defaultdict(set)
    ids = [c.id for c in found.values()]
    # Locked in id order (as the ORM's flush takes them) and read afresh: an agent's PATCH of one of them
    # meanwhile is merged into, not overwritten with what was read before it.
    lock = sa.select(Contact).where(one_of(Contact.id, ids)).order_by(Contact.id).with_for_update()
    (await session.scalars(lock.execution_options(populate_existing=True))).all()
    for contact_id, key in (
        await session.execute(
            sa.select(ContactLabel.contact_id, ContactLabel.key).where(ContactLabel.contact_id.in_(ids))
        )
    ).all():
        have[contact_id].add(key)
    now = utcnow()
    new_labels = []
    for row in rows:
        contact = found[row.wa_id]
        labels = {k: n for k, n in row.labels.items() if k not in have[contact.id]}
        if len(have[contact.id]) + len(labels) > audiences.LABELS_MAX:
            summary.skipped.append(Rejected(row.line, f"labels: a contact has at most {audiences.LABELS_MAX} labels"))
            continue
        try:
            changed = audiences.merge_attributes(contact, row.attributes)
        except errors.InvalidInput as exc:
            summary.skipped.append(Rejected(row.line, exc.message))
            continue
        if row.name is not None and row.name != contact.saved_name:
            contact.saved_name, changed = row.name, True
        if labels:
            changed = True
            have[contact.id].update(labels)
            new_labels += [
                {"contact_id": contact.id, "key": key, "name": name, "created_at": now} for key, name in labels.items()
            ]
        if row.wa_id not in existing:
            summary.created += 1
        elif changed:
            contact.updated_at = now
            summary.updated += 1
        else:
            summary.unchanged += 1
    await upsert.insert_ignore_rows(session, ContactLabel.__table__, new_labels)  # type: ignore[arg-type]
