"""Interactive contents of a message to send (buttons, lists, call-to-action URLs, flows, location requests),
with the limits of Meta's interactive pages
(https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-reply-buttons-messages and its
siblings). Each keeps fields wahub does not know; a type wahub does not check (products, catalogs, orders, what
Meta adds later) is passed on as given."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from wahub.api.schemas.content import HttpUrl, Open

BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_MAX = 60
BUTTONS_MAX = 3
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
LIST_SECTIONS_MAX = 10
LIST_ROWS_MAX = 10
ROW_ID_MAX = 200
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
SECTION_TITLE_MAX = 24
CTA_TEXT_MAX = 20
FLOW_CTA_MAX = 30  # SDKs say 20, but Meta's own OpenAPI examples send 23 characters


class _TextPart(Open):
    text: str = Field(min_length=1, max_length=BODY_MAX)


class _Footer(Open):
    text: str = Field(min_length=1, max_length=FOOTER_MAX)


class _Header(Open):
    type: Literal["text", "image", "video", "document"]
    text: str | None = Field(default=None, min_length=1, max_length=HEADER_TEXT_MAX)

    @model_validator(mode="after")
    def _content(self) -> _Header:
        if self.type == "text" and self.text is None:
            raise ValueError("a text header needs 'text'")
        if self.type != "text" and getattr(self, self.type, None) is None:
            raise ValueError(f"an {self.type} header needs '{self.type}'")
        return self


class ReplyButton(Open):
    id: str = Field(min_length=1, max_length=BUTTON_ID_MAX)
    title: str = Field(min_length=1, max_length=BUTTON_TITLE_MAX)


class Button(Open):
    type: Literal["reply"]
    reply: ReplyButton


class ButtonsAction(Open):
    buttons: list[Button] = Field(min_length=1, max_length=BUTTONS_MAX)

    @model_validator(mode="after")
    def _distinct(self) -> ButtonsAction:
        ids = [b.reply.id for b in self.buttons]
        titles = [b.reply.title for b in self.buttons]
        if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
            raise ValueError("reply buttons: each button needs its own id and its own title")
        return self


class ListRow(Open):
    id: str = Field(min_length=1, max_length=ROW_ID_MAX)
    title: str = Field(min_length=1, max_length=ROW_TITLE_MAX)
    description: str | None = Field(default=None, max_length=ROW_DESCRIPTION_MAX)


class ListSection(Open):
    title: str | None = Field(default=None, min_length=1, max_length=SECTION_TITLE_MAX)
    rows: list[ListRow] = Field(min_length=1, max_length=LIST_ROWS_MAX)


class ListAction(Open):
    button: str = Field(min_length=1, max_length=LIST_BUTTON_MAX)
    sections: list[ListSection] = Field(min_length=1, max_length=LIST_SECTIONS_MAX)

    @model_validator(mode="after")
    def _rows(self) -> ListAction:
        rows = [row for section in self.sections for row in section.rows]
        if len(rows) > LIST_ROWS_MAX:
            raise ValueError(f"a list holds at most {LIST_ROWS_MAX} rows in all its sections, got {len(rows)}")
        if len({row.id for row in rows}) != len(rows):
            raise ValueError("list rows need distinct ids")
        if len(self.sections) > 1 and any(s.title is None for s in self.sections):
            raise ValueError("a list with several sections needs a title on each")
        return self


class CtaUrlParameters(Open):
    display_text: str = Field(min_length=1, max_length=CTA_TEXT_MAX)
    url: HttpUrl


class CtaUrlAction(Open):
    name: Literal["cta_url"]
    parameters: CtaUrlParameters


class FlowParameters(Open):
    flow_message_version: str = Field(min_length=1, max_length=8)
    flow_cta: str = Field(min_length=1, max_length=FLOW_CTA_MAX)
    flow_id: str | None = Field(default=None, min_length=1, max_length=128)
    flow_name: str | None = Field(default=None, min_length=1, max_length=512)
    flow_action: Literal["navigate", "data_exchange"] | None = None

    @model_validator(mode="after")
    def _which_flow(self) -> FlowParameters:
        if (self.flow_id is None) == (self.flow_name is None):
            raise ValueError("a flow is named by flow_id or by flow_name (one of them)")
        return self


class FlowAction(Open):
    name: Literal["flow"]
    parameters: FlowParameters


class LocationRequestAction(Open):
    name: Literal["send_location"]


class _InteractiveBase(Open):
    body: _TextPart | None = None
    footer: _Footer | None = None
    header: _Header | None = None


class ButtonsInteractive(_InteractiveBase):
    type: Literal["button"]
    body: _TextPart
    action: ButtonsAction


class ListInteractive(_InteractiveBase):
    type: Literal["list"]
    body: _TextPart
    action: ListAction


class CtaUrlInteractive(_InteractiveBase):
    type: Literal["cta_url"]
    body: _TextPart
    action: CtaUrlAction


class FlowInteractive(_InteractiveBase):
    type: Literal["flow"]
    body: _TextPart
    action: FlowAction


class LocationRequestInteractive(_InteractiveBase):
    type: Literal["location_request_message"]
    body: _TextPart
    action: LocationRequestAction


class OtherInteractive(_InteractiveBase):
    """Product, product list, catalog, order details and status, and what Meta adds later: passed on as given."""

    type: str = Field(min_length=1, max_length=64)
    action: dict[str, Any] | None = None


_CHECKED_INTERACTIVE = ("button", "list", "cta_url", "flow", "location_request_message")


def _interactive_kind(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in _CHECKED_INTERACTIVE else "other"


Interactive = Annotated[
    Annotated[ButtonsInteractive, Tag("button")]
    | Annotated[ListInteractive, Tag("list")]
    | Annotated[CtaUrlInteractive, Tag("cta_url")]
    | Annotated[FlowInteractive, Tag("flow")]
    | Annotated[LocationRequestInteractive, Tag("location_request_message")]
    | Annotated[OtherInteractive, Tag("other")],
    Discriminator(_interactive_kind),
]
