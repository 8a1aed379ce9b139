"""Reading a webhook body (``meta_messages.read_json``): orjson where it gives what the stdlib gives, the stdlib
everywhere else, so every body reads as it did with ``json.loads`` alone: the same value, the same types (an
integer stays an integer however wide), the same error."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wahub.webhook import meta_messages
from wahub.webhook.meta_messages import read_json

DATA = Path(__file__).resolve().parent.parent / "data" / "meta-webhooks"


def outcome(read: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "value", read(body)
    except (ValueError, RecursionError) as exc:
        return "error", type(exc)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (``1 == 1.0`` is not good enough; NaN equals NaN); without
    recursion, for deep documents."""
    pairs = [(a, b)]
    while pairs:
        x, y = pairs.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, dict):
            if list(x) != list(y):
                return False
            pairs.extend((x[k], y[k]) for k in x)
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            pairs.extend(zip(x, y, strict=True))
        elif isinstance(x, float) and math.isnan(x):
            if not math.isnan(y):
                return False
        elif x != y:
            return False
    return True


def agrees(body: bytes) -> None:
    kind, value = outcome(read_json, body)
    expected_kind, expected = outcome(json.loads, body)
    assert kind == expected_kind, body[:200]
    assert same(value, expected) if kind == "value" else value is expected, body[:200]


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.json")))
def test_every_stored_meta_payload_reads_as_the_stdlib_reads_it(name: str) -> None:
    agrees((DATA / name).read_bytes())


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 123456789012345678901234567890}',  # beyond 64 bits: orjson would give a float
        b'{"code": -9223372036854775809}',  # one below a signed 64-bit integer's least
        b"[18446744073709551616]",  # one above an unsigned 64-bit integer's most
        b'{"a": "1234567890987654321", "b": 12345678909876543210123}',  # a quoted run first, then a wide one
        b'{"text": "\\ud800 alone"}',  # a lone surrogate, escaped: the stdlib takes it, orjson refuses
        b'{"text": "\xed\xa0\x80"}',  # the same as bytes (the stdlib decodes with surrogatepass)
        b'\xef\xbb\xbf{"a": 1}',  # a UTF-8 byte-order mark
        '{"a": "olá"}'.encode("utf-16"),  # another encoding the stdlib detects
        b'{"a": NaN, "b": Infinity, "c": -Infinity}',
        b"[1e400, -1e400, 1e-400]",
        b'{"a": 1, "a": 2}',
        b'{"a": "\xff"}',  # not UTF-8
        b"",
        b"{",
        b'{"a": 1} trailing',
        b'"\x00"',
        b"[" * 511 + b"]" * 511,
        b"[" * 513 + b"]" * 513,
        b"[" * 1023 + b"]" * 1023,  # orjson's depth; deeper than the stdlib reads here
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_what_orjson_reads_differently_or_refuses_reads_as_the_stdlib_reads_it(body: bytes) -> None:
    agrees(body)


def test_a_wide_integer_stays_an_integer() -> None:
    assert read_json(b'{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
    assert type(read_json(b"[-9223372036854775809]")[0]) is int


def test_the_guard_fires_on_wide_numbers_and_not_on_meta_s_payloads() -> None:
    """Meta's ids are strings of up to 20 digits (a WABA id has 19; a business-scoped user id holds 20 after "US."):
    its payloads take orjson's path."""
    payloads = [json.loads((DATA / name).read_bytes()) for name in sorted(p.name for p in DATA.glob("*.json"))]
    bodies = [json.dumps(example).encode() for named in payloads for example in named.values()]
    assert len(bodies) > 30 and any(b'"1234567890987654321"' in b for b in bodies)
    assert not any(meta_messages._maybe_wide(body) for body in bodies)
    assert meta_messages._maybe_wide(b'{"id": 1234567890987654321}')
    assert meta_messages._maybe_wide(b"1234567890987654321")
    assert meta_messages._maybe_wide(b'{"a": "x", "n": -1234567890987654321}')
    assert meta_messages._maybe_wide(b'{"n":\n1234567890987654321}')
    assert not meta_messages._maybe_wide(b'{"a": "123456789098765432", "n": 123456789098765432}')
    assert not meta_messages._maybe_wide(b'{"user_id": "US.13491208655302741918", "x": 1.12345678909876543210}')


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # unbounded: wider than 64 bits too
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),  # lone surrogates included
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(value=json_values, ascii_only=st.booleans())
def test_any_document_reads_as_the_stdlib_reads_it(value: Any, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    agrees(text.encode("utf-8", "surrogatepass"))
