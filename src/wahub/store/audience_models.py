"""The labels on contacts, by which campaigns select their audiences."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from wahub.store.columns import Base, utcnow


class ContactLabel(Base):
    """A label on a contact (campaigns select audiences by label). ``key`` is the label case-folded, unique per
    contact; ``name`` keeps the spelling it was first given."""

    __tablename__ = "contact_labels"
    __table_args__ = (sa.Index("ix_contact_labels_key_contact_id", "key", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(256), primary_key=True)  # casefold may lengthen a name
    name: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
