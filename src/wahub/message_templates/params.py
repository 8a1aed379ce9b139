"""A template send's parameters checked against the stored template's components before it is queued: how many
each of the header and body takes, of which types, and which buttons (by index) need one. Meta would refuse the
same send after the fact (132000 parameter count, 132012 format mismatch); here the client gets a 422 naming the
missing or wrong one. https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-message-templates
"""

from __future__ import annotations

from typing import Any

from wahub import errors
from wahub.message_templates import components as comp

_FIELD = "template.components"


def check(components: Any, sent: dict[str, Any]) -> None:
    """Raise ``InvalidInput`` naming the first parameter ``sent`` (a send's ``template`` object) lacks or gets
    wrong for a template with these ``components``."""
    shape = comp.shape(components)
    given = comp.dicts(sent.get("components"))
    header = _params(given, "header")
    body = _params(given, "body")
    if shape.header_format in comp.MEDIA_FORMATS or shape.header_format == "LOCATION":
        kind = shape.header_format.lower()
        if not header:
            raise _refused("header", f"the template's {kind} header needs a parameter of type {kind}")
        if len(header) > 1 or header[0].get("type") != kind:
            raise _refused("header", f"the template's header takes one {kind} parameter, got {_types(header)}")
    else:
        _variables("header", shape.header_variables, header, frozenset({"text"}))
    _variables("body", shape.body_variables, body, comp.BODY_TYPES)
    _buttons(shape, given)


def _params(given: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for component in given:
        if str(component.get("type", "")).lower() == kind:
            found.extend(comp.dicts(component.get("parameters")))
    return found


def _variables(
    part: str, names: tuple[str, ...], params: list[dict[str, Any]], types: set[str] | frozenset[str]
) -> None:
    for n, param in enumerate(params):
        if param.get("type") not in types:
            allowed = " or ".join(sorted(types))
            raise _refused(part, f"parameter {n + 1} is of type {param.get('type')!r}; the {part} takes {allowed}")
    if names and not names[0].isdigit():
        sent = {str(p.get("parameter_name")) for p in params}
        for name in names:
            if name not in sent:
                raise _refused(part, f"the {part} parameter {{{{{name}}}}} is missing (give it with parameter_name)")
        extra = sorted(sent - set(names))
        if extra:
            raise _refused(part, f"the {part} has no variable {{{{{extra[0]}}}}}")
        return
    if len(params) < len(names):
        missing = names[len(params)]
        raise _refused(
            part,
            f"the {part} parameter {{{{{missing}}}}} is missing: the {part} takes {len(names)} parameter(s), "
            f"got {len(params)}",
        )
    if len(params) > len(names):
        raise _refused(part, f"the {part} takes {len(names)} parameter(s), got {len(params)}")


def _buttons(shape: comp.Shape, given: list[dict[str, Any]]) -> None:
    by_index = {b.index: b for b in shape.buttons}
    sent: dict[int, dict[str, Any]] = {}
    for component in given:
        if str(component.get("type", "")).lower() != "button":
            continue
        raw = component.get("index")
        index = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
        if index is None or index not in by_index:
            have = ", ".join(str(i) for i in by_index) or "none"
            raise _refused("button", f"the template has no button at index {raw!r} (its buttons: {have})")
        button = by_index[index]
        sub_type = str(component.get("sub_type", "")).lower()
        if sub_type != button.sub_type:
            raise _refused(
                "button", f"button {index} (“{button.text}”) is a {button.sub_type} button, sent as {sub_type!r}"
            )
        sent[index] = component
    for button in shape.buttons:
        if button.required and button.index not in sent:
            raise _refused(
                "button",
                f"button {index_text(button)} needs a parameter (a button component with sub_type "
                f"{button.sub_type!r} and index {button.index})",
            )
        given_button = sent.get(button.index)
        if given_button is not None and button.required and not comp.dicts(given_button.get("parameters")):
            raise _refused("button", f"button {index_text(button)} needs a parameter")


def index_text(button: comp.Button) -> str:
    return f"{button.index} (“{button.text}”)"


def _types(params: list[dict[str, Any]]) -> str:
    return ", ".join(str(p.get("type")) for p in params) or "none"


def _refused(part: str, reason: str) -> errors.InvalidInput:
    return errors.InvalidInput(f"{_FIELD}: {reason}", field=f"{_FIELD}.{part}")
