"""Bodies of ``/api/v1/contacts``: a contact with its labels, attributes and opt-out, and the changes to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wahub.api.schemas.common import ContactRefOut, Joined
from wahub.store import audiences
from wahub.store.models import Contact


class ContactOut(ContactRefOut):
    saved_name: str | None = Field(description="the name the business saved for them (an import, a PATCH)")
    labels: list[str] = Field(description="its labels, sorted whatever their case")
    attributes: dict[str, Any] = Field(description="custom attributes: strings, numbers and booleans")
    opted_out_at: datetime | None = Field(description="since when they take no marketing (campaigns skip them)")
    opt_out_source: Literal["api", "keyword", "meta"] | None = Field(
        description="how they opted out: by the API, by writing the account's opt-out keyword, or in WhatsApp"
    )
    previous_wa_ids: list[str]
    marketing_preference: str | None
    marketing_preference_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @field_validator("previous_wa_ids", mode="before")
    @classmethod
    def _none_is_empty(cls, value: list[str] | None) -> list[str]:
        return value or []

    @field_validator("attributes", mode="before")
    @classmethod
    def _none_is_no_attributes(cls, value: dict[str, Any] | None) -> dict[str, Any]:
        return value or {}

    @classmethod
    def of(cls, c: Contact, labels: list[str] | None = None) -> ContactOut:
        return cls.model_validate(Joined(c, labels=labels or []))


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class ContactLabelsIn(BaseModel):
    """Labels to put on a contact: trimmed, unique whatever their case (one it has already stays as it is)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"labels": ["vip", "Madrid"]}]})

    labels: list[str] = Field(
        min_length=1,
        max_length=audiences.LABELS_MAX,
        description=f"1-{audiences.LABEL_MAX} characters each, without ';', '|' or control characters",
    )


class ContactPatch(BaseModel):
    """Changes to a contact: attributes are merged into its own (``null`` removes a key); a field left out stays."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"attributes": {"city": "Madrid", "orders": 3, "vip": True, "old": None}}]},
    )

    attributes: dict[str, Any] | None = Field(
        default=None,
        description=f"a flat object: keys of 1-64 letters, digits, '_', '.' or '-'; values strings (up to "
        f"{audiences.ATTRIBUTE_VALUE_MAX} characters), numbers or booleans; null removes the key. At most "
        f"{audiences.ATTRIBUTES_MAX} keys and {audiences.ATTRIBUTES_BYTES} bytes of JSON per contact",
    )
    saved_name: str | None = Field(default=None, max_length=256, description="the name the business saved for them")


class ContactErased(BaseModel):
    """What ``POST /api/v1/contacts/{id}/erase`` removed (or, for a contact erased earlier, removed then)."""

    contact_id: int
    erased_at: datetime = Field(description="when it was erased (the audit record's time)")
    already: bool = Field(description="true: it had been erased before; these are that erasure's counts")
    counts: dict[str, int] = Field(
        description="messages, conversations, statuses, media, blobs, labels, deliveries, stream_events, "
        "rewritten (others' rows that named them), journal_rewritten, journal_deleted"
    )
