"""`POST /{phone_number_id}/messages`: sends, mark-as-read and typing indicators.

https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
Order of checks follows Meta: the phone number id, the body, then the account's limits (injected).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fakegraph import errors, faults, groups, ids, templates, validation
from fakegraph.graph import object_body
from fakegraph.simulation import Simulator
from fakegraph.state import FakeState, SentMessage

# What Meta sends to groups: text, media and templates.
GROUP_TYPES = frozenset({"text", "image", "video", "audio", "document", "template"})


class MessageEndpoints:
    """The messages endpoint of one app."""

    def __init__(self, state: FakeState, simulator: Simulator) -> None:
        self.state = state
        self.simulator = simulator

    async def post(self, request: Request) -> Response:
        """Send a message or mark one as read, answering exactly as Meta does."""
        phone_number_id = request.path_params["object_id"]
        config = self.state.config
        if phone_number_id != config.phone_number_id and phone_number_id not in config.more_phone_number_ids:
            raise errors.unknown_object(phone_number_id, "post")
        body = object_body(request)
        if "status" in body and "type" not in body:
            return self._mark_read(body)
        send = validation.check_send(body, lambda media_id: media_id in self.state.media)
        if send.recipient_type == "group":
            self._check_group(send)
        category = self._category(send, body)
        self._apply_send_faults(send.wa_id)
        wamid = ids.new_wamid(send.wa_id)
        message = SentMessage(
            wamid=wamid,
            to=send.to,
            wa_id=send.wa_id,
            recipient_type=send.recipient_type,
            type=send.type,
            payload=body,
            category=category,
            accepted_at=time.time(),
        )
        self.state.add_message(message)
        self.simulator.accepted(message)
        sent: dict[str, Any] = {"id": wamid}
        if send.type == "template":
            sent["message_status"] = "accepted"
        return JSONResponse(
            {"messaging_product": "whatsapp", "contacts": [{"input": send.to, "wa_id": send.wa_id}], "messages": [sent]}
        )

    def _check_group(self, send: validation.SendRequest) -> None:
        """Meta's Groups rules for a group fakegraph created: active, someone besides the business in it, and a
        text, media or template message. (A group id it never created is accepted, as before groups existed.)"""
        group = self.state.groups.get(send.to)
        if group is None:
            return
        if group.suspended:
            raise groups.group_error(131207, "Group suspended", "The group violates platform policies.", 403)
        if not group.participants:
            raise groups.group_error(131020, "Bad Group", "Cannot send messages to single member groups.")
        if send.type not in GROUP_TYPES:
            raise errors.GraphError(131009, details=f"Message type {send.type} is not supported for groups.")

    def _mark_read(self, body: dict[str, Any]) -> Response:
        message_id = validation.check_read_receipt(body)
        inbound = self.state.inbound.get(message_id)
        if inbound is not None:
            inbound.read_by_business = True
        return JSONResponse({"success": True})

    def _category(self, send: validation.SendRequest, body: dict[str, Any]) -> str:
        """The pricing category: free-form messages are service; templates bill in their own category."""
        if send.type != "template":
            return "service"
        template_obj = body["template"]
        if self.state.config.strict_templates:
            return templates.category_of(templates.check_send(self.state.templates, template_obj))
        language = template_obj.get("language", {})
        known = templates.find(self.state.templates, str(template_obj.get("name")), str(language.get("code", "")))
        return templates.category_of(known) if known is not None else "utility"

    def _apply_send_faults(self, wa_id: str) -> None:
        """Raise the injected or rate-limit error this send must fail with, if any."""
        state, current = self.state, self.state.faults
        if current.fail_next > 0:
            current.fail_next -= 1
            raise self._injected(current.error_code)
        if faults.roll(state.rng, current.error_rate):
            raise self._injected(current.error_code)
        now = time.monotonic()
        if current.max_mps is not None:
            _expire(state.send_times, now - 1.0)
            if len(state.send_times) >= current.max_mps:
                raise self._injected(130429)
        if current.pair_limit is not None:
            window = state.pair_times.setdefault(wa_id, deque())
            _expire(window, now - current.pair_window_s)
            if len(window) >= current.pair_limit:
                raise self._injected(131056)
            window.append(now)
        if current.max_mps is not None:
            state.send_times.append(now)

    def _injected(self, code: int) -> errors.GraphError:
        status = self.state.faults.throttle_http_status if code in errors.THROTTLING_CODES else None
        return errors.for_code(code, http_status=status)


def _expire(times: deque[float], older_than: float) -> None:
    while times and times[0] <= older_than:
        times.popleft()
