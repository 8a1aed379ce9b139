"""`POST` and `DELETE /{waba_id}/message_templates`: creating a template (Meta answers PENDING, then reviews it)
and deleting one by name (every language) or by name and `hsm_id` (that one).

Review: a new template is APPROVED after `REVIEW_S` seconds (divided by `speed`), or REJECTED (reason
`INVALID_FORMAT`) when its name starts with `reject_`, and the `message_template_status_update` webhook says so,
shaped like Meta's (shared/conformance/meta-webhooks/template_status_update.json).
https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates/
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fakegraph import errors, ids
from fakegraph.delivery import WebhookDelivery
from fakegraph.state import FakeState
from fakegraph.tasks import TaskSet

REVIEW_S = 5.0
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")


class TemplateAdmin:
    """Creates, reviews and deletes the WABA's templates (`FakeState.templates`)."""

    def __init__(self, state: FakeState, delivery: WebhookDelivery, tasks: TaskSet) -> None:
        self.state = state
        self.delivery = delivery
        self.tasks = tasks

    async def create(self, request: Request) -> Response:
        """`POST /{waba_id}/message_templates` with name, language, category, components."""
        self._require_waba(request)
        try:
            body = await request.json()
        except ValueError as exc:
            raise errors.invalid_parameter("The request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise errors.invalid_parameter("The request body must be an object")
        for field in ("name", "language", "category", "components"):
            if field not in body:
                raise errors.missing_parameter(field)
        name, language, category = body["name"], body["language"], str(body["category"]).upper()
        if not isinstance(name, str) or not _NAME.match(name):
            raise errors.invalid_parameter("Param name must contain only lowercase characters, numbers and underscores")
        if category not in CATEGORIES:
            raise errors.invalid_parameter(f"Param category must be one of {{{', '.join(CATEGORIES)}}}")
        components = body["components"]
        if not isinstance(components, list) or not any(
            isinstance(c, dict) and str(c.get("type", "")).upper() == "BODY" for c in components
        ):
            raise errors.invalid_parameter("Param components must contain a BODY component")
        if any(t["name"] == name and t["language"] == language for t in self.state.templates):
            raise errors.GraphError(
                100,
                subcode=2388024,
                details=f"Content in this language already exists: {name} ({language})",
            )
        template = {
            "name": name,
            "language": str(language),
            "status": "PENDING",
            "category": category,
            "parameter_format": str(body.get("parameter_format") or "POSITIONAL").upper(),
            "id": ids.new_object_id(),
            "components": components,
        }
        self.state.templates.append(template)
        self.tasks.spawn(self._review(template), name=f"template-review-{template['id']}")
        return JSONResponse({"id": template["id"], "status": "PENDING", "category": category})

    async def delete(self, request: Request) -> Response:
        """`DELETE /{waba_id}/message_templates?name=…[&hsm_id=…]`."""
        self._require_waba(request)
        name = request.query_params.get("name")
        if not name:
            raise errors.missing_parameter("name")
        hsm_id = request.query_params.get("hsm_id")
        doomed = [t for t in self.state.templates if t["name"] == name and (hsm_id is None or t["id"] == hsm_id)]
        if not doomed:
            raise errors.GraphError(100, subcode=2593002, details=f"Message template not found: {name}")
        self.state.templates = [t for t in self.state.templates if not any(t is d for d in doomed)]
        return JSONResponse({"success": True})

    async def _review(self, template: dict[str, Any]) -> None:
        await asyncio.sleep(REVIEW_S / max(self.state.config.speed, 1e-6))
        if not any(t is template for t in self.state.templates):
            return  # deleted while under review
        rejected = template["name"].startswith("reject_")
        template["status"] = "REJECTED" if rejected else "APPROVED"
        if rejected:
            template["rejected_reason"] = "INVALID_FORMAT"
        await self.delivery.post(status_update(self.state, template), kind="template_status", wamid=template["id"])

    async def set_status(self, request: Request) -> Response:
        """`POST /_fake/templates/status` with name, language and status (PAUSED, DISABLED, APPROVED...): Meta
        changing a template's status by itself (its quality fell, a policy review), and the
        `message_template_status_update` webhook that says so (sent once the answer is given)."""
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(body, dict) or not all(isinstance(body.get(k), str) for k in ("name", "language", "status")):
            return JSONResponse({"error": "give name, language and status (strings)"}, status_code=400)
        found = [t for t in self.state.templates if t["name"] == body["name"] and t["language"] == body["language"]]
        if not found:
            return JSONResponse({"error": f"no template {body['name']} in {body['language']}"}, status_code=404)
        template = found[0]
        template["status"] = body["status"].upper()
        hook = status_update(self.state, template)
        self.tasks.spawn(self.delivery.post(hook, kind="template_status", wamid=template["id"]), name="template-status")
        return JSONResponse({"id": template["id"], "status": template["status"]})

    def _require_waba(self, request: Request) -> None:
        object_id = request.path_params["object_id"]
        if object_id != self.state.config.waba_id:
            raise errors.unknown_object(object_id, request.method.lower())


def status_update(state: FakeState, template: dict[str, Any]) -> dict[str, Any]:
    """The `message_template_status_update` webhook of ``template``'s current status."""
    value: dict[str, Any] = {
        "event": template["status"],
        "message_template_id": int(template["id"]),
        "message_template_name": template["name"],
        "message_template_language": template["language"],
        "reason": template.get("rejected_reason") or "NONE",
        "message_template_category": template["category"],
    }
    change = {"value": value, "field": "message_template_status_update"}
    entry = {"id": state.config.waba_id, "time": ids.unix_now(), "changes": [change]}
    return {"entry": [entry], "object": "whatsapp_business_account"}
