"""Built-in message templates (each app starts with a copy, `FakeState.templates`), `GET
/{waba_id}/message_templates` paging, and template-send checks.

Shapes follow https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates/
"""

from __future__ import annotations

import re
from typing import Any

from fakegraph import errors, ids

_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
DEFAULT_PAGE_SIZE = 25

TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "hello_world",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "id": "1192339204654487",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Hello World"},
            {
                "type": "BODY",
                "text": "Welcome and congratulations!! This message demonstrates your ability "
                "to send a WhatsApp message notification from the Cloud API, hosted by Meta. Thank you for "
                "taking the time to test with us.",
            },
            {"type": "FOOTER", "text": "WhatsApp Business Platform sample message"},
        ],
    },
    {
        "name": "seasonal_promotion",
        "language": "en_US",
        "status": "APPROVED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "id": "920070352646140",
        "components": [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Our {{1}} is on!",
                "example": {"header_text": ["Summer Sale"]},
            },
            {
                "type": "BODY",
                "text": "Shop now through {{1}} and use code {{2}} to get {{3}} off of all merchandise.",
                "example": {"body_text": [["the end of August", "25OFF", "25%"]]},
            },
            {"type": "FOOTER", "text": "Not interested? Tap Stop promotions"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop promotions"}]},
        ],
    },
    {
        "name": "order_shipped",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "id": "1403547297061285",
        "components": [
            {
                "type": "HEADER",
                "format": "IMAGE",
                "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARZExampleHandle"]},
            },
            {
                "type": "BODY",
                "text": "Hi {{1}}, your order {{2}} is on its way and should arrive by {{3}}.",
                "example": {"body_text": [["Ana", "#10234", "Friday"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Track order",
                        "url": "https://example.com/track/{{1}}",
                        "example": ["https://example.com/track/10234"],
                    },
                ],
            },
        ],
    },
    {
        "name": "order_shipped",
        "language": "es",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "id": "1403547297061286",
        "components": [
            {
                "type": "HEADER",
                "format": "IMAGE",
                "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARZExampleHandle"]},
            },
            {
                "type": "BODY",
                "text": "Hola {{1}}, tu pedido {{2}} va en camino y llegará el {{3}}.",
                "example": {"body_text": [["Ana", "#10234", "viernes"]]},
            },
        ],
    },
    {
        "name": "appointment_reminder",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "id": "774093341240126",
        "components": [
            {
                "type": "BODY",
                "text": "Reminder: your appointment with {{1}} is on {{2}}. Reply to reschedule.",
                "example": {"body_text": [["Dr. Lee", "May 3 at 10:00"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Confirm"},
                    {"type": "QUICK_REPLY", "text": "Reschedule"},
                ],
            },
        ],
    },
    {
        "name": "verification_code",
        "language": "en_US",
        "status": "APPROVED",
        "category": "AUTHENTICATION",
        "parameter_format": "POSITIONAL",
        "id": "577218314952110",
        "components": [
            {
                "type": "BODY",
                "text": "*{{1}}* is your verification code. For your security, do not share this code.",
                "add_security_recommendation": True,
                "example": {"body_text": [["123456"]]},
            },
            {"type": "FOOTER", "text": "This code expires in 10 minutes.", "code_expiration_minutes": 10},
            {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
        ],
    },
    {
        "name": "spring_launch",
        "language": "en_US",
        "status": "REJECTED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "id": "631009442717833",
        "rejected_reason": "PROMOTIONAL",
        "components": [{"type": "BODY", "text": "Big news!!! Everything must go, 90% off today only!!!"}],
    },
    {
        "name": "feedback_survey",
        "language": "en_US",
        "status": "PAUSED",
        "category": "MARKETING",
        "parameter_format": "POSITIONAL",
        "id": "841255027513094",
        "components": [
            {"type": "BODY", "text": "How did we do, {{1}}? Rate us from 1 to 5.", "example": {"body_text": [["Ana"]]}}
        ],
    },
]


def page(
    base_url: str,
    rows_all: list[dict[str, Any]],
    *,
    limit: int | None,
    after: str | None,
    name: str | None,
    status: str | None,
) -> dict[str, Any]:
    """One page of templates with Graph's cursor paging (`paging.cursors`, `paging.next`)."""
    rows = [
        t for t in rows_all if (name is None or name in t["name"]) and (status is None or t["status"] == status.upper())
    ]
    size = DEFAULT_PAGE_SIZE if limit is None else limit
    if size <= 0:
        raise errors.invalid_parameter("Param limit must be a positive integer")
    start = 0
    if after is not None:
        index = ids.decode_cursor(after)
        if index is None:
            raise errors.invalid_parameter("Param after is not a valid cursor")
        start = index + 1
    chunk = rows[start : start + size]
    body: dict[str, Any] = {"data": chunk}
    if chunk:
        paging: dict[str, Any] = {
            "cursors": {"before": ids.encode_cursor(start), "after": ids.encode_cursor(start + len(chunk) - 1)}
        }
        if start + len(chunk) < len(rows):
            paging["next"] = f"{base_url}?limit={size}&after={paging['cursors']['after']}"
        if start > 0:
            paging["previous"] = f"{base_url}?limit={size}&before={paging['cursors']['before']}"
        body["paging"] = paging
    return body


def category_of(template: dict[str, Any]) -> str:
    """The pricing category a template send is billed in ('marketing', 'utility', ...)."""
    return str(template["category"]).lower()


def find(rows: list[dict[str, Any]], name: str, language: str) -> dict[str, Any] | None:
    """The template with this name and language code among ``rows`` (the state's templates), if any."""
    for template in rows:
        if template["name"] == name and template["language"] == language:
            return template
    return None


def check_send(rows: list[dict[str, Any]], template_obj: dict[str, Any]) -> dict[str, Any]:
    """Check a `template` send object against the built-in template; return the template or raise.

    Mirrors Meta: unknown name/language is 132001, paused 132015, wrong parameter counts 132000, a
    media header without its media parameter 132012.
    """
    name = str(template_obj.get("name", ""))
    language = template_obj.get("language")
    code = str(language.get("code", "")) if isinstance(language, dict) else ""
    template = find(rows, name, code)
    if template is None or template["status"] in ("REJECTED", "PENDING"):
        raise errors.GraphError(132001, details=f"template name ({name}) does not exist in {code}")
    if template["status"] == "PAUSED":
        raise errors.GraphError(132015, details=f"Template {name} is paused due to low quality")
    sent = _sent_params(template_obj)
    for component in template["components"]:
        kind = str(component["type"]).lower()
        if kind == "header" and component.get("format") in ("IMAGE", "VIDEO", "DOCUMENT"):
            media = str(component["format"]).lower()
            params = sent.get("header", [])
            if len(params) != 1 or params[0].get("type") != media:
                raise errors.GraphError(
                    132012, details=f"header: Format mismatch, expected {media.upper()}, received {_types(params)}"
                )
            continue
        if kind not in ("header", "body"):
            continue
        expected = len(set(_PLACEHOLDER.findall(str(component.get("text", "")))))
        got = len(sent.get(kind, []))
        if expected != got:
            raise errors.GraphError(
                132000,
                details=f"{kind}: number of localizable_params ({got}) does not "
                f"match the expected number of params ({expected})",
            )
    return template


def _sent_params(template_obj: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    components = template_obj.get("components") or []
    if not isinstance(components, list):
        raise errors.invalid_parameter("Param template['components'] must be an array")
    for component in components:
        if not isinstance(component, dict):
            raise errors.invalid_parameter("Param template['components'] must be an array of objects")
        params = component.get("parameters") or []
        if not isinstance(params, list):
            raise errors.invalid_parameter("Param template['components'][]['parameters'] must be an array")
        kind = str(component.get("type", "")).lower()
        if kind in ("header", "body"):
            found[kind] = [p for p in params if isinstance(p, dict)]
    return found


def _types(params: list[dict[str, Any]]) -> str:
    return ", ".join(str(p.get("type", "?")).upper() for p in params) or "NONE"
