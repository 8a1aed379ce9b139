"""message_templates/: named parameters, button parameters and rendering, without a database."""

from __future__ import annotations

from typing import Any

import pytest

from wahub import errors
from wahub.message_templates import params, render

NAMED: list[dict[str, Any]] = [
    {"type": "HEADER", "format": "TEXT", "text": "For {{first_name}}"},
    {"type": "BODY", "text": "Hi {{first_name}}, your code {{code}} works until {{until}}."},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "QUICK_REPLY", "text": "Thanks"},
            {"type": "URL", "text": "Open", "url": "https://example.com/c/{{1}}"},
            {"type": "COPY_CODE", "example": "SAVE10"},
        ],
    },
]


def named_send(**drop: bool) -> dict[str, Any]:
    body = [
        {"type": "text", "parameter_name": "first_name", "text": "Ana"},
        {"type": "text", "parameter_name": "code", "text": "X1"},
        {"type": "date_time", "parameter_name": "until", "date_time": {"fallback_value": "May 3"}},
    ]
    components = [
        {"type": "header", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"}]},
        {"type": "body", "parameters": [p for p in body if not drop.get(p["parameter_name"])]},
        {"type": "button", "sub_type": "url", "index": 1, "parameters": [{"type": "text", "text": "abc"}]},
        {
            "type": "button",
            "sub_type": "copy_code",
            "index": 2,
            "parameters": [{"type": "coupon_code", "coupon_code": "S"}],
        },
    ]
    return {"name": "n", "language": {"code": "en"}, "components": components}


def test_named_parameters_are_matched_by_name_and_rendered() -> None:
    params.check(NAMED, named_send())
    made = render.render(NAMED, named_send())
    assert made is not None
    assert made.header == "For Ana"
    assert made.body == "Hi Ana, your code X1 works until May 3."
    assert [b.url for b in made.buttons] == [None, "https://example.com/c/abc", None]


def test_a_missing_named_parameter_is_named() -> None:
    with pytest.raises(errors.InvalidInput, match=r"\{\{code\}\} is missing"):
        params.check(NAMED, named_send(code=True))


def test_a_copy_code_button_needs_its_parameter() -> None:
    sent = named_send()
    sent["components"] = sent["components"][:3]
    with pytest.raises(errors.InvalidInput, match="button 2"):
        params.check(NAMED, sent)


def test_a_button_sent_with_another_sub_type_is_refused() -> None:
    sent = named_send()
    sent["components"][2]["sub_type"] = "quick_reply"
    with pytest.raises(errors.InvalidInput, match=r"button 1 .* is a url button"):
        params.check(NAMED, sent)
