"""The send body becomes the domain's ``SendRequest`` (what the API and ``wahub send`` queue), and the answers
read their rows (``from_attributes``) in the shapes the API has always written. No database: rows are built in
memory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wahub import domain
from wahub.api import schemas
from wahub.store.models import Contact, Message, WebhookSubscription

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_phone_number_becomes_its_e164_digits() -> None:
    assert domain.e164_digits(" +1 415 555 0101") == "14155550101"
    assert domain.e164_digits("14155550101") == "14155550101"
    with pytest.raises(ValueError, match="not a valid phone number"):
        domain.e164_digits("+1 000")


def test_a_send_body_becomes_the_request_it_asks_for() -> None:
    body = schemas.SendMessage.model_validate(
        {
            "to": "+1 415 555 0101",
            "from": "1122334455",
            "type": "image",
            "image": {"wahub_media_id": 12, "caption": "the invoice"},
            "context": {"message_id": "wamid.A"},
            "biz_opaque_callback_data": "order-9",
            "entities": [{"entity_type": "invoice", "entity_id": "INV-1"}],
        }
    )
    request = body.to_request()
    assert request.to == "14155550101"
    assert request.type is domain.MessageType.IMAGE
    assert request.content == {"wahub_media_id": 12, "caption": "the invoice"}  # as written, nothing added
    assert request.sender == "1122334455"
    assert request.reply_to == "wamid.A"
    assert request.callback_data == "order-9"
    assert request.entities == (("invoice", "INV-1"),)
    assert request.uploaded_file == 12
    assert request.free_form and not request.group


def test_templates_and_group_messages_need_no_window() -> None:
    template = {"name": "hello_world", "language": {"code": "en_US"}}
    to_person = schemas.SendMessage.model_validate({"to": "+14155550101", "type": "template", "template": template})
    to_group = schemas.SendMessage.model_validate(
        {"to": "G.1", "recipient_type": "group", "type": "text", "text": {"body": "hi"}}
    )
    assert not to_person.to_request().free_form
    assert to_group.to_request().group and not to_group.to_request().free_form


def _message(**changes: object) -> Message:
    columns: dict[str, object] = {
        "id": 7,
        "account_id": 1,
        "conversation_id": 2,
        "contact_id": 3,
        "wamid": "wamid.X",
        "direction": "outbound",
        "type": "text",
        "status": "queued",
        "content": {"text": {"body": "hi"}},
        "reply_to_wamid": "wamid.R",
        "target_wamid": None,
        "group_id": None,
        "media_id": None,
        "reactions": None,
        "edited_at": None,
        "revoked_at": None,
        "history": None,
        "error_code": None,
        "error_title": None,
        "error_details": None,
        "possible_duplicate": False,
        "created_at": NOW,
        "provider_timestamp": None,
        "queued_at": NOW,
        "sent_at": None,
        "delivered_at": None,
        "read_at": None,
        "played_at": None,
        "failed_at": None,
    }
    return Message(**{**columns, **changes})


CONTACT = Contact(id=3, wa_id="14155550101", user_id=None, profile_name="Ann")


def test_a_message_answer_reads_its_row_with_its_content_at_the_top() -> None:
    shown = schemas.MessageOut.of(_message(), CONTACT, {1: "twilio"}, [("invoice", "INV-1")]).model_dump(mode="json")
    assert shown["text"] == {"body": "hi"}
    assert shown["reply_to"] == "wamid.R"
    assert shown["contact"] == {"id": 3, "wa_id": "14155550101", "user_id": None, "name": "Ann"}
    assert shown["reactions"] == {} and shown["history"] == [] and shown["error"] is None
    assert shown["entities"] == [{"entity_type": "invoice", "entity_id": "INV-1"}]
    assert shown["created_at"] == "2026-11-30T12:00:00Z"
    assert shown["account_id"] == 1 and shown["provider"] == "twilio"


def test_content_named_like_a_field_of_the_answer_goes_under_content() -> None:
    row = _message(content={"status": {"odd": 1}, "text": {"body": "hi"}}, error_code=131047, error_title="closed")
    shown = schemas.MessageOut.of(row, CONTACT, {}).model_dump(mode="json")
    assert shown["status"] == "queued"
    assert shown["content"] == {"status": {"odd": 1}}
    assert shown["error"] == {"code": 131047, "title": "closed", "details": None}


def test_a_subscription_shows_no_secret_but_the_one_it_is_given() -> None:
    row = WebhookSubscription(id=1, url="https://erp.example.com/e", secret="ENCRYPTED", events=None, created_at=NOW)
    assert schemas.SubscriptionOut.of(row).secret is None
    assert schemas.SubscriptionOut.of(row, "plain").secret == "plain"
    assert schemas.SubscriptionOut.of(row).events == []
