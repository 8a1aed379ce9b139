"""What a template's components (Meta's list: ``HEADER``, ``BODY``, ``FOOTER``, ``BUTTONS``) ask of a send: its
variables (``{{1}}`` or ``{{name}}``) and the parameter each needs. Tolerant of shape: a template stored from a
webhook may have any list, and what does not read as a component is left out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")
BODY_TYPES = frozenset({"text", "currency", "date_time"})


@dataclass(frozen=True, slots=True)
class Button:
    """A template button: its ``index`` (how a send names it), Meta's ``type``, the ``sub_type`` a send's
    button component gives, and the variables its parameter fills (none: the send may leave it out)."""

    index: int
    type: str
    text: str
    sub_type: str
    variables: tuple[str, ...]
    url: str | None = None
    required: bool = False


@dataclass(frozen=True, slots=True)
class Shape:
    """The parts of a template a send fills: the header's format and variables, the body's variables, the
    buttons; ``named`` when its variables have names rather than numbers."""

    header_format: str | None
    header_text: str | None
    header_variables: tuple[str, ...]
    body: str | None
    body_variables: tuple[str, ...]
    footer: str | None
    buttons: tuple[Button, ...]

    @property
    def named(self) -> bool:
        return any(not v.isdigit() for v in self.header_variables + self.body_variables)


def variables(text: str) -> tuple[str, ...]:
    """The variables of ``text``, each once, in order of first appearance."""
    return tuple(dict.fromkeys(PLACEHOLDER.findall(text)))


def dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def by_type(components: Any) -> dict[str, dict[str, Any]]:
    """The components by their upper-case type (the first of each)."""
    found: dict[str, dict[str, Any]] = {}
    for component in dicts(components):
        found.setdefault(str(component.get("type", "")).upper(), component)
    return found


def shape(components: Any) -> Shape:
    parts = by_type(components)
    head = parts.get("HEADER")
    header_format = header_text = None
    header_vars: tuple[str, ...] = ()
    if head is not None:
        header_format = str(head.get("format") or "TEXT").upper()
        if header_format == "TEXT" and isinstance(head.get("text"), str):
            header_text = head["text"]
            header_vars = variables(head["text"])
    body = parts.get("BODY", {}).get("text")
    footer = parts.get("FOOTER", {}).get("text")
    buttons = tuple(_button(i, b) for i, b in enumerate(dicts(parts.get("BUTTONS", {}).get("buttons"))))
    return Shape(
        header_format,
        header_text,
        header_vars,
        body if isinstance(body, str) else None,
        variables(body) if isinstance(body, str) else (),
        footer if isinstance(footer, str) else None,
        buttons,
    )


def _button(index: int, button: dict[str, Any]) -> Button:
    kind = str(button.get("type", "")).upper()
    text = str(button.get("text") or kind.replace("_", " ").title())
    url = button.get("url") if isinstance(button.get("url"), str) else None
    if kind == "URL":
        found = variables(url) if url else ()
        return Button(index, kind, text, "url", found, url, required=bool(found))
    if kind == "COPY_CODE":
        return Button(index, kind, text, "copy_code", ("coupon_code",), required=True)
    if kind == "OTP" and str(button.get("otp_type", "")).upper() != "ZERO_TAP":
        # An authentication template's code button: the send gives the code as a url button's text parameter.
        return Button(index, kind, text, "url", ("1",), required=True)
    if kind == "FLOW":
        return Button(index, kind, text, "flow", ())
    if kind == "QUICK_REPLY":
        return Button(index, kind, text, "quick_reply", ())
    return Button(index, kind, text, kind.lower(), ())
