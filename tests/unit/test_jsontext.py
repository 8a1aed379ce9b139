"""JSON text as wahub stores it (``store/jsontext.py``): orjson's compact form, and the stdlib's where orjson
refuses what JSON and the stdlib take, so no webhook's payload fails to be stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from wahub.store import jsontext


def test_compact_and_unescaped() -> None:
    value = {"text": "olá 👋", "n": [1, 2.5, None, True], "nested": {"a": {}}}
    written = jsontext.dumps(value)
    assert written == '{"text":"olá 👋","n":[1,2.5,null,true],"nested":{"a":{}}}'
    assert json.loads(written) == value


def test_an_integer_wider_than_64_bits_is_kept() -> None:
    """Meta's payloads are JSON, whose numbers have no width: one that orjson cannot write goes through the stdlib."""
    value = {"id": 2**70, "ok": "yes"}
    assert json.loads(jsontext.dumps(value)) == value


def test_keys_that_are_not_strings_are_written_as_the_stdlib_writes_them() -> None:
    assert json.loads(jsontext.dumps({1: "a", "b": 2})) == {"1": "a", "b": 2}


def test_times_go_through_default_not_orjsons_own_form() -> None:
    at = datetime(2026, 12, 2, 18, 0, 5, tzinfo=UTC)
    assert jsontext.dumps({"at": at}, default=lambda t: t.replace(tzinfo=None).isoformat()) == (
        '{"at":"2026-12-02T18:00:05"}'
    )
    with pytest.raises(TypeError):
        jsontext.dumps({"at": at})


def test_a_lone_surrogate_from_a_parsed_payload_is_kept() -> None:
    """The stdlib's parser takes ``\\ud800`` (a user's text cut inside an emoji); orjson will not write it."""
    value = json.loads('{"text": "a\\ud800b"}')
    assert json.loads(jsontext.dumps(value)) == value
