"""Twilio's webhook signature, against Twilio's published example (tests/data/twilio-signature.json): the
official library's RequestValidator, which wahub checks callbacks with, and faketwilio's own signing, written
from Twilio's documentation, must both reproduce it."""

from __future__ import annotations

import json

from twilio.request_validator import RequestValidator

from faketwilio import signing
from tests.support import DATA

VECTOR = json.loads((DATA / "twilio-signature.json").read_text())


def test_the_official_validator_accepts_twilios_published_example() -> None:
    validator = RequestValidator(VECTOR["auth_token"])
    assert validator.validate(VECTOR["url"], VECTOR["params"], VECTOR["signature"])


def test_the_official_validator_refuses_the_example_with_one_parameter_changed() -> None:
    validator = RequestValidator(VECTOR["auth_token"])
    assert not validator.validate(VECTOR["url"], {**VECTOR["params"], "Digits": "1235"}, VECTOR["signature"])
    assert not validator.validate(VECTOR["url"].replace("foo=1", "foo=2"), VECTOR["params"], VECTOR["signature"])


def test_faketwilio_signs_twilios_published_example_identically() -> None:
    params = list(VECTOR["params"].items())
    assert signing.signature(VECTOR["auth_token"], VECTOR["url"], params) == VECTOR["signature"]
    assert signing.signature("54321", VECTOR["url"], params) != VECTOR["signature"]
