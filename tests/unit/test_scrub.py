"""Scrubbing a person out of raw webhook bodies: what is theirs goes, what others said stays and still parses."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.support import DATA, payload
from wahub.webhook import meta, scrub

PERSON = scrub.Person(
    ids=frozenset({"972987654321", "US.13491208655302741918"}), names=frozenset({"Test Name"}), wamids=frozenset()
)
OTHER = "14155550102"


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


def test_a_body_holding_only_their_message_is_dropped() -> None:
    assert scrub.scrub_body("meta", body(payload("message", "text")), PERSON) is None


def test_a_body_not_about_them_is_returned_as_it_is() -> None:
    other = scrub.Person(ids=frozenset({"4915100000000"}), names=frozenset({"Nobody"}))
    raw = body(payload("message", "text"))
    assert scrub.scrub_body("meta", raw, other) is raw


def test_in_a_batch_their_message_and_contact_go_and_the_others_stay_and_parse() -> None:
    batch = payload("message", "text")
    value = batch["entry"][0]["changes"][0]["value"]
    theirs = value["messages"][0]
    mine = copy.deepcopy(theirs) | {"from": OTHER, "id": "wamid.other", "text": {"body": "Test Name said hi"}}
    mine["context"] = {"from": "972987654321", "id": "wamid.xyzxyz"}
    value["messages"].append(mine)
    value["contacts"].append({"profile": {"name": "Bo"}, "wa_id": OTHER})
    person = scrub.Person(PERSON.ids, PERSON.names, wamids=frozenset({"wamid.xyzxyz"}))
    scrubbed = scrub.scrub_body("meta", body(batch), person)
    assert scrubbed is not None
    for gone in (b"972987654321", b"US.1349", b"Body Text", b"wamid.xyzxyz", b'"Test Name"'):
        assert gone not in scrubbed, gone
    parsed = meta.parse(scrubbed)
    assert [m.provider_id for m in parsed.messages] == ["wamid.other"]
    assert parsed.messages[0].contact.name == "Bo"
    assert parsed.messages[0].content["text"] == {"body": "Test Name said hi"}  # a text is not a name
    assert parsed.messages[0].content["context"] == {"from": scrub.MARKER, "id": scrub.MARKER}


def test_a_status_of_a_message_to_them_goes_and_a_twilio_form_naming_them_is_dropped() -> None:
    status = next(iter(json.loads((DATA / "meta-webhooks" / "message_status.json").read_text()).values()))
    value = status["entry"][0]["changes"][0]["value"]
    recipient = value["statuses"][0]["recipient_id"]
    person = scrub.Person(frozenset({recipient}), frozenset())
    assert scrub.scrub_body("meta", body(status), person) is None
    form = f"From=whatsapp%3A%2B{recipient}&Body=hello&MessageSid=SM1".encode()
    assert scrub.scrub_body("twilio", form, person) is None
