"""Message templates as the inbox shows them: the picker's choices (each template's text cut into plain text and
the ``{{1}}`` / ``{{name}}`` variables a field fills, and those fields), and a sent template's text with its
parameters filled, for its bubble. Pure: rows in, values out; the templates escape every string.

Meta's component shapes: https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components
and how a send fills them: https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wahub.message_templates import components, render
from wahub.store.models import Template

PLACEHOLDER = components.PLACEHOLDER
MEDIA_HEADERS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a template's text: plain ``text``, or the variable ``param`` (a field's key) when set."""

    text: str
    param: str | None = None


@dataclass(frozen=True, slots=True)
class Param:
    """A field of the picker: one variable of one component, sent as a text parameter (or a header's link)."""

    key: str  # unique in its template: "header-1", "body-2", "button-0-1", "header-media"
    component: str  # header, body or button
    name: str  # the variable's name: "1", or a named parameter's name
    label: str
    example: str
    button_index: int | None = None
    media: str | None = None  # a media header's kind (image, video, document): the field takes its https link


@dataclass(frozen=True, slots=True)
class Choice:
    """A template the picker offers; ``unusable`` says why it cannot be sent from the inbox, if it cannot."""

    id: int
    name: str
    language: str
    category: str | None
    header: list[Segment]
    media_header: str | None
    body: list[Segment]
    footer: str | None
    buttons: list[str]
    params: list[Param]
    named: bool  # Meta's named parameters ({{first_name}}): each is sent with its parameter_name
    unusable: str | None


def choice(row: Template) -> Choice | None:
    """What the picker shows of a template; None when wahub does not have its text (no BODY component)."""
    parts = {str(c.get("type", "")).upper(): c for c in _dicts(row.components)}
    body = parts.get("BODY")
    if body is None or not isinstance(body.get("text"), str):
        return None
    params: list[Param] = []
    header, media_header, unusable = [], None, None
    if (head := parts.get("HEADER")) is not None:
        fmt = str(head.get("format") or "TEXT").upper()
        if fmt == "TEXT":
            header = _segments("header", str(head.get("text") or ""), params, _examples(head, "header_text"))
        elif fmt in MEDIA_HEADERS:
            media_header = MEDIA_HEADERS[fmt]
            label = f"Header {media_header}: an https link to the file"
            params.append(Param("header-media", "header", "", label, "https://", media=media_header))
        else:
            unusable = f"its {fmt.lower()} header cannot be filled in the inbox"
    body_examples = _examples(body, "body_text")
    body_segments = _segments("body", body["text"], params, body_examples)
    footer = parts.get("FOOTER", {}).get("text")
    buttons = []
    for index, button in enumerate(_dicts(parts.get("BUTTONS", {}).get("buttons"))):
        buttons.append(str(button.get("text") or button.get("type") or "Button"))
        url = button.get("url")
        if str(button.get("type", "")).upper() == "URL" and isinstance(url, str) and PLACEHOLDER.search(url):
            examples = [e for e in button.get("example") or [] if isinstance(e, str)]
            label = f"Link of “{buttons[-1]}”: {url}"
            for name in dict.fromkeys(PLACEHOLDER.findall(url)):
                params.append(Param(f"button-{index}-{name}", "button", name, label, _suffix(url, examples), index))
    named = any(not p.name.isdigit() for p in params if p.media is None)
    return Choice(
        id=row.id,
        name=row.name,
        language=row.language,
        category=row.category,
        header=header,
        media_header=media_header,
        body=body_segments,
        footer=footer if isinstance(footer, str) else None,
        buttons=buttons,
        params=params,
        named=named,
        unusable=unusable,
    )


def _segments(component: str, text: str, params: list[Param], examples: list[str]) -> list[Segment]:
    """``text`` cut at its variables; each new variable becomes a field (its example from Meta's, in order)."""
    segments, seen, at = [], {p.key for p in params}, 0
    for match in PLACEHOLDER.finditer(text):
        if match.start() > at:
            segments.append(Segment(text[at : match.start()]))
        name = match.group(1)
        key = f"{component}-{name}"
        if key not in seen:
            seen.add(key)
            count = sum(1 for p in params if p.component == component)
            example = examples[count] if count < len(examples) else ""
            label = f"{component.title()} {{{{{name}}}}}"
            params.append(Param(key, component, name, label, example))
        segments.append(Segment(match.group(0), key))
        at = match.end()
    if at < len(text):
        segments.append(Segment(text[at:]))
    return segments


def _examples(component: dict[str, Any], key: str) -> list[str]:
    example = component.get("example")
    value = example.get(key) if isinstance(example, dict) else None
    if isinstance(value, list) and value and isinstance(value[0], list):
        value = value[0]  # body_text is a list of one list
    return [str(v) for v in value] if isinstance(value, list) else []


def _suffix(url: str, examples: list[str]) -> str:
    """What Meta's example of a URL button puts in place of its variable (the end of the example link)."""
    fixed = PLACEHOLDER.split(url)[0]
    return examples[0][len(fixed) :] if examples and examples[0].startswith(fixed) else ""


@dataclass(frozen=True, slots=True)
class Filled:
    """A sent template as its recipient reads it."""

    header: str | None
    body: str
    footer: str | None
    buttons: list[str]


def filled(row: Template | None, sent: Any) -> Filled | None:
    """The text of the template ``sent`` (a message's ``template`` object) with its parameters in place of the
    variables (``message_templates/render.py``, which the API's preview uses too); None when wahub does not have
    the template's text."""
    made = render.render(row.components, sent) if row is not None and isinstance(sent, dict) else None
    if made is None:
        return None
    return Filled(made.header, made.body, made.footer, [b.text for b in made.buttons])


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
