"""provider/twilio.py without a network: the SDK arguments a message becomes, and how Twilio's error codes map
onto errors.py classes and the retry decision."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wahub import errors, twilio_codes
from wahub.provider import base, twilio
from wahub.worker import retry

ACCOUNT = base.Account(provider="twilio", number="whatsapp:+14155238886", token="t", account_sid="AC" + "0" * 32)
CALLBACK = "https://hub.example.com/webhooks/twilio/status"
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def params(kind: str, content: dict[str, object], account: base.Account = ACCOUNT, **to: str) -> dict[str, object]:
    recipient = base.Recipient(**(to or {"wa_id": "14155550111"}))
    message = base.Outbound(recipient, kind, {kind: content})
    return twilio.build_params(message, account, CALLBACK, lambda media_id: f"https://hub.example.com/m/{media_id}")


def test_a_text_goes_from_the_sender_to_the_whatsapp_address_with_a_status_callback() -> None:
    assert params("text", {"body": "Hi"}) == {
        "to": "whatsapp:+14155550111",
        "from_": "whatsapp:+14155238886",
        "status_callback": CALLBACK,
        "body": "Hi",
    }
    service = base.Account("twilio", ACCOUNT.number, "t", ACCOUNT.account_sid, messaging_service_sid="MG" + "1" * 32)
    assert params("text", {"body": "Hi"}, service)["messaging_service_sid"] == "MG" + "1" * 32


def test_media_goes_by_url_with_a_caption_only_on_images_and_videos() -> None:
    image = params("image", {"wahub_media_id": 7, "caption": "look"})
    assert image["media_url"] == ["https://hub.example.com/m/7"] and image["body"] == "look"
    document = params("document", {"link": "https://example.com/a.pdf"})
    assert document["media_url"] == ["https://example.com/a.pdf"] and "body" not in document
    with pytest.raises(errors.PermanentProviderError, match="by URL"):
        params("image", {"id": "123"})


def test_a_location_and_a_content_template() -> None:
    where = params("location", {"latitude": 37.78, "longitude": -122.39, "name": "HQ"})
    assert where["persistent_action"] == ["geo:37.78,-122.39|HQ"] and where["body"] == "HQ"
    template = params("template", {"content_sid": "HX" + "1" * 32, "content_variables": {"1": "Ana", "2": "é"}})
    assert template["content_sid"] == "HX" + "1" * 32 and template["content_variables"] == '{"1":"Ana","2":"é"}'


def test_what_twilio_cannot_send_fails_permanently() -> None:
    with pytest.raises(errors.PermanentProviderError, match="groups"):
        params("text", {"body": "Hi"}, group_id="120363000000000000@g.us")
    with pytest.raises(errors.PermanentProviderError, match="interactive"):
        params("interactive", {"type": "button"})
    with pytest.raises(errors.PermanentProviderError):
        params("template", {"name": "hello_world"})


@pytest.mark.parametrize(
    ("code", "status", "cls", "retried"),
    [
        (63016, 400, errors.PermanentProviderError, False),
        (63018, 429, errors.ThroughputLimited, True),
        (20429, 429, errors.RateLimited, True),
        (21610, 400, errors.PermanentProviderError, False),
        (63024, 400, errors.PermanentProviderError, False),
        (63003, 400, errors.PermanentProviderError, False),
        (20003, 401, errors.AccessTokenInvalid, False),
        (None, 502, errors.TransientProviderError, True),
        (None, 429, errors.RateLimited, True),
        (21999, 400, errors.PermanentProviderError, False),
    ],
)
def test_twilio_codes_map_onto_the_domain_errors_and_retries(
    code: int | None, status: int, cls: type[errors.ProviderError], retried: bool
) -> None:
    error = twilio_codes.error_for(code, "Twilio's own words", http_status=status)
    assert type(error) is cls and error.code == code
    assert (retry.decide(error, 1, retry.SEND, NOW) is not None) is retried
    assert error.details_text is not None and "Twilio's own words" in error.details_text


def test_the_window_error_says_a_template_is_needed() -> None:
    error = twilio_codes.error_for(63016, "Failed to send freeform message", http_status=400)
    assert "24-hour window" in error.message and "Content SID" in error.message
