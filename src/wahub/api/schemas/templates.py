"""Bodies of ``/api/v1/templates``: templates as Meta last described them, a new template, a preview."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wahub.api.schemas.common import Id
from wahub.message_templates.render import Rendered
from wahub.store.models import Template, TemplateSync


class TemplateOut(BaseModel):
    """A message template: its name and language, Meta's category, status (APPROVED, PENDING, REJECTED, PAUSED,
    DISABLED…), quality (GREEN, YELLOW, RED, UNKNOWN), rejection reason and components, as Meta gave them."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    waba_id: str
    hsm_id: str | None = Field(validation_alias="provider_template_id", description="Meta's id of the template")
    name: str
    language: str
    category: str | None
    status: str | None
    quality: str | None
    reason: str | None
    components: list[Any] | None
    updated_at: datetime

    @classmethod
    def of(cls, row: Template) -> TemplateOut:
        return cls.model_validate(row)


class TemplatePage(BaseModel):
    items: list[TemplateOut]
    next_cursor: str | None


class TemplateIn(BaseModel):
    """A new template, as Meta's ``POST /{waba_id}/message_templates`` takes it; checked against Meta's rules
    (names, components, variables, examples) before it is submitted."""

    model_config = ConfigDict(extra="forbid")

    account_id: Id | None = Field(default=None, description="the account whose WhatsApp Business Account gets it")
    name: str = Field(max_length=512, examples=["order_update"])
    language: str = Field(max_length=16, examples=["en_US"])
    category: str = Field(max_length=32, examples=["UTILITY"])
    components: list[dict[str, Any]] = Field(max_length=10)
    parameter_format: Literal["POSITIONAL", "NAMED"] | None = None
    allow_category_change: bool | None = None

    def meta_body(self) -> dict[str, Any]:
        return self.model_dump(exclude={"account_id"}, exclude_none=True)


class PreviewIn(BaseModel):
    """A send's ``template`` parameters (``components`` as in ``POST /api/v1/messages``) for one language."""

    model_config = ConfigDict(extra="forbid")

    account_id: Id | None = None
    language: str = Field(max_length=16, examples=["en_US"])
    components: list[dict[str, Any]] = Field(default_factory=list, max_length=20)


class PreviewButton(BaseModel):
    type: str
    text: str
    url: str | None


class PreviewOut(BaseModel):
    """The template as the recipient will read it: each part, and ``text``, all of it as plain text."""

    header: str | None
    header_media: dict[str, Any] | None
    body: str
    footer: str | None
    buttons: list[PreviewButton]
    text: str

    @classmethod
    def of(cls, made: Rendered) -> PreviewOut:
        buttons = [PreviewButton(type=b.type, text=b.text, url=b.url) for b in made.buttons]
        return cls(
            header=made.header,
            header_media=made.header_media,
            body=made.body,
            footer=made.footer,
            buttons=buttons,
            text=made.text,
        )


class TemplateSyncOut(BaseModel):
    """A WhatsApp Business Account's template sync: when it last finished and how many it read, when the next
    one is due and why."""

    model_config = ConfigDict(from_attributes=True)

    waba_id: str
    synced_at: datetime | None
    synced: int | None
    next_at: datetime = Field(validation_alias="run_at")
    reason: str | None
    last_error: str | None

    @classmethod
    def of(cls, row: TemplateSync) -> TemplateSyncOut:
        return cls.model_validate(row)


class Deleted(BaseModel):
    deleted: int
