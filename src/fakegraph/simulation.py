"""The world after Meta accepts a message: statuses over time, failures, and simulated people replying.

Timeline of an accepted message (seconds, divided by `speed`):
    0.3 sent -> 0.8 delivered -> 2.0 read -> +1.5 typing -> reply (sometimes)
or, when it cannot be delivered, 0.5 failed with Meta's `errors` array. A reply only ever follows a read.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from fakegraph import faults, ids, media, payloads, replies
from fakegraph.config import SimulatedContact
from fakegraph.delivery import StatusBatcher, WebhookDelivery
from fakegraph.state import FakeState, InboundMessage, MediaItem, SentMessage
from fakegraph.tasks import TaskSet

STATUS_DELAYS_S = (("sent", 0.3), ("delivered", 0.8), ("read", 2.0))
FAILED_DELAY_S = 0.5
TYPING_DELAY_S = 1.5


class Simulator:
    """Plays Meta's delivery pipeline and the simulated contacts for one app."""

    def __init__(self, state: FakeState, delivery: WebhookDelivery, tasks: TaskSet) -> None:
        self.state = state
        self.delivery = delivery
        self.tasks = tasks
        self.batcher = StatusBatcher(state, delivery, tasks)

    def accepted(self, message: SentMessage) -> None:
        """Start the life of a message Meta just accepted.

        Every decision is drawn now, in request order, so a seeded run does not depend on how the
        background tasks interleave.
        """
        failure = self._failure_code(message)
        reorder = failure is None and faults.roll(self.state.rng, self.state.faults.reorder_webhooks)
        reply = None
        contact = self.state.contact(message.wa_id)
        if (
            failure is None
            and self.state.config.reply
            and contact is not None
            and message.recipient_type == "individual"
        ):
            reply = replies.decide(message.type, message.payload, self.state.rng, self.state.config.reply_rate)
        self.tasks.spawn(self._timeline(message, failure, reorder, reply), name=f"timeline-{message.wamid}")

    def _failure_code(self, message: SentMessage) -> int | None:
        config, current = self.state.config, self.state.faults
        if message.wa_id in config.unreachable_numbers:
            return 131026
        if (
            config.enforce_window
            and message.recipient_type == "individual"
            and message.type != "template"
            and not self.state.window_open(message.wa_id)
        ):
            return 131047
        if faults.roll(self.state.rng, current.failed_status_rate):
            return current.failed_status_code
        return None

    def _delay(self, seconds: float) -> float:
        return seconds / max(self.state.config.speed, 1e-6)

    async def _timeline(
        self, message: SentMessage, failure: int | None, reorder: bool, reply: replies.Reply | None
    ) -> None:
        if failure is not None:
            await asyncio.sleep(self._delay(FAILED_DELAY_S))
            await self.post_status(message, "failed", failure)
            return
        if reorder:
            # Everything arrives at once, newest first: read before delivered before sent.
            await asyncio.sleep(self._delay(STATUS_DELAYS_S[-1][1]))
            for status, _ in reversed(STATUS_DELAYS_S):
                await self.post_status(message, status)
        else:
            loop = asyncio.get_running_loop()
            start = loop.time()
            for status, at in STATUS_DELAYS_S:
                await asyncio.sleep(max(0.0, start + self._delay(at) - loop.time()))
                await self.post_status(message, status)
        if reply is not None:
            await asyncio.sleep(self._delay(TYPING_DELAY_S))
            contact = self.state.contact(message.wa_id)
            if contact is not None:
                context = {"from": self.state.config.display_phone_number, "id": message.wamid}
                message.reply_wamid = await self.send_reply(contact, reply, context)

    async def post_status(self, message: SentMessage, status: str, error_code: int | None = None) -> None:
        """Record `status` on the message and post its webhook."""
        timestamp = ids.unix_now()
        record: dict[str, Any] = {"status": status, "timestamp": str(timestamp)}
        if error_code is not None:
            record["error_code"] = error_code
        message.statuses.append(record)
        value = payloads.status_value(self.state, message, status, timestamp, error_code)
        if self.state.config.webhook_batch_max > 1 and self.state.config.callback_url:
            self.batcher.add(value, message.wamid, status)
            return
        await self.delivery.post(
            payloads.envelope(self.state, value), kind="status", wamid=message.wamid, status=status
        )

    async def send_reply(self, contact: SimulatedContact, reply: replies.Reply, context: dict[str, str] | None) -> str:
        """Have `contact` answer, as an inbound message webhook; returns the new wamid."""
        if reply.kind == "image":
            item = media.store(self.state, media.sample_png(), "image/png", "photo.png")
            content = {"caption": reply.text, **inbound_media(item)}
            return await self.send_inbound(contact, "image", content, context)
        return await self.send_inbound(contact, "text", {"body": reply.text}, context)

    async def send_inbound(
        self,
        contact: SimulatedContact,
        kind: str,
        content: dict[str, Any] | None,
        context: dict[str, str] | None = None,
        *,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """Post an inbound message from `contact` now and remember it; returns its wamid.

        `extra` adds fields to the message object (for raw messages injected through the control API).
        """
        wamid = ids.new_wamid(contact.wa_id)
        message = payloads.message_object(contact.wa_id, wamid, kind, content, context=context)
        if extra:
            message.update(extra)
            message["type"] = kind
        self.state.add_inbound(
            InboundMessage(
                wamid=wamid, wa_id=contact.wa_id, type=kind, message=message, received_at=float(ids.unix_now())
            )
        )
        payload = payloads.envelope(self.state, payloads.inbound_value(contact, message))
        await self.delivery.post(payload, kind="message", wamid=wamid)
        return wamid


def inbound_media(item: MediaItem) -> dict[str, Any]:
    """The media part of an inbound webhook: id, mime_type and the base64 SHA-256 Meta puts there."""
    digest = base64.b64encode(bytes.fromhex(item.sha256)).decode()
    return {"mime_type": item.mime_type, "sha256": digest, "id": item.id}
