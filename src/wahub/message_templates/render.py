"""A template with a send's parameters in place of its variables: the text the recipient reads (header, body,
footer, button labels and links). Currency and date parameters read as their ``fallback_value``, the text
WhatsApp shows when it cannot localize them; a variable with no parameter stays as written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wahub.message_templates import components as comp


@dataclass(frozen=True, slots=True)
class RenderedButton:
    type: str
    text: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    header: str | None  # a text header's text
    header_media: dict[str, Any] | None  # a media or location header's parameter: {"type": "image", "link": ...}
    body: str
    footer: str | None
    buttons: list[RenderedButton]

    @property
    def text(self) -> str:
        """The whole message as plain text, parts on lines of their own."""
        lines = [self.header] if self.header else []
        lines.append(self.body)
        if self.footer:
            lines.append(self.footer)
        lines.extend(f"[{b.text}]" + (f" {b.url}" if b.url else "") for b in self.buttons)
        return "\n".join(lines)


def values(sent: Any) -> dict[str, str]:
    """The parameters of a send's ``template`` object as text, by "part-variable" ("body-1", "header-name",
    "button-0-1")."""
    found: dict[str, str] = {}
    components = sent.get("components") if isinstance(sent, dict) else None
    for component in comp.dicts(components):
        kind = str(component.get("type", "")).lower()
        if kind == "button":
            kind = f"button-{component.get('index')}"
        for n, parameter in enumerate(comp.dicts(component.get("parameters")), start=1):
            name = str(parameter.get("parameter_name") or n)
            found[f"{kind}-{name}"] = value(parameter)
    return found


def value(parameter: dict[str, Any]) -> str:
    """A parameter as the recipient reads it: its text, or a currency's or date's fallback value."""
    kind = parameter.get("type")
    if kind == "text" and isinstance(parameter.get("text"), str):
        return str(parameter["text"])
    if kind in ("payload", "coupon_code") and isinstance(parameter.get(kind), str):
        return str(parameter[kind])
    inner = parameter.get(kind) if isinstance(kind, str) else None
    fallback = inner.get("fallback_value") if isinstance(inner, dict) else None
    return str(fallback) if fallback is not None else f"[{kind}]"


def fill(text: str, part: str, found: dict[str, str]) -> str:
    return comp.PLACEHOLDER.sub(lambda m: found.get(f"{part}-{m.group(1)}", m.group(0)), text)


def render(components: Any, sent: Any) -> Rendered | None:
    """The template as the recipient reads it with the parameters of ``sent``; None without a body's text."""
    shape = comp.shape(components)
    if shape.body is None:
        return None
    found = values(sent)
    media = None
    if shape.header_format in comp.MEDIA_FORMATS or shape.header_format == "LOCATION":
        kind = shape.header_format.lower()
        for component in comp.dicts(sent.get("components") if isinstance(sent, dict) else None):
            if str(component.get("type", "")).lower() == "header":
                params = comp.dicts(component.get("parameters"))
                if params and isinstance(params[0].get(kind), dict):
                    media = {"type": kind, **params[0][kind]}
    buttons = []
    for button in shape.buttons:
        url = fill(button.url, f"button-{button.index}", found) if button.url else None
        buttons.append(RenderedButton(button.type, button.text, url))
    return Rendered(
        fill(shape.header_text, "header", found) if shape.header_text else None,
        media,
        fill(shape.body, "body", found),
        shape.footer,
        buttons,
    )
