"""Bodies of ``/api/v1/subscriptions``: the programs wahub POSTs its events to, and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wahub.api.schemas.common import Id, Joined
from wahub.store.models import WebhookDelivery, WebhookSubscription


class SubscriptionIn(BaseModel):
    """A program to POST wahub's events to."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": "https://erp.example.com/wahub-events", "events": ["message.received"]}]
        },
    )

    url: str = Field(
        max_length=2048,
        description="http(s) URL that receives the events (private addresses are allowed: your own systems)",
    )
    events: list[Literal["message.received", "message.status", "account.event"]] = Field(
        default_factory=list, max_length=10, description="the events to send; empty: all of them"
    )
    description: str | None = Field(default=None, max_length=200)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parsed = urlsplit(value.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("an http:// or https:// URL with a host")
        return value.strip()


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str] = Field(description="the events sent; empty: all of them")
    description: str | None
    created_at: datetime
    # Read as ``plain_secret``, never as the row's ``secret`` (that one is encrypted, and is shown to no one).
    secret: str | None = Field(
        default=None,
        validation_alias="plain_secret",
        description="only in the answer that created it: the key of X-Wahub-Signature-256, "
        "HMAC-SHA256 of '<X-Wahub-Timestamp>.<body>'",
    )

    @field_validator("events", mode="before")
    @classmethod
    def _none_is_all(cls, value: list[str] | None) -> list[str]:
        return list(value or [])

    @classmethod
    def of(cls, row: WebhookSubscription, secret: str | None = None) -> SubscriptionOut:
        return cls.model_validate(Joined(row, plain_secret=secret))


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event: str
    state: str = Field(description="pending (to be tried at run_at), delivered, or failed (attempts ran out)")
    attempts: int
    run_at: datetime
    last_status: int | None = Field(description="the subscriber's last HTTP status (none: no answer)")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="the body sent, less its 'id' (the delivery's id)")

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryOut:
        return cls.model_validate(row)


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


DeliveryState = Literal["failed", "delivered", "pending"]
FAILED_STATE: DeliveryState = "failed"


class ReplayIn(BaseModel):
    """Which deliveries to send again: by default every failed one."""

    model_config = ConfigDict(extra="forbid")

    states: list[DeliveryState] = Field(default_factory=lambda: [FAILED_STATE], min_length=1)
    since: datetime | None = Field(default=None, description="only deliveries written at or after (ISO 8601)")
    ids: list[Id] = Field(default_factory=list, max_length=1000, description="only these deliveries")


class ReplayOut(BaseModel):
    replayed: int
