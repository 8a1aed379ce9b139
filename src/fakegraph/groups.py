"""The Groups API: create (answered with a request id; the group, its id and invite link arrive by the
`group_lifecycle_update` webhook), list, info, invite link (get, reset), join requests (list, approve, reject),
remove participants, update subject/description, delete; and the four group webhooks.

Meta's limits played here: 8 participants besides the business (131204), `max_groups` groups per number
(131211), a group must exist and be active (131041, 131207). Participants cannot be added by the business: a
simulated user joins through the invite link (`/_fake/groups/join`, in `group_control.py`), or asks to join
when the group requires approval.
https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/reference/
https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/webhooks/
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fakegraph import errors, ids
from fakegraph.delivery import WebhookDelivery
from fakegraph.graph import object_body
from fakegraph.state import FakeState
from fakegraph.tasks import TaskSet

MAX_PARTICIPANTS = 8
SUBJECT_MAX = 128
DESCRIPTION_MAX = 2048
APPROVAL_MODES = ("approval_required", "auto_approve")
INVITE_PREFIX = "https://chat.whatsapp.com/"


@dataclass(slots=True)
class FakeGroup:
    """A group of the business number, as Meta holds it."""

    id: str
    subject: str
    description: str
    join_approval_mode: str
    invite_code: str
    created_at: int
    participants: list[str] = field(default_factory=list)  # wa_ids, in joining order
    join_requests: dict[str, str] = field(default_factory=dict)  # join_request_id -> wa_id
    suspended: bool = False

    @property
    def invite_link(self) -> str:
        return INVITE_PREFIX + self.invite_code

    def info(self) -> dict[str, Any]:
        """`GET /{group_id}`'s answer (Meta's `GroupInfo`)."""
        return {
            "id": self.id,
            "messaging_product": "whatsapp",
            "subject": self.subject,
            "description": self.description,
            "join_approval_mode": self.join_approval_mode,
            "suspended": self.suspended,
            "creation_timestamp": self.created_at,
            "participants": [{"wa_id": wa_id} for wa_id in self.participants],
            "total_participant_count": len(self.participants),
        }


def group_error(code: int, title: str, details: str, http_status: int = 400) -> errors.GraphError:
    """A Groups API error body (codes from Meta's Groups error table)."""
    return errors.GraphError(code, f"(#{code}) {title}", details=details, http_status=http_status, transient=False)


def unknown_group(group_id: str) -> errors.GraphError:
    return group_error(
        131041,
        "Group unknown",
        f"The group {group_id} was not found, either because it doesn't exist or you are not a member.",
    )


def full_group() -> errors.GraphError:
    return group_error(131204, "Participant overlimit", f"Group participant size exceeds limit ({MAX_PARTICIPANTS}).")


class GroupEndpoints:
    """The Groups API of one app, with the control endpoint that makes simulated users join."""

    def __init__(self, state: FakeState, delivery: WebhookDelivery, tasks: TaskSet) -> None:
        self.state = state
        self.delivery = delivery
        self.tasks = tasks

    def known(self, object_id: str) -> FakeGroup | None:
        return self.state.groups.get(object_id)

    # --- Graph endpoints -------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        """`POST /{phone_number_id}/groups`: subject, description, join_approval_mode."""
        self._require_number(request)
        body = object_body(request)
        _check_product(body)
        subject = _subject(body.get("subject"), required=True)
        description = _description(body.get("description"))
        mode = body.get("join_approval_mode", "auto_approve")
        if mode not in APPROVAL_MODES:
            raise errors.invalid_parameter(f"Param join_approval_mode must be one of {{{', '.join(APPROVAL_MODES)}}}")
        if len(self.state.groups) >= self.state.config.max_groups:
            raise group_error(
                131211,
                "Group create limit reached",
                "Reached the limit for the maximum number of groups that can be created for this number.",
            )
        group = FakeGroup(
            id=_new_group_id(),
            subject=subject or "",
            description=description or "",
            join_approval_mode=str(mode),
            invite_code=_new_invite_code(),
            created_at=ids.unix_now(),
        )
        self.state.groups[group.id] = group
        request_id = ids.new_object_id()
        item: dict[str, Any] = {
            "timestamp": str(ids.unix_now()),
            "group_id": group.id,
            "type": "group_create",
            "request_id": request_id,
            "subject": group.subject,
            "invite_link": group.invite_link,
            "join_approval_mode": group.join_approval_mode,
        }
        if group.description:
            item["description"] = group.description
        self.post_later("group_lifecycle_update", item, group.id)
        return JSONResponse({"messaging_product": "whatsapp", "request_id": request_id})

    async def listing(self, request: Request) -> Response:
        """`GET /{phone_number_id}/groups?limit&after`: the active groups, oldest first, paged by cursor."""
        self._require_number(request)
        try:
            limit = int(request.query_params.get("limit", "25"))
        except ValueError as exc:
            raise errors.invalid_parameter("Param limit must be an integer") from exc
        if not 1 <= limit <= 1024:
            raise errors.invalid_parameter("Param limit must be between 1 and 1024")
        after = request.query_params.get("after")
        start = ids.decode_cursor(after) if after else 0
        if start is None:
            raise group_error(131059, "Invalid cursor", "The cursor has either expired or become corrupted.")
        groups = list(self.state.groups.values())
        page = groups[start : start + limit]
        items = [{"id": g.id, "subject": g.subject, "created_at": str(g.created_at)} for g in page]
        paging: dict[str, Any] = {
            "cursors": {"before": ids.encode_cursor(start), "after": ids.encode_cursor(start + len(page))}
        }
        if start + len(page) < len(groups):
            paging["next"] = f"{request.url.path}?limit={limit}&after={paging['cursors']['after']}"
        return JSONResponse({"data": {"groups": items}, "paging": paging})

    async def info(self, request: Request) -> Response:
        """`GET /{group_id}?fields=…`: the group's metadata (only the fields asked for, when asked)."""
        group = self._group(request)
        info = group.info()
        wanted = [f for f in request.query_params.get("fields", "").split(",") if f]
        if wanted:
            info = {k: v for k, v in info.items() if k in wanted or k == "id"}
        return JSONResponse(info)

    async def update(self, request: Request) -> Response:
        """`POST /{group_id}`: a new subject and/or description; `group_settings_update` says it was done."""
        group = self._group(request, active=True)
        body = object_body(request)
        _check_product(body)
        subject, description = _subject(body.get("subject")), _description(body.get("description"))
        if subject is None and description is None:
            raise errors.missing_parameter("subject")
        item: dict[str, Any] = {"timestamp": str(ids.unix_now()), "group_id": group.id, "type": "group_settings_update"}
        item["request_id"] = ids.new_object_id()
        if subject is not None:
            group.subject = subject
            item["group_subject"] = {"text": subject, "update_successful": True}
        if description is not None:
            group.description = description
            item["group_description"] = {"text": description, "update_successful": True}
        self.post_later("group_settings_update", item, group.id)
        return JSONResponse({"success": True})

    async def delete(self, request: Request) -> Response:
        """`DELETE /{group_id}`: the group ends for everyone, the business included."""
        group = self._group(request)
        del self.state.groups[group.id]
        item = {"timestamp": str(ids.unix_now()), "group_id": group.id, "type": "group_delete"}
        item["request_id"] = ids.new_object_id()
        self.post_later("group_lifecycle_update", item, group.id)
        return JSONResponse({"success": True})

    async def invite_link(self, request: Request) -> Response:
        """`GET` the invite link; `POST` resets it (the old one stops working); `DELETE` revokes it."""
        group = self._group(request, active=request.method != "GET")
        if request.method != "GET":
            _check_product(object_body(request))
            group.invite_code = _new_invite_code()
        if request.method == "DELETE":
            return JSONResponse({"messaging_product": "whatsapp", "success": True})
        return JSONResponse({"messaging_product": "whatsapp", "invite_link": group.invite_link})

    async def join_requests(self, request: Request) -> Response:
        """`GET` the open join requests; `POST` approves, `DELETE` rejects the ones named."""
        group = self._group(request, active=request.method != "GET")
        if request.method == "GET":
            data = [
                {"join_request_id": rid, "wa_id": wa_id, "creation_timestamp": group.created_at}
                for rid, wa_id in group.join_requests.items()
            ]
            return JSONResponse({"data": data, "paging": {"cursors": {"before": "", "after": ""}}})
        body = object_body(request)
        _check_product(body)
        named = body.get("join_requests")
        if not isinstance(named, list) or not named or not all(isinstance(r, str) for r in named):
            raise errors.missing_parameter("join_requests")
        done: list[str] = []
        failed: list[dict[str, Any]] = []
        approving = request.method == "POST"
        if (
            approving
            and len(group.participants) + len([r for r in named if r in group.join_requests]) > MAX_PARTICIPANTS
        ):
            raise full_group()
        for rid in named:
            wa_id = group.join_requests.pop(rid, None)
            if wa_id is None:
                failed.append({"join_request_id": rid, "errors": [errors.status_error(131009)]})
                continue
            done.append(rid)
            if approving:
                group.participants.append(wa_id)
                self.post_later("group_participants_update", joined_item(group, wa_id, "join_request"), group.id)
        key = "approved_join_requests" if approving else "rejected_join_requests"
        answer: dict[str, Any] = {"messaging_product": "whatsapp", key: done}
        if failed:
            answer["failed_join_requests"] = failed
        return JSONResponse(answer)

    async def remove_participants(self, request: Request) -> Response:
        """`DELETE /{group_id}/participants`: up to 8 users, by phone number or wa_id."""
        group = self._group(request, active=True)
        body = object_body(request)
        _check_product(body)
        named = body.get("participants")
        if not isinstance(named, list) or not named:
            raise errors.missing_parameter("participants")
        if len(named) > MAX_PARTICIPANTS:
            raise full_group()
        users = [str(p.get("user", "")) if isinstance(p, dict) else "" for p in named]
        if len(set(users)) != len(users):
            raise group_error(131202, "Duplicate participant", "Duplicate participants in the participant array input.")
        removed, failed = [], []
        for user in users:
            wa_id = "".join(c for c in user if c.isdigit())
            if wa_id in group.participants:
                group.participants.remove(wa_id)
                removed.append({"input": user, "wa_id": wa_id})
            else:
                failed.append(
                    {"input": user, "errors": [_error_item(131212, "Participant is not a part of the group")]}
                )
        item: dict[str, Any] = {
            "timestamp": str(ids.unix_now()),
            "group_id": group.id,
            "type": "group_participants_remove",
            "request_id": ids.new_object_id(),
            "initiated_by": "business",
            "removed_participants": removed,
        }
        if failed:
            item["failed_participants"] = failed
        self.post_later("group_participants_update", item, group.id)
        return JSONResponse({"success": True})

    # --- helpers -----------------------------------------------------------------------------------------

    def _require_number(self, request: Request) -> None:
        object_id = request.path_params["object_id"]
        if object_id != self.state.config.phone_number_id:
            raise errors.unknown_object(object_id, request.method.lower())

    def _group(self, request: Request, *, active: bool = False) -> FakeGroup:
        group_id = request.path_params["object_id"]
        group = self.state.groups.get(group_id)
        if group is None:
            raise unknown_group(group_id)
        if active and group.suspended:
            raise group_error(131207, "Group suspended", "The group violates platform policies.", http_status=403)
        return group

    def post_later(self, field_name: str, item: dict[str, Any], group_id: str) -> None:
        """Post a group webhook after the answer, as Meta does (the request is processed asynchronously)."""
        payload = envelope(self.state, field_name, [item])
        self.tasks.spawn(self.delivery.post(payload, kind=field_name, wamid=group_id), name=f"{field_name}-{group_id}")


def envelope(state: FakeState, field_name: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    """A group webhook: the `groups` array of one change of `field_name`, with the number's metadata."""
    config = state.config
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": config.display_phone_number, "phone_number_id": config.phone_number_id},
        "groups": groups,
    }
    change = {"value": value, "field": field_name}
    return {"object": "whatsapp_business_account", "entry": [{"id": config.waba_id, "changes": [change]}]}


def joined_item(group: FakeGroup, wa_id: str, reason: str) -> dict[str, Any]:
    return {
        "timestamp": str(ids.unix_now()),
        "group_id": group.id,
        "type": "group_participants_add",
        "reason": reason,
        "added_participants": [{"wa_id": wa_id}],
    }


def _error_item(code: int, title: str) -> dict[str, Any]:
    return {"code": code, "message": title, "title": title, "error_data": {"details": title}}


def _check_product(body: dict[str, Any]) -> None:
    if body.get("messaging_product") != "whatsapp":
        raise errors.invalid_parameter("Param messaging_product must be whatsapp")


def _subject(value: Any, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise errors.missing_parameter("subject")
    if len(value.strip()) > SUBJECT_MAX:
        raise errors.invalid_parameter(f"Param subject must be at most {SUBJECT_MAX} characters long")
    return value.strip()


def _description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.invalid_parameter("Param description must be a string")
    if len(value) > DESCRIPTION_MAX:
        raise errors.invalid_parameter(f"Param description must be at most {DESCRIPTION_MAX} characters long")
    return value


def _new_group_id() -> str:
    # Meta's group ids are base64 of "capi_group:<number>:<id>"; the shape is kept, the content is random.
    raw = f"capi_group:{secrets.randbelow(10**11)}:{secrets.randbelow(10**18)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _new_invite_code() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
