"""The body of ``POST /api/v1/messages``: Meta's own send body, checked against Meta's limits before queueing.

Limits are Meta's (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages and the
interactive and template pages): a body that breaks one gets a 422 naming the field and the limit, instead
of a ``failed`` message minutes later. Simple contents (text, media, location, reaction) are closed: an
unknown field is refused. The rich ones (interactive, template, contacts) keep fields wahub does not know, so
that what Meta adds can be sent without waiting for wahub; what wahub knows in them is checked.

What is queued is the content exactly as the client wrote it (``SendMessage.content``): no defaults are
added, so the JSON Meta receives is the JSON the client sent, with ``to`` normalised to E.164 digits.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.api.schemas import EntityRef, Id, e164_digits
from wahub.domain import ContactRef
from wahub.store import accounts, contacts, media, outbound
from wahub.store.models import Account, Contact, Message

TEXT_MAX = 4096
CAPTION_MAX = 1024
FILENAME_MAX = 255  # wahub's bound: Meta states none, file systems stop here
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
CALLBACK_DATA_MAX = 512
ENTITIES_MAX = 10  # entities one message may be linked to as it is sent
CONTACTS_MAX = 5  # maxItems of ContactsMessage in Meta's OpenAPI description

MessageKind = Literal[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "interactive",
    "template",
]
MESSAGE_TYPES: tuple[str, ...] = get_args(MessageKind)
# What Meta's Groups API sends to a group: text, media and templates.
GROUP_TYPES = ("text", "image", "video", "audio", "document", "template")
GROUP_ID = re.compile(r"[A-Za-z0-9._@-]{1,128}")
# A wa_id as Meta writes it: digits only. One phonenumbers does not know may still be a contact Meta gave us.
WA_ID = re.compile(r"[0-9]{7,15}")
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {value[:80]!r}")
    return value


HttpUrl = Annotated[str, Field(max_length=2048), AfterValidator(_http_url)]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Text(_Closed):
    body: str = Field(min_length=1, max_length=TEXT_MAX)
    preview_url: bool | None = None


class _Media(_Closed):
    id: str | None = Field(default=None, min_length=1, max_length=128)
    link: HttpUrl | None = None
    # wahub's own: a file uploaded with POST /api/v1/media; the sender uploads it to Meta and sends Meta's id.
    wahub_media_id: Id | None = None

    @model_validator(mode="after")
    def _id_or_link(self) -> _Media:
        if sum(v is not None for v in (self.id, self.link, self.wahub_media_id)) != 1:
            raise ValueError(
                "give the media by one of 'id' (uploaded to Meta), 'link' (an http(s) URL) or 'wahub_media_id' "
                "(uploaded with POST /api/v1/media)"
            )
        return self


class Image(_Media):
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)


class Video(_Media):
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)


class Document(_Media):
    caption: str | None = Field(default=None, max_length=CAPTION_MAX)
    filename: str | None = Field(default=None, min_length=1, max_length=FILENAME_MAX)


class Audio(_Media):
    pass


class Sticker(_Media):
    pass


class Location(_Closed):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=1000)


class Reaction(_Closed):
    message_id: str = Field(min_length=1, max_length=256, description="the wamid reacted to")
    emoji: str = Field(max_length=16, description="one emoji; an empty string removes the reaction")


class ContactName(_Open):
    formatted_name: str = Field(min_length=1, max_length=1000)


class ContactCard(_Open):
    name: ContactName


class _TextPart(_Open):
    text: str = Field(min_length=1, max_length=BODY_MAX)


class _Footer(_Open):
    text: str = Field(min_length=1, max_length=FOOTER_MAX)


class _Header(_Open):
    type: Literal["text", "image", "video", "document"]
    text: str | None = Field(default=None, min_length=1, max_length=HEADER_TEXT_MAX)

    @model_validator(mode="after")
    def _content(self) -> _Header:
        if self.type == "text" and self.text is None:
            raise ValueError("a text header needs 'text'")
        if self.type != "text" and getattr(self, self.type, None) is None:
            raise ValueError(f"an {self.type} header needs '{self.type}'")
        return self


class ReplyButton(_Open):
    id: str = Field(min_length=1, max_length=BUTTON_ID_MAX)
    title: str = Field(min_length=1, max_length=BUTTON_TITLE_MAX)


class Button(_Open):
    type: Literal["reply"]
    reply: ReplyButton


class ButtonsAction(_Open):
    buttons: list[Button] = Field(min_length=1, max_length=BUTTONS_MAX)

    @model_validator(mode="after")
    def _distinct(self) -> ButtonsAction:
        ids = [b.reply.id for b in self.buttons]
        titles = [b.reply.title for b in self.buttons]
        if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
            raise ValueError("reply buttons: each button needs its own id and its own title")
        return self


class ListRow(_Open):
    id: str = Field(min_length=1, max_length=ROW_ID_MAX)
    title: str = Field(min_length=1, max_length=ROW_TITLE_MAX)
    description: str | None = Field(default=None, max_length=ROW_DESCRIPTION_MAX)


class ListSection(_Open):
    title: str | None = Field(default=None, min_length=1, max_length=SECTION_TITLE_MAX)
    rows: list[ListRow] = Field(min_length=1, max_length=LIST_ROWS_MAX)


class ListAction(_Open):
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


class CtaUrlParameters(_Open):
    display_text: str = Field(min_length=1, max_length=CTA_TEXT_MAX)
    url: HttpUrl


class CtaUrlAction(_Open):
    name: Literal["cta_url"]
    parameters: CtaUrlParameters


class FlowParameters(_Open):
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


class FlowAction(_Open):
    name: Literal["flow"]
    parameters: FlowParameters


class LocationRequestAction(_Open):
    name: Literal["send_location"]


class _InteractiveBase(_Open):
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


class Language(_Open):
    code: str = Field(min_length=2, max_length=16)


class TemplateComponent(_Open):
    type: str = Field(min_length=1, max_length=32)
    parameters: list[dict[str, Any]] | None = None


class Template(_Open):
    name: str = Field(min_length=1, max_length=512)
    language: Language
    components: list[TemplateComponent] | None = None


class Context(_Closed):
    message_id: str = Field(min_length=1, max_length=256)


class SendMessage(BaseModel):
    """A message to send, as Meta's ``POST /{phone_number_id}/messages`` body (``type`` defaults to text)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"examples": [{"to": "+14155550101", "type": "text", "text": {"body": "Hello"}}]},
    )

    messaging_product: Literal["whatsapp"] = "whatsapp"
    recipient_type: Literal["individual", "group"] = "individual"
    to: str = Field(
        description="The recipient's phone number in E.164 (with or without '+'), or a group id from Meta's "
        "Groups API when recipient_type is 'group'",
        min_length=1,
        max_length=128,
    )
    type: MessageKind = "text"
    text: Text | None = None
    image: Image | None = None
    audio: Audio | None = None
    video: Video | None = None
    document: Document | None = None
    sticker: Sticker | None = None
    location: Location | None = None
    contacts: list[ContactCard] | None = Field(default=None, min_length=1, max_length=CONTACTS_MAX)
    reaction: Reaction | None = None
    interactive: Interactive | None = None
    template: Template | None = None
    context: Context | None = None
    biz_opaque_callback_data: str | None = Field(default=None, max_length=CALLBACK_DATA_MAX)
    sender: str | None = Field(
        default=None, alias="from", description="phone_number_id to send from, when several are configured"
    )
    entities: list[EntityRef] | None = Field(
        default=None,
        max_length=ENTITIES_MAX,
        description="wahub's own: link the message to these entities of your systems (not sent to Meta)",
    )

    @field_validator("to")
    @classmethod
    def _recipient_id(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("recipient_type", "individual") == "individual":
            return _number_or_wa_id(value)
        if not GROUP_ID.fullmatch(value):
            raise ValueError("not a group id (letters, digits, '.', '-', '_' or '@'), as a group message needs")
        return value

    @model_validator(mode="after")
    def _group_types(self) -> SendMessage:
        if self.recipient_type == "group" and self.type not in GROUP_TYPES:
            raise ValueError(
                f"a group message can be one of {', '.join(GROUP_TYPES)} (Meta's Groups API), not {self.type}"
            )
        return self

    @model_validator(mode="after")
    def _one_content(self) -> SendMessage:
        if getattr(self, self.type) is None:
            raise ValueError(f"a {self.type} message needs a '{self.type}' object")
        others = [t for t in MESSAGE_TYPES if t != self.type and getattr(self, t) is not None]
        if others:
            raise ValueError(f"a {self.type} message cannot also carry {', '.join(repr(o) for o in others)}")
        return self

    def content(self) -> Any:
        """The type's object exactly as the client gave it (nothing added, unknown fields of rich types kept)."""
        value = getattr(self, self.type)
        if isinstance(value, list):
            return [item.model_dump(mode="json", exclude_unset=True) for item in value]
        return value.model_dump(mode="json", exclude_unset=True)

    @property
    def free_form(self) -> bool:
        """True for a person's non-template messages: these need the customer-service window to be open. A
        group has no such window in Meta's Groups API."""
        return self.type != "template" and self.recipient_type == "individual"


def _number_or_wa_id(value: str) -> str:
    """E.164 digits of a valid number; digits that phonenumbers doubts but that may be a wa_id Meta gave (its
    metadata lags Meta's) are kept as they are, for ``outgoing`` to check against the contacts."""
    try:
        return e164_digits(value)
    except ValueError:
        digits = value.strip().removeprefix("+")
        if WA_ID.fullmatch(digits):
            return digits
        raise


def _valid_number(digits: str) -> bool:
    try:
        return e164_digits(digits) == digits
    except ValueError:
        return False


async def _check_upload(session: AsyncSession, account: Account, kind: str, media_id: int) -> None:
    item = await media.get(session, media_id)
    where = f"{kind}.wahub_media_id"
    if item is None or item.account_id != account.id or not media.is_upload(item):
        raise errors.InvalidInput(f"{where}: no file {media_id} was uploaded for this account", field=where)
    kinds = domain.MEDIA_TYPES.get(item.mime_type or "", (frozenset(), 0))[0]
    if kind not in kinds:
        raise errors.InvalidInput(
            f"{where}: a {item.mime_type} file cannot be sent as {kind} (only as {', '.join(sorted(kinds))})",
            field=where,
        )


async def outgoing(
    session: AsyncSession, body: SendMessage, senders: dict[str | None, Account] | None = None
) -> outbound.Outgoing:
    """What ``body`` asks to send, from its sender (the default account when ``from`` is not given; ``senders``
    remembers them across the bodies of one transaction), with a file uploaded to wahub checked against its
    kind."""
    senders = {} if senders is None else senders
    account = senders.get(body.sender)
    if account is None:
        account = senders[body.sender] = await accounts.default_sender(session, body.sender)
    group = body.recipient_type == "group"
    if (
        not group
        and not _valid_number(body.to)
        and await contacts.find(session, account.id, ContactRef(wa_id=body.to)) is None
    ):
        raise errors.InvalidInput(
            f"to: not a valid phone number: '+{body.to}' (use E.164, e.g. +14155550101; a wa_id Meta gave for a "
            "contact is taken as it is)",
            field="to",
        )
    content: dict[str, Any] = {body.type: body.content()}
    uploaded = content[body.type].get("wahub_media_id") if isinstance(content[body.type], dict) else None
    if uploaded is not None:
        await _check_upload(session, account, body.type, uploaded)
    if body.biz_opaque_callback_data is not None:
        content["biz_opaque_callback_data"] = body.biz_opaque_callback_data
    return outbound.Outgoing(
        account,
        domain.group_contact(body.to) if group else ContactRef(wa_id=body.to),
        domain.MessageType(body.type),
        content,
        reply_to=body.context.message_id if body.context else None,
        free_form=body.free_form and not group,  # Meta's Groups API has no 24-hour window
        group_id=body.to if group else None,
        entities=tuple(dict.fromkeys(e.key for e in body.entities or ())),
    )


async def queue(session: AsyncSession, body: SendMessage) -> tuple[Message, Contact]:
    """Queue ``body`` in the caller's transaction (``wahub send``; the API queues many at once through
    ``api/intake.py``, with the same ``outgoing`` and ``outbound.queue_many``)."""
    (result,) = await outbound.queue_many(session, [await outgoing(session, body)])
    if isinstance(result, errors.WindowClosed):
        raise result
    return result
