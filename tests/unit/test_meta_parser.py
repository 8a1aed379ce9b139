"""Parsing real Meta payloads (tests/data/meta-webhooks, from pywa's corpus) into domain values."""

from __future__ import annotations

import json

import pytest

from tests.support import DATA, payload
from wahub.domain import MessageStatus, MessageType
from wahub.webhook import meta

ALL_MESSAGES = json.loads((DATA / "meta-webhooks" / "message.json").read_text())
ALL_STATUSES = json.loads((DATA / "meta-webhooks" / "message_status.json").read_text())


def encode(value: object) -> bytes:
    return json.dumps(value).encode()


def test_text_message_is_parsed_with_its_contact() -> None:
    parsed = meta.parse(encode(payload("message", "text")))
    (message,) = parsed.messages
    assert message.phone_number_id == "1122334455667"
    assert message.provider_id == "wamid.xyzxyz"
    assert message.type is MessageType.TEXT
    assert message.content == {"text": {"body": "Body Text"}}
    assert message.contact.wa_id == "972987654321"
    assert message.contact.user_id == "US.13491208655302741918"
    assert message.contact.name == "Test Name"
    assert message.timestamp.timestamp() == 1697043223


@pytest.mark.parametrize("name", sorted(ALL_MESSAGES))
def test_every_conformance_message_parses_and_keeps_its_raw_json(name: str) -> None:
    raw = ALL_MESSAGES[name]
    parsed = meta.parse(encode(raw))
    expected = [m for e in raw["entry"] for c in e["changes"] for m in c["value"].get("messages", [])]
    assert [m.raw for m in parsed.messages] == expected
    for message in parsed.messages:
        assert message.contact.key


@pytest.mark.parametrize("name", sorted(ALL_STATUSES))
def test_every_conformance_status_parses(name: str) -> None:
    parsed = meta.parse(encode(ALL_STATUSES[name]))
    assert parsed.statuses
    for update in parsed.statuses:
        assert update.provider_id
        assert update.status is not MessageStatus.UNKNOWN or update.raw.get("status") not in (
            "sent",
            "delivered",
            "read",
            "played",
            "failed",
        )


def test_failed_status_carries_the_error() -> None:
    (update,) = meta.parse(encode(ALL_STATUSES["failed"])).statuses
    assert update.status is MessageStatus.FAILED
    assert update.errors and update.errors[0].code is not None


def test_a_batch_is_read_whole_not_only_its_first_item() -> None:
    body = payload("message", "text")
    value = body["entry"][0]["changes"][0]["value"]
    second = {**value["messages"][0], "id": "wamid.second"}
    value["messages"].append(second)
    value["statuses"] = [{"id": "wamid.s", "status": "delivered", "timestamp": "1", "recipient_id": "1"}]
    body["entry"].append(json.loads(json.dumps(body["entry"][0])))
    parsed = meta.parse(encode(body))
    assert len(parsed.messages) == 4
    assert len(parsed.statuses) == 2


def test_unknown_future_type_is_kept_as_unknown() -> None:
    body = payload("message", "text")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = "hologram"
    message["hologram"] = {"depth": 3}
    del message["text"]
    (parsed,) = meta.parse(encode(body)).messages
    assert parsed.type is MessageType.UNKNOWN
    assert parsed.content["hologram"] == {"depth": 3}
    assert parsed.content["original_type"] == "hologram"


def test_contact_with_user_id_and_no_phone_number() -> None:
    body = payload("message", "text")
    value = body["entry"][0]["changes"][0]["value"]
    del value["contacts"][0]["wa_id"]
    message = value["messages"][0]
    del message["from"]
    message["from_user_id"] = "US.13491208655302741918"
    (parsed,) = meta.parse(encode(body)).messages
    assert parsed.contact.wa_id is None
    assert parsed.contact.user_id == "US.13491208655302741918"
    assert parsed.contact.name == "Test Name"


def test_other_fields_are_kept_as_other_events() -> None:
    samples = json.loads((DATA / "meta-webhooks" / "template_status_update.json").read_text())
    parsed = meta.parse(encode(next(iter(samples.values()))))
    assert parsed.others and parsed.others[0].field == "message_template_status_update"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"entry": 5}',
        b'{"entry": [5]}',
        b'{"entry": [{"changes": [{"field": "messages"}]}]}',
        b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": [{}]}}]}]}',
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_raise_malformed_payload(body: bytes) -> None:
    with pytest.raises(meta.MalformedPayload):
        meta.parse(body)
