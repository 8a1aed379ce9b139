"""webhook/twilio.py: Twilio's form bodies -> domain values, strict about what names a message, tolerant about
the rest (every field kept in raw, unknown types and statuses kept as unknown)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wahub.domain import MessageStatus, MessageType
from wahub.webhook import twilio
from wahub.webhook.sources import Source

AT = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
SID = "SM" + "a" * 32
MEDIA_SID = "ME" + "b" * 32
ACCOUNT = "AC" + "c" * 32
# An inbound WhatsApp text as Twilio posts it (parameters of Twilio's incoming message webhook).
TEXT = {
    "SmsMessageSid": SID,
    "NumMedia": "0",
    "ProfileName": "Eva",
    "MessageType": "text",
    "SmsSid": SID,
    "WaId": "14155550111",
    "SmsStatus": "received",
    "Body": "Hello there",
    "To": "whatsapp:+14155238886",
    "NumSegments": "1",
    "ReferralNumMedia": "0",
    "MessageSid": SID,
    "AccountSid": ACCOUNT,
    "From": "whatsapp:+14155550111",
    "ApiVersion": "2010-04-01",
}


def inbound(**fields: str) -> twilio.domain.InboundMessage:
    (message,) = twilio.parse(urlencode({**TEXT, **fields}).encode(), Source.TWILIO, AT).messages
    return message


def status(**fields: str) -> twilio.domain.StatusUpdate:
    form = {"MessageSid": SID, "MessageStatus": "delivered", "From": "whatsapp:+14155238886",
            "To": "whatsapp:+14155550111", "AccountSid": ACCOUNT, **fields}  # fmt: skip
    (update,) = twilio.parse(urlencode(form).encode(), Source.TWILIO_STATUS, AT).statuses
    return update


def test_an_inbound_text_names_its_sender_number_and_body() -> None:
    message = inbound()
    assert message.type is MessageType.TEXT and message.content == {"text": {"body": "Hello there"}}
    assert message.provider_id == SID and message.phone_number_id == "whatsapp:+14155238886"
    assert message.contact.wa_id == "14155550111" and message.contact.name == "Eva"
    assert message.timestamp == AT and message.reply_to is None and message.media is None
    assert message.raw == TEXT  # every field kept


def test_an_inbound_image_carries_its_media_by_message_and_media_sid() -> None:
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/{SID}/Media/{MEDIA_SID}"
    message = inbound(NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg", MessageType="image", Body="look")
    assert message.type is MessageType.IMAGE
    assert message.media is not None and message.media.media_id == f"{SID}/{MEDIA_SID}"
    assert message.media.mime_type == "image/jpeg" and message.media.url == url
    assert message.content == {"image": {"id": f"{SID}/{MEDIA_SID}", "mime_type": "image/jpeg", "caption": "look"}}


@pytest.mark.parametrize(
    ("mime", "kind"),
    [("application/pdf", "document"), ("audio/ogg", "audio"), ("video/mp4", "video"), ("image/webp", "sticker")],
)
def test_a_mediums_type_comes_from_its_content_type_when_twilio_names_none(mime: str, kind: str) -> None:
    message = inbound(NumMedia="1", MediaUrl0="https://x/Media/ME1", MediaContentType0=mime, MessageType="")
    assert message.type.value == kind and message.media is not None


def test_a_location_a_button_and_a_list_reply_are_read_into_metas_shape() -> None:
    where = inbound(MessageType="location", Latitude="37.78", Longitude="-122.39", Address="1 Main St", Label="HQ")
    assert where.type is MessageType.LOCATION
    assert where.content == {
        "location": {"latitude": 37.78, "longitude": -122.39, "name": "HQ", "address": "1 Main St"}
    }
    button = inbound(MessageType="button", ButtonText="Yes", ButtonPayload="confirm-42")
    assert button.type is MessageType.BUTTON and button.content == {"button": {"text": "Yes", "payload": "confirm-42"}}
    listed = inbound(MessageType="interactive", ListId="opt-2", ListTitle="Tuesday")
    assert listed.content["interactive"]["list_reply"] == {"id": "opt-2", "title": "Tuesday"}


def test_a_reply_names_the_message_it_answers_and_an_unknown_type_is_kept() -> None:
    assert inbound(OriginalRepliedMessageSid="SM" + "9" * 32).reply_to == "SM" + "9" * 32
    odd = inbound(MessageType="reaction", Body="", Emoji="👍")
    assert odd.type is MessageType.UNKNOWN and odd.content["original_type"] == "reaction"
    assert odd.raw["Emoji"] == "👍"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("queued", MessageStatus.ACCEPTED),
        ("sent", MessageStatus.SENT),
        ("delivered", MessageStatus.DELIVERED),
        ("read", MessageStatus.READ),
        ("undelivered", MessageStatus.FAILED),
        ("failed", MessageStatus.FAILED),
        ("teleported", MessageStatus.UNKNOWN),
    ],
)
def test_statuses_map_onto_the_domains(name: str, expected: MessageStatus) -> None:
    update = status(MessageStatus=name)
    assert update.status is expected and update.provider_id == SID
    assert update.phone_number_id == "whatsapp:+14155238886" and update.recipient.wa_id == "14155550111"


def test_a_failed_status_carries_the_mapped_reason_and_twilios_message() -> None:
    update = status(MessageStatus="failed", ErrorCode="63016", ErrorMessage="Outside the allowed window")
    (error,) = update.errors
    assert error.code == 63016 and error.title is not None and "24-hour window" in error.title
    assert error.details == "Outside the allowed window"
    unknown = status(MessageStatus="undelivered", ErrorCode="30099").errors[0]
    assert unknown.code == 30099 and unknown.title == "Twilio error 30099"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"\xff\xfe", Source.TWILIO),
        (b"MessageSid", Source.TWILIO),
        (urlencode({"Body": "no sid"}).encode(), Source.TWILIO),
        (urlencode({"MessageSid": SID, "To": "whatsapp:+1"}).encode(), Source.TWILIO),
        (urlencode({"MessageStatus": "sent"}).encode(), Source.TWILIO_STATUS),
        (urlencode(TEXT).encode(), "nonsense"),
    ],
)
def test_a_body_that_names_no_message_is_malformed(body: bytes, kind: str) -> None:
    with pytest.raises(twilio.MalformedPayload):
        twilio.parse(body, kind, AT)


@given(st.binary(max_size=400), st.sampled_from([Source.TWILIO, Source.TWILIO_STATUS]))
def test_any_body_parses_or_is_malformed_and_nothing_else(body: bytes, kind: Source) -> None:
    with contextlib.suppress(twilio.MalformedPayload):
        twilio.parse(body, kind, AT)


@given(
    st.dictionaries(
        st.sampled_from(
            [*sorted(TEXT), "NumMedia", "MediaUrl0", "Latitude", "Longitude", "ErrorCode", "MessageStatus"]
        ),
        st.text(max_size=30),
    )
)
def test_any_form_parses_or_is_malformed_and_nothing_else(fields: dict[str, str]) -> None:
    for kind in (Source.TWILIO, Source.TWILIO_STATUS):
        with contextlib.suppress(twilio.MalformedPayload):
            twilio.parse(urlencode(fields).encode(), kind, AT)
