"""Campaigns' request and response bodies (``api/routes/campaigns.py``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wahub.api.schemas.common import EntityRef
from wahub.store.campaign_results import Row
from wahub.store.models import Campaign

START_AT_MAX_DAYS = 366
CSV_MAX = 20_000_000  # characters of a CSV audience (about 100,000 rows)


class TemplateRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=1, max_length=16, description="the template's language code, e.g. en_US")


class AudienceIn(BaseModel):
    """Exactly one of: ``labels`` (contacts with every one of them), ``entity`` (contacts whose conversations or
    messages are linked to it), ``numbers`` (E.164; contacts created as needed), ``csv`` (the text of a contacts
    CSV file: a ``number`` column, optional ``name`` and ``labels``, any other column an attribute; contacts
    created or updated as ``wahub contacts import`` does)."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str] | None = Field(default=None, min_length=1, max_length=20)
    entity: EntityRef | None = None
    numbers: list[str] | None = Field(default=None, min_length=1, max_length=100_000)
    csv: str | None = Field(default=None, min_length=1, max_length=CSV_MAX)


class SourceIn(BaseModel):
    """Where one parameter's value comes from: exactly one of ``text`` (the same for everyone), ``attribute``
    (the contact's custom attribute), ``contact: "name"`` (its saved or profile name), ``column`` (the CSV
    audience's column). ``parameter_name``: the variable's name, for a template with named variables."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, min_length=1, max_length=1024)
    attribute: str | None = Field(default=None, min_length=1, max_length=64)
    contact: Literal["name"] | None = None
    column: str | None = Field(default=None, min_length=1, max_length=100)
    parameter_name: str | None = Field(default=None, min_length=1, max_length=64)


class ButtonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, le=9)
    sub_type: Literal["url", "copy_code"] = "url"
    parameters: list[SourceIn] = Field(min_length=1, max_length=1)


class ParametersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    header: list[SourceIn] | None = Field(default=None, max_length=1)
    body: list[SourceIn] | None = Field(default=None, max_length=100)
    buttons: list[ButtonIn] | None = Field(default=None, max_length=10)


class CampaignIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "December sale",
                    "template": {"name": "seasonal_promotion", "language": "en_US"},
                    "audience": {"labels": ["vip"]},
                    "parameters": {
                        "header": [{"text": "Winter Sale"}],
                        "body": [{"attribute": "end_date"}, {"text": "WINTER"}, {"text": "20%"}],
                    },
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=100)
    account: str | None = Field(
        default=None, max_length=64, description="the Meta phone_number_id to send from, when several are configured"
    )
    template: TemplateRef
    audience: AudienceIn
    parameters: ParametersIn | None = None
    start_at: datetime | None = Field(
        default=None, description="when POST /start should begin sending (ISO 8601 with a time zone); none: at once"
    )

    @field_validator("start_at")
    @classmethod
    def _start_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-12-24T09:00:00+01:00 or 2026-12-24T08:00:00Z")
        if (value - datetime.now(tz=UTC)).days >= START_AT_MAX_DAYS:
            raise ValueError(f"at most {START_AT_MAX_DAYS} days ahead")
        return value


class Totals(BaseModel):
    """Each recipient counted once, by where it is now (``recipients`` is the sum)."""

    recipients: int
    pending: int
    queued: int
    sent: int
    delivered: int
    read: int
    failed: int
    skipped: int


class CampaignOut(BaseModel):
    id: int
    name: str
    account_id: int
    template: TemplateRef
    state: str = Field(description="draft, scheduled, running, paused, completed or cancelled")
    start_at: datetime | None
    audience: dict[str, Any] = Field(description="as given (a CSV audience as its row count)")
    parameters: dict[str, Any] | None
    stopped_reason: str | None = Field(description="why it paused by itself (its template), or why it stopped")
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    totals: Totals

    @classmethod
    def of(cls, campaign: Campaign, totals: dict[str, int]) -> CampaignOut:
        return cls(
            id=campaign.id,
            name=campaign.name,
            account_id=campaign.account_id,
            template=TemplateRef(name=campaign.template_name, language=campaign.template_language),
            state=campaign.state,
            start_at=campaign.start_at,
            audience=campaign.audience,
            parameters=campaign.parameters,
            stopped_reason=campaign.stopped_reason,
            last_error=campaign.last_error,
            created_at=campaign.created_at,
            updated_at=campaign.updated_at,
            started_at=campaign.started_at,
            finished_at=campaign.finished_at,
            totals=Totals(**totals),
        )


class RecipientOut(BaseModel):
    id: int
    contact_id: int
    number: str | None = Field(description="E.164, or none for a contact known only by its user id")
    name: str | None
    result: str = Field(description="pending, queued, sent, delivered, read, failed or skipped")
    reason: str | None = Field(description="why it was skipped or failed")
    message_id: int | None
    wamid: str | None
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, row: Row) -> RecipientOut:
        return cls(**{name: getattr(row, name) for name in cls.model_fields})


class RecipientPage(BaseModel):
    items: list[RecipientOut]
    next_cursor: str | None
