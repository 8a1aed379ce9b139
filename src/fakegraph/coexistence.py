"""`POST /{phone_number_id}/smb_app_data`: a coexistence number's WhatsApp Business app data, and the webhooks
Meta sends after it.

https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users
Body `{"messaging_product": "whatsapp", "sync_type": "smb_app_state_sync" | "history"}`, answered with
`{"messaging_product": "whatsapp", "request_id": …}`. Each kind works once per onboarding; a repeat is answered
the same way and triggers nothing.

After `smb_app_state_sync`: `smb_app_state_sync` webhooks, one contact each (the simulated contacts).
After `history`: `history` webhooks in three phases (0: day 0-1, 1: day 1-90, 2: day 90-180), each in chunks
with `chunk_order` and an overall `progress`, delivered out of chunk order as Meta may; the messages are
a few of a chat with the first simulated contact, both ways.
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/history/
https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_app_state_sync/
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fakegraph import errors, ids
from fakegraph.delivery import WebhookDelivery
from fakegraph.graph import object_body
from fakegraph.state import FakeState
from fakegraph.tasks import TaskSet

SYNC_TYPES = ("smb_app_state_sync", "history")
DAY_S = 86_400
GAP_S = 0.2  # between two webhooks, divided by `speed`
# (phase, chunk_order, progress, days ago of its messages) in the order they are sent: phase 1's second chunk
# comes before its first, as chunks may.
HISTORY_CHUNKS = ((0, 1, 20, 0.5), (1, 2, 60, 40.0), (1, 1, 40, 60.0), (2, 1, 100, 120.0))


class CoexistenceEndpoints:
    """The `smb_app_data` endpoint of the single phone number fakegraph plays."""

    def __init__(self, state: FakeState, delivery: WebhookDelivery, tasks: TaskSet) -> None:
        self.state = state
        self.delivery = delivery
        self.tasks = tasks

    async def smb_app_data(self, request: Request) -> Response:
        """Accept a sync request and, the first time for its kind, start sending what it asks for."""
        phone_number_id = request.path_params["object_id"]
        if phone_number_id != self.state.config.phone_number_id:
            raise errors.unknown_object(phone_number_id, "post")
        body = object_body(request)
        if body.get("messaging_product") != "whatsapp":
            raise errors.invalid_parameter("messaging_product must be 'whatsapp'")
        sync_type = body.get("sync_type")
        if sync_type not in SYNC_TYPES:
            raise errors.invalid_parameter(f"sync_type must be one of {', '.join(SYNC_TYPES)}")
        if sync_type not in self.state.syncs_requested:
            self.state.syncs_requested.add(sync_type)
            send = self._history() if sync_type == "history" else self._contacts()
            self.tasks.spawn(send, name=f"coexistence-{sync_type}")
        return JSONResponse({"messaging_product": "whatsapp", "request_id": ids.new_object_id()})

    async def _contacts(self) -> None:
        for contact in self.state.config.contacts:
            first = contact.name.partition(" ")[0]
            item = {
                "type": "contact",
                "contact": {"full_name": contact.name, "first_name": first, "phone_number": contact.wa_id},
                "action": "add",
                "metadata": {"timestamp": str(ids.unix_now())},
            }
            await self._post("smb_app_state_sync", {"state_sync": [item]}, contact.wa_id)
            await self._pause()

    async def _history(self) -> None:
        contacts = self.state.config.contacts
        if not contacts:
            return
        who = contacts[0].wa_id
        business = self.state.config.display_phone_number
        for phase, chunk_order, progress, days_ago in HISTORY_CHUNKS:
            start = ids.unix_now() - int(days_ago * DAY_S)
            messages = [
                _text(who, None, start, f"Hello from {days_ago:g} days ago"),
                _text(business, who, start + 60, f"Thanks, noted ({phase}.{chunk_order})"),
            ]
            chunk = {
                "metadata": {"phase": phase, "chunk_order": chunk_order, "progress": progress},
                "threads": [{"id": who, "messages": messages}],
            }
            await self._post("history", {"history": [chunk]}, messages[0]["id"])
            await self._pause()

    async def _post(self, field: str, value: dict[str, Any], first_id: str) -> None:
        config = self.state.config
        full_value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": config.display_phone_number,
                "phone_number_id": config.phone_number_id,
            },
            **value,
        }
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": config.waba_id, "time": ids.unix_now(), "changes": [{"value": full_value, "field": field}]}
            ],
        }
        await self.delivery.post(payload, kind=field, wamid=first_id)

    async def _pause(self) -> None:
        await asyncio.sleep(GAP_S / max(self.state.config.speed, 1e-6))


def _text(sender: str, recipient: str | None, timestamp: int, body: str) -> dict[str, Any]:
    """A text message of a history thread: `to` only on what the business sent; Meta's delivery state of the
    time in `history_context`."""
    message: dict[str, Any] = {
        "from": sender,
        "id": ids.new_wamid(recipient or sender),
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": body},
        "history_context": {"status": "READ" if recipient is None else "DELIVERED"},
    }
    if recipient is not None:
        message["to"] = recipient
    return message
