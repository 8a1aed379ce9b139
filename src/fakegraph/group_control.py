"""fakegraph's control of its groups (`/_fake/groups…`, not Meta's API): list them, make a simulated user open
an invite link (join, or ask to when the group requires approval), suspend a group. Each change posts the group
webhook Meta would (`groups.GroupEndpoints.post_later`)."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fakegraph import errors, groups, ids
from fakegraph.groups import GroupEndpoints, joined_item


class GroupControl:
    """`/_fake/groups`, `/_fake/groups/join`, `/_fake/groups/suspend` of one app."""

    def __init__(self, groups: GroupEndpoints) -> None:
        self.groups = groups

    async def control_groups(self, request: Request) -> Response:
        """`GET /_fake/groups`: every group with its participants and open join requests."""
        rows = [
            {**g.info(), "invite_link": g.invite_link, "join_requests": dict(g.join_requests)}
            for g in self.groups.state.groups.values()
        ]
        return JSONResponse({"data": rows})

    async def control_join(self, request: Request) -> Response:
        """`POST /_fake/groups/join` `{"invite_link", "wa_id"}`: a simulated user opens the link. Meta's error
        body (HTTP 400) when the group is full or the link leads nowhere."""
        body = await _object(request)
        link, wa_id = body.get("invite_link"), body.get("wa_id")
        if not isinstance(link, str) or not isinstance(wa_id, str) or not wa_id.isdigit():
            return JSONResponse({"error": {"message": "'invite_link' and 'wa_id' (digits) are required"}}, 400)
        try:
            return JSONResponse(self.join(link, wa_id))
        except errors.GraphError as exc:
            return JSONResponse(exc.body(), status_code=exc.http_status)

    async def control_suspend(self, request: Request) -> Response:
        """`POST /_fake/groups/suspend` `{"group_id", "suspended": true|false}`: `group_status_update`."""
        body = await _object(request)
        try:
            self.suspend(str(body.get("group_id")), bool(body.get("suspended", True)))
        except errors.GraphError as exc:
            return JSONResponse(exc.body(), status_code=exc.http_status)
        return JSONResponse({"success": True})

    def join(self, invite_link: str, wa_id: str) -> dict[str, Any]:
        """A simulated user opens the invite link: joins (or asks to, when approval is required). Raises
        `GraphError` 131204 when the group is full, 131041 when the link leads nowhere."""
        group = next((g for g in self.groups.state.groups.values() if g.invite_link == invite_link), None)
        if group is None:
            raise groups.unknown_group(invite_link)
        if wa_id in group.participants:
            return {"group_id": group.id, "joined": True}
        if len(group.participants) >= groups.MAX_PARTICIPANTS:
            raise groups.full_group()
        if group.join_approval_mode == "approval_required":
            rid = base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
            group.join_requests[rid] = wa_id
            item = {
                "timestamp": str(ids.unix_now()),
                "group_id": group.id,
                "type": "group_join_request_created",
                "join_request_id": rid,
                "wa_id": wa_id,
            }
            self.groups.post_later("group_participants_update", item, group.id)
            return {"group_id": group.id, "joined": False, "join_request_id": rid}
        group.participants.append(wa_id)
        self.groups.post_later("group_participants_update", joined_item(group, wa_id, "invite_link"), group.id)
        return {"group_id": group.id, "joined": True}

    def suspend(self, group_id: str, suspended: bool) -> None:
        """WhatsApp suspends the group (or lifts it): `group_status_update`."""
        group = self.groups.state.groups.get(group_id)
        if group is None:
            raise groups.unknown_group(group_id)
        group.suspended = suspended
        kind = "group_suspend" if suspended else "group_suspend_cleared"
        self.groups.post_later(
            "group_status_update", {"timestamp": str(ids.unix_now()), "group_id": group_id, "type": kind}, group_id
        )


async def _object(request: Request) -> dict[str, Any]:
    """A control request's JSON object body (`{}` when it is not one)."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
