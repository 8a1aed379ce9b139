"""`POST /2010-04-01/Accounts/{sid}/Messages.json` (send) and `GET …/Messages/{sid}.json` (fetch).

https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
Checks in Twilio's order: the addresses (`To`, `From` or `MessagingServiceSid`, one channel), the content
(`Body`, `MediaUrl`, or `ContentSid` with `ContentVariables`), then the account's limits and injected faults.
What WhatsApp says later (63016 outside the window, 63024 invalid recipient) arrives as a status callback.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from faketwilio import errors, faults, ids
from faketwilio.simulation import Simulator
from faketwilio.state import FakeState, SentMessage

_WHATSAPP = re.compile(r"whatsapp:\+([1-9][0-9]{6,14})")
BODY_MAX = 1600
MEDIA_MAX = 10  # MediaUrl parameters per message (WhatsApp itself takes one)


class MessageEndpoints:
    def __init__(self, state: FakeState, simulator: Simulator) -> None:
        self.state = state
        self.simulator = simulator

    async def create(self, request: Request) -> Response:
        form: dict[str, Any] = request.state.form or {}
        config = self.state.config
        to = str(form.get("To") or "")
        if not to:
            raise errors.TwilioError(21604)
        sender = str(form.get("From") or "")
        service = str(form.get("MessagingServiceSid") or "")
        if not sender and not service:
            raise errors.TwilioError(21603)
        if service and service != config.messaging_service_sid:
            raise errors.TwilioError(20404, f"Messaging Service {service}")
        sender = sender or config.sender
        if sender.startswith("whatsapp:") != to.startswith("whatsapp:"):
            raise errors.TwilioError(21910)
        if sender != config.sender:
            raise errors.TwilioError(63007, sender)
        matched = _WHATSAPP.fullmatch(to)
        if matched is None:
            raise errors.TwilioError(21211, to)
        wa_id = matched.group(1)
        self._check_content(form)
        if wa_id in config.opted_out_numbers:
            raise errors.TwilioError(21610)
        self._apply_faults()
        sid = ids.new_sid("MM" if form.get("MediaUrl") else "SM")
        message = SentMessage(
            sid=sid,
            to=to,
            wa_id=wa_id,
            sender=sender,
            params=form,
            status_callback=str(form["StatusCallback"]) if form.get("StatusCallback") else None,
            created_at=time.time(),
        )
        self.state.add_message(message)
        self.simulator.accepted(message)
        body = message.resource(config.account_sid, service or None)
        body["status"] = "accepted" if service else "queued"
        return JSONResponse(body, status_code=201)

    def _check_content(self, form: dict[str, Any]) -> None:
        body = str(form.get("Body") or "")
        media = form.get("MediaUrl") or []
        content_sid = str(form.get("ContentSid") or "")
        if not body and not media and not content_sid:
            raise errors.TwilioError(21602)
        if len(body) > BODY_MAX:
            raise errors.TwilioError(21617)
        if len(media) > MEDIA_MAX:
            raise errors.TwilioError(21623)
        for url in media:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise errors.TwilioError(21620, url)
        if content_sid:
            if self.state.template(content_sid) is None:
                raise errors.TwilioError(21655)
            raw = form.get("ContentVariables")
            if raw:
                try:
                    variables = json.loads(str(raw))
                except ValueError as exc:
                    raise errors.TwilioError(21656) from exc
                if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
                    raise errors.TwilioError(21656)

    def _apply_faults(self) -> None:
        current = self.state.faults
        if current.fail_next > 0:
            current.fail_next -= 1
            raise errors.TwilioError(current.error_code)
        if faults.roll(self.state.rng, current.error_rate):
            raise errors.TwilioError(current.error_code)
        if current.max_mps is not None:
            now = time.monotonic()
            times: deque[float] = self.state.send_times
            while times and times[0] <= now - 1.0:
                times.popleft()
            if len(times) >= current.max_mps:
                raise errors.TwilioError(20429)
            times.append(now)

    async def fetch(self, request: Request) -> Response:
        message = self.state.messages.get(request.path_params["sid"].removesuffix(".json"))
        if message is None:
            raise errors.TwilioError(20404, request.url.path)
        config = self.state.config
        return JSONResponse(message.resource(config.account_sid, config.messaging_service_sid))
