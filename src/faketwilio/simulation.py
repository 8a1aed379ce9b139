"""The world after Twilio accepts a message: its media fetched, statuses over time, failures, and simulated
people replying.

Timeline of an accepted message (seconds, divided by `speed`): its media URLs fetched (as Twilio does, without
credentials), then 0.3 sent -> 0.8 delivered -> 2.0 read -> +1.5 a reply (sometimes); or 0.5 failed /
undelivered with an `ErrorCode`. Status callbacks and inbound messages are the form bodies Twilio posts:
https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
https://www.twilio.com/docs/messaging/guides/webhook-request (WhatsApp parameters: WaId, ProfileName...)
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import aiohttp

from faketwilio import errors, faults, ids, replies
from faketwilio.config import SimulatedContact
from faketwilio.delivery import CallbackDelivery, Form
from faketwilio.state import FakeState, InboundMessage, MediaItem, SentMessage
from faketwilio.tasks import TaskSet

STATUS_DELAYS_S = (("sent", 0.3), ("delivered", 0.8), ("read", 2.0))
FAILED_DELAY_S = 0.5
REPLY_DELAY_S = 1.5
MEDIA_TIMEOUT_S = 15.0


class Simulator:
    """Plays Twilio's delivery pipeline and the simulated contacts for one app."""

    def __init__(self, state: FakeState, delivery: CallbackDelivery, tasks: TaskSet) -> None:
        self.state = state
        self.delivery = delivery
        self.tasks = tasks

    def accepted(self, message: SentMessage) -> None:
        """Start the life of a message just accepted; every dice roll happens now, in request order."""
        failure = self._failure(message)
        reorder = failure is None and faults.roll(self.state.rng, self.state.faults.reorder_webhooks)
        reply = None
        if failure is None and self.state.config.reply and self.state.contact(message.wa_id) is not None:
            reply = replies.decide(message.params, self.state.rng, self.state.config.reply_rate)
        self.tasks.spawn(self._timeline(message, failure, reorder, reply), name=f"timeline-{message.sid}")

    def _failure(self, message: SentMessage) -> tuple[str, int] | None:
        config, current = self.state.config, self.state.faults
        if message.wa_id in config.unreachable_numbers:
            return "undelivered", 63024
        if config.enforce_window and not self.state.window_open(message.wa_id):
            template = self.state.template(str(message.params.get("ContentSid", "")))
            if template is None or not template.approved:
                return "failed", 63016
        if faults.roll(self.state.rng, current.failed_status_rate):
            return "undelivered", current.failed_status_code
        return None

    def _delay(self, seconds: float) -> float:
        return seconds / max(self.state.config.speed, 1e-6)

    async def _timeline(
        self, message: SentMessage, failure: tuple[str, int] | None, reorder: bool, reply: replies.Reply | None
    ) -> None:
        if failure is None and not await self._fetch_media(message):
            failure = ("failed", 63019)
        if failure is not None:
            await asyncio.sleep(self._delay(FAILED_DELAY_S))
            await self.post_status(message, *failure)
            return
        if reorder:
            await asyncio.sleep(self._delay(STATUS_DELAYS_S[-1][1]))
            for status, _ in reversed(STATUS_DELAYS_S):
                await self.post_status(message, status)
        else:
            loop = asyncio.get_running_loop()
            start = loop.time()
            for status, at in STATUS_DELAYS_S:
                await asyncio.sleep(max(0.0, start + self._delay(at) - loop.time()))
                await self.post_status(message, status)
        contact = self.state.contact(message.wa_id)
        if reply is not None and contact is not None:
            await asyncio.sleep(self._delay(REPLY_DELAY_S))
            message.reply_sid = await self.send_reply(contact, reply, replied_to=message.sid)

    async def _fetch_media(self, message: SentMessage) -> bool:
        """Fetch each MediaUrl as Twilio does before sending (no credentials: the URL must be public); records
        what came back. False when one could not be fetched."""
        urls = message.params.get("MediaUrl") or []
        if not urls:
            return True
        if self.delivery.session is None:
            await self.delivery.open()
        assert self.delivery.session is not None
        ok = True
        for url in urls:
            record: dict[str, Any] = {"url": url, "at": time.time()}
            try:
                timeout = aiohttp.ClientTimeout(total=MEDIA_TIMEOUT_S)
                async with self.delivery.session.get(url, timeout=timeout) as resp:
                    data = await resp.read()
                    record |= {"http_status": resp.status, "content_type": resp.headers.get("Content-Type")}
                    record |= {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                    ok = ok and resp.status == 200
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                ok = False
            message.media_fetches.append(record)
        return ok

    async def post_status(self, message: SentMessage, status: str, error_code: int | None = None) -> None:
        """Record `status` on the message and post its callback to the message's StatusCallback."""
        record: dict[str, Any] = {"status": status, "at": time.time()}
        if error_code is not None:
            record["error_code"] = error_code
        message.statuses.append(record)
        form = self.status_form(message, status, error_code)
        await self.delivery.post(message.status_callback, form, kind="status", sid=message.sid, status=status)

    def status_form(self, message: SentMessage, status: str, error_code: int | None) -> Form:
        config = self.state.config
        form: Form = [
            ("ChannelPrefix", "whatsapp"),
            ("ApiVersion", "2010-04-01"),
            ("MessageStatus", status),
            ("SmsSid", message.sid),
            ("SmsStatus", status),
            ("ChannelInstallSid", "XE" + config.account_sid[2:]),
            ("To", message.to),
            ("From", message.sender),
            ("MessageSid", message.sid),
            ("StructuredMessage", "false"),
            ("AccountSid", config.account_sid),
            ("ChannelToAddress", message.to.removeprefix("whatsapp:")),
        ]
        if config.messaging_service_sid:
            form.append(("MessagingServiceSid", config.messaging_service_sid))
        if error_code is not None:
            form += [("ErrorCode", str(error_code)), ("ErrorMessage", errors.message_of(error_code))]
        return form

    async def send_reply(self, contact: SimulatedContact, reply: replies.Reply, replied_to: str | None) -> str:
        if reply.kind == "image":
            return await self.send_inbound(
                contact, reply.text, media=[(replies.sample_png(), "image/png")], replied_to=replied_to
            )
        return await self.send_inbound(contact, reply.text, replied_to=replied_to)

    async def send_inbound(
        self,
        contact: SimulatedContact,
        body: str,
        *,
        media: list[tuple[bytes, str]] | None = None,
        replied_to: str | None = None,
        extra: Form | None = None,
        message_type: str | None = None,
    ) -> str:
        """Post an inbound message from `contact` to the inbound URL now; returns its MessageSid."""
        config = self.state.config
        media = media or []
        sid = ids.new_sid("MM" if media else "SM")
        form: Form = [
            ("SmsMessageSid", sid),
            ("NumMedia", str(len(media))),
            ("ProfileName", contact.name),
            ("MessageType", message_type or (_kind(media[0][1]) if media else "text")),
            ("SmsSid", sid),
            ("WaId", contact.wa_id),
            ("SmsStatus", "received"),
            ("Body", body),
            ("To", config.sender),
            ("NumSegments", "1"),
            ("ReferralNumMedia", "0"),
            ("MessageSid", sid),
            ("AccountSid", config.account_sid),
            ("From", f"whatsapp:+{contact.wa_id}"),
            ("ApiVersion", "2010-04-01"),
        ]
        base = (config.public_url or "").rstrip("/")
        for index, (data, content_type) in enumerate(media):
            item = MediaItem(ids.new_sid("ME"), sid, data, content_type)
            self.state.media[item.sid] = item
            url = f"{base}/2010-04-01/Accounts/{config.account_sid}/Messages/{sid}/Media/{item.sid}"
            form += [(f"MediaContentType{index}", content_type), (f"MediaUrl{index}", url)]
        if replied_to:
            form += [("OriginalRepliedMessageSender", config.sender), ("OriginalRepliedMessageSid", replied_to)]
        form += extra or []
        self.state.add_inbound(InboundMessage(sid, contact.wa_id, form, time.time()))
        await self.delivery.post(config.inbound_url, form, kind="message", sid=sid)
        return sid


def _kind(content_type: str) -> str:
    """Twilio's `MessageType` for a medium of this type."""
    major = content_type.split("/")[0]
    if content_type == "image/webp":
        return "sticker"
    return major if major in ("image", "video", "audio") else "document"
