"""The Graph client's calls of Meta's Groups API (``GraphClient`` takes them in): create, list, info, invite link,
join requests, participants, settings, delete. Meta's group error codes are translated with the others, in
``provider/graph.py``'s tables.

https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/reference/
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from wahub import errors


class GroupCalls:
    """Groups API calls over the client's ``_call`` (its session, base URL, timeouts and error translation)."""

    async def _call(
        self, method: str, path: str, token: str | None, *, json_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError  # GraphClient's

    async def create_group(
        self, phone_number_id: str, token: str, subject: str, description: str | None, join_approval_mode: str
    ) -> str:
        """POST /{phone_number_id}/groups: Meta's request id; the group's id and invite link come by the
        ``group_lifecycle_update`` webhook that names this request."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "subject": subject}
        body["join_approval_mode"] = join_approval_mode
        if description:
            body["description"] = description
        data = await self._call("POST", f"/{phone_number_id}/groups", token, json_body=body)
        request_id = data.get("request_id")
        if not isinstance(request_id, str | int) or not str(request_id):
            raise errors.TransientProviderError("Graph API answered the group creation without a request id")
        return str(request_id)

    async def groups(self, phone_number_id: str, token: str) -> list[dict[str, Any]]:
        """GET /{phone_number_id}/groups, every page: the number's active groups (id, subject, created_at)."""
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        path: str | None = f"/{phone_number_id}/groups?limit=1024"
        while path is not None:
            data = await self._call("GET", path, token)
            items = as_dict(data.get("data")).get("groups")
            if not isinstance(items, list):
                raise errors.TransientProviderError("Graph API answered the group list without data.groups")
            found.extend(item for item in items if isinstance(item, dict))
            paging = as_dict(data.get("paging"))
            after = as_dict(paging.get("cursors")).get("after") if paging.get("next") else None
            if after is None or str(after) in seen:
                break
            seen.add(str(after))
            path = f"/{phone_number_id}/groups?limit=1024&after={urllib.parse.quote(str(after), safe='')}"
        return found

    async def group_info(self, group_id: str, token: str) -> dict[str, Any]:
        """GET /{group_id}: subject, description, join approval mode, suspended, participants."""
        fields = "subject,description,participants,join_approval_mode,suspended,creation_timestamp"
        return await self._call("GET", f"/{_id(group_id)}?fields={fields}", token)

    async def invite_link(self, group_id: str, token: str, *, reset: bool = False) -> str:
        """GET /{group_id}/invite_link, or (``reset``) POST it: a new link, the old one stops working."""
        path = f"/{_id(group_id)}/invite_link"
        if reset:
            data = await self._call("POST", path, token, json_body={"messaging_product": "whatsapp"})
        else:
            data = await self._call("GET", path, token)
        link = data.get("invite_link")
        if not isinstance(link, str) or not link:
            raise errors.TransientProviderError("Graph API answered without an invite link")
        return link

    async def join_requests(self, group_id: str, token: str) -> list[dict[str, Any]]:
        """GET /{group_id}/join_requests: the open requests (join_request_id, wa_id, creation_timestamp)."""
        data = await self._call("GET", f"/{_id(group_id)}/join_requests", token)
        items = data.get("data")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    async def answer_join_requests(
        self, group_id: str, token: str, request_ids: list[str], *, approve: bool
    ) -> dict[str, Any]:
        """POST (approve) or DELETE (reject) /{group_id}/join_requests: Meta's answer, with the requests done and
        ``failed_join_requests``."""
        body = {"messaging_product": "whatsapp", "join_requests": request_ids}
        return await self._call(
            "POST" if approve else "DELETE", f"/{_id(group_id)}/join_requests", token, json_body=body
        )

    async def remove_participants(self, group_id: str, token: str, users: list[str]) -> None:
        """DELETE /{group_id}/participants: up to 8 users by phone number or wa_id; the outcome per user comes by
        the ``group_participants_update`` webhook."""
        body = {"messaging_product": "whatsapp", "participants": [{"user": user} for user in users]}
        await self._call("DELETE", f"/{_id(group_id)}/participants", token, json_body=body)

    async def update_group(self, group_id: str, token: str, subject: str | None, description: str | None) -> None:
        """POST /{group_id}: a new subject and/or description (``group_settings_update`` confirms it)."""
        body: dict[str, Any] = {"messaging_product": "whatsapp"}
        if subject is not None:
            body["subject"] = subject
        if description is not None:
            body["description"] = description
        await self._call("POST", f"/{_id(group_id)}", token, json_body=body)

    async def delete_group(self, group_id: str, token: str) -> None:
        """DELETE /{group_id}: the group ends for every participant and the business."""
        await self._call("DELETE", f"/{_id(group_id)}", token)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(object_id: str) -> str:
    """An object id as a path segment: Meta's group ids are URL-safe base64, anything else is quoted."""
    return urllib.parse.quote(object_id, safe="")
