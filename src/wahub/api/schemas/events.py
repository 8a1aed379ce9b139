"""Bodies of ``/api/v1/events`` and ``/api/v1/stats`` answers, read from their rows and ``store/stats.py``'s
values."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wahub.api.schemas.common import Joined
from wahub.store import stats
from wahub.store.models import AccountEvent


class EventOut(BaseModel):
    """An account event: a webhook change about templates, numbers, the account, preferences or calls."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    field: str
    account_id: int | None
    waba_id: str | None
    phone_number_id: str | None
    occurred_at: datetime | None
    received_at: datetime = Field(validation_alias="created_at")
    value: dict[str, Any] = Field(validation_alias="raw")

    @classmethod
    def of(cls, e: AccountEvent) -> EventOut:
        return cls.model_validate(e)


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class ErrorCountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: int | None = Field(description="Meta's error code (None: wahub refused it before sending)")
    title: str | None
    count: int


class OutboundStatsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    accepted: int = Field(description="messages Meta accepted (they have a wamid)")
    delivered: int = Field(description="messages that reached the phone (delivered, read or played)")
    read: int = Field(description="messages read (or played)")
    failed: int
    possible_duplicates: int = Field(description="messages that may have reached Meta twice (see MessageOut)")
    delivery_rate: float | None = Field(description="delivered / accepted; null when nothing was accepted")
    read_rate: float | None = Field(description="read / delivered; null when nothing was delivered")
    by_status: dict[str, int]


class DayOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date = Field(description="a UTC day")
    inbound: int
    outbound: int = Field(description="messages sent (queued) that day")
    delivered: int = Field(description="of those, delivered (or read or played)")
    read: int = Field(description="of those, read (or played)")


class StatsOut(BaseModel):
    """Messages that happened in ``[since, until)``: Meta's timestamp for what Meta reported, else when queued."""

    model_config = ConfigDict(from_attributes=True)

    since: datetime
    until: datetime
    days: int
    total: int
    by_direction: dict[str, int]
    by_provider: dict[str, int] = Field(description="messages by the provider of their account: meta, twilio")
    by_type: dict[str, dict[str, int]] = Field(description="direction -> message type -> count")
    conversations: int = Field(description="distinct conversations with a message in the period")
    contacts: int = Field(description="distinct contacts (and groups) with a message in the period")
    outbound: OutboundStatsOut
    errors: list[ErrorCountOut] = Field(description="failed outbound messages by error code, most frequent first")
    by_day: list[DayOut] = Field(description="every UTC day of the period, oldest first (the first and last partly)")

    @classmethod
    def of(cls, found: stats.Stats, days: int) -> StatsOut:
        return cls.model_validate(Joined(found, days=days))
