"""A new template checked against Meta's rules before it is submitted, so that a mistake gets a 422 naming it
at once rather than a rejection from Meta minutes later: the name (lowercase letters, digits and underscores, at
most 512), one body and at most one header, footer and buttons component, their length and count limits, the
variables (``{{1}}``, ``{{2}}``… in order, or named ``{{first_name}}``, never both) and an example for each.
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components
"""

from __future__ import annotations

import re
from typing import Any

from wahub import errors
from wahub.message_templates import components as comp

NAME = re.compile(r"^[a-z0-9_]{1,512}$")
NAMED_VARIABLE = re.compile(r"^[a-z][a-z0-9_]*$")
LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
HEADER_MAX, BODY_MAX, FOOTER_MAX = 60, 1024, 60
BUTTONS_MAX, BUTTON_TEXT_MAX, URL_MAX, PHONE_MAX, COUPON_MAX = 10, 25, 2000, 20, 15
# At most this many buttons of a kind (Meta's limits on combinations).
KIND_MAX = {"URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1}
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW", "CATALOG", "MPM")


def check(body: dict[str, Any]) -> None:
    """Raise ``InvalidInput`` naming the first of Meta's rules ``body`` (a ``POST /{waba_id}/message_templates``
    body) breaks."""
    name = body.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise _refused("name", "lowercase letters, digits and underscores only, 1 to 512 characters")
    if not isinstance(body.get("language"), str) or not LANGUAGE.match(body["language"]):
        raise _refused("language", "a language code such as en_US, es or pt_BR")
    if body.get("category") not in CATEGORIES:
        raise _refused("category", f"one of {', '.join(CATEGORIES)}")
    items = body.get("components")
    if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
        raise _refused("components", "a list of components (HEADER, BODY, FOOTER, BUTTONS)")
    seen: set[str] = set()
    for n, component in enumerate(items):
        kind = str(component.get("type", "")).upper()
        if kind not in ("HEADER", "BODY", "FOOTER", "BUTTONS"):
            raise _refused(f"components[{n}].type", "HEADER, BODY, FOOTER or BUTTONS")
        if kind in seen:
            raise _refused(f"components[{n}]", f"a template has at most one {kind} component")
        seen.add(kind)
    if "BODY" not in seen:
        raise _refused("components", "a template needs a BODY component")
    named: list[bool] = []
    parts = comp.by_type(items)
    if "HEADER" in parts:
        _header(parts["HEADER"], named)
    _body(parts["BODY"], named)
    if "FOOTER" in parts:
        _text("FOOTER", parts["FOOTER"], FOOTER_MAX)
        if comp.variables(parts["FOOTER"]["text"]):
            raise _refused("FOOTER.text", "a footer takes no variables")
    if "BUTTONS" in parts:
        _buttons(parts["BUTTONS"])
    declared = str(body.get("parameter_format") or "").upper()
    if declared and named and declared != ("NAMED" if named[0] else "POSITIONAL"):
        raise _refused("parameter_format", f"is {declared} but the variables are {'named' if named[0] else 'numbered'}")


def _text(part: str, component: dict[str, Any], limit: int) -> str:
    text = component.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _refused(f"{part}.text", "required")
    if len(text) > limit:
        raise _refused(f"{part}.text", f"at most {limit} characters, got {len(text)}")
    return text


def _header(component: dict[str, Any], named: list[bool]) -> None:
    fmt = str(component.get("format") or "").upper()
    if fmt not in HEADER_FORMATS:
        raise _refused("HEADER.format", f"one of {', '.join(HEADER_FORMATS)}")
    example: dict[str, Any] = component["example"] if isinstance(component.get("example"), dict) else {}
    if fmt in comp.MEDIA_FORMATS:
        handles = example.get("header_handle")
        if not isinstance(handles, list) or not handles:
            raise _refused("HEADER.example.header_handle", f"a {fmt.lower()} header needs an example media handle")
        return
    if fmt == "LOCATION":
        return
    text = _text("HEADER", component, HEADER_MAX)
    found = _variables("HEADER", text, named)
    if len(found) > 1:
        raise _refused("HEADER.text", "a header takes at most one variable")
    if found:
        _examples("HEADER", found, example, "header_text", named_key="header_text_named_params")


def _body(component: dict[str, Any], named: list[bool]) -> None:
    text = _text("BODY", component, BODY_MAX)
    found = _variables("BODY", text, named)
    if found:
        stripped = text.strip()
        if comp.PLACEHOLDER.match(stripped) or re.search(r"\{\{\s*\w+\s*\}\}$", stripped):
            raise _refused("BODY.text", "a variable cannot be at the start or the end of the body")
        if re.search(r"\}\}\s*\{\{", text):
            raise _refused("BODY.text", "variables need text between them ({{1}}{{2}} is refused)")
        example: dict[str, Any] = component["example"] if isinstance(component.get("example"), dict) else {}
        _examples("BODY", found, example, "body_text", named_key="body_text_named_params")


def _variables(part: str, text: str, named: list[bool]) -> tuple[str, ...]:
    """The variables of ``text``, checked: numbered 1, 2, 3… in order of first appearance, or all named (lowercase
    letters, digits, underscores); never both, in this part or across the template."""
    found = comp.variables(text)
    if not found:
        return found
    numbered = [v.isdigit() for v in found]
    if any(numbered) and not all(numbered):
        raise _refused(f"{part}.text", "variables are all numbered ({{1}}) or all named ({{name}}), not both")
    is_named = not numbered[0]
    if named and named[0] != is_named:
        raise _refused(f"{part}.text", "variables are all numbered ({{1}}) or all named ({{name}}), not both")
    named.append(is_named)
    if is_named:
        for v in found:
            if not NAMED_VARIABLE.match(v):
                raise _refused(
                    f"{part}.text", f"{{{{{v}}}}}: a named variable is lowercase letters, digits, underscores"
                )
    else:
        expected = [str(i) for i in range(1, len(found) + 1)]
        if list(found) != expected:
            raise _refused(
                f"{part}.text",
                f"numbered variables go {{{{1}}}}, {{{{2}}}}… in order without gaps; found {', '.join(found)}",
            )
    return found


def _examples(part: str, found: tuple[str, ...], example: dict[str, Any], key: str, *, named_key: str) -> None:
    where = f"{part}.example"
    if not found[0].isdigit():
        given = {
            str(e.get("param_name")): e.get("example") for e in comp.dicts(example.get(named_key)) if e.get("example")
        }
        for v in found:
            if v not in given:
                raise _refused(f"{where}.{named_key}", f"an example is required for {{{{{v}}}}}")
        return
    values = example.get(key)
    if key == "body_text":
        values = values[0] if isinstance(values, list) and values and isinstance(values[0], list) else None
    if not isinstance(values, list) or len(values) < len(found):
        have = len(values) if isinstance(values, list) else 0
        missing = found[have] if have < len(found) else found[-1]
        raise _refused(f"{where}.{key}", f"an example is required for each variable: {{{{{missing}}}}} has none")
    for v, value in zip(found, values, strict=False):
        if not isinstance(value, str) or not value.strip():
            raise _refused(f"{where}.{key}", f"the example of {{{{{v}}}}} is empty")


def _buttons(component: dict[str, Any]) -> None:
    buttons = component.get("buttons")
    if not isinstance(buttons, list) or not buttons or not all(isinstance(b, dict) for b in buttons):
        raise _refused("BUTTONS.buttons", "a list of 1 to 10 buttons")
    if len(buttons) > BUTTONS_MAX:
        raise _refused("BUTTONS.buttons", f"at most {BUTTONS_MAX} buttons, got {len(buttons)}")
    counts: dict[str, int] = {}
    for n, button in enumerate(buttons):
        where = f"BUTTONS.buttons[{n}]"
        kind = str(button.get("type", "")).upper()
        if kind not in BUTTON_TYPES:
            raise _refused(f"{where}.type", f"one of {', '.join(BUTTON_TYPES)}")
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] > KIND_MAX.get(kind, BUTTONS_MAX):
            raise _refused(f"{where}.type", f"a template has at most {KIND_MAX[kind]} {kind} button(s)")
        text = button.get("text")
        if kind != "OTP" and (not isinstance(text, str) or not text.strip()):
            raise _refused(f"{where}.text", "required")
        if isinstance(text, str) and len(text) > BUTTON_TEXT_MAX:
            raise _refused(f"{where}.text", f"at most {BUTTON_TEXT_MAX} characters, got {len(text)}")
        if kind == "URL":
            _url_button(where, button)
        elif kind == "PHONE_NUMBER":
            phone = button.get("phone_number")
            if not isinstance(phone, str) or not phone or len(phone) > PHONE_MAX:
                raise _refused(f"{where}.phone_number", f"required, at most {PHONE_MAX} characters")
        elif kind == "COPY_CODE":
            code = button.get("example")
            if not isinstance(code, str) or not code or len(code) > COUPON_MAX:
                raise _refused(f"{where}.example", f"an example code is required, at most {COUPON_MAX} characters")


def _url_button(where: str, button: dict[str, Any]) -> None:
    url = button.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > URL_MAX:
        raise _refused(f"{where}.url", f"an http(s) link of at most {URL_MAX} characters")
    found = comp.variables(url)
    if len(found) > 1 or (found and not re.search(r"\{\{\s*\w+\s*\}\}$", url)):
        raise _refused(f"{where}.url", "a link takes one variable, at its end")
    if found:
        examples = button.get("example")
        if not isinstance(examples, list) or not examples or not isinstance(examples[0], str):
            raise _refused(f"{where}.example", f"an example link is required for {{{{{found[0]}}}}}")


def _refused(field: str, reason: str) -> errors.InvalidInput:
    return errors.InvalidInput(f"{field}: {reason}", field=field)
