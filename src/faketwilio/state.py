"""The in-memory world of one faketwilio instance: messages, media, logs, faults, windows.

One `FakeState` per app (`app.state.fake`). Handlers and the simulator share one event loop, so plain dicts
are enough: nothing awaits between reading and writing these fields.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from faketwilio import ids
from faketwilio.config import ContentTemplate, FakeTwilioConfig, SimulatedContact
from faketwilio.faults import Faults

WINDOW_SECONDS = 24 * 3600


@dataclass(slots=True)
class SentMessage:
    """A message the business sent through the Messages API, with the statuses posted for it so far."""

    sid: str
    to: str  # whatsapp:+E164
    wa_id: str
    sender: str
    params: dict[str, Any]  # the form as sent (MediaUrl as a list)
    status_callback: str | None
    created_at: float
    statuses: list[dict[str, Any]] = field(default_factory=list)
    media_fetches: list[dict[str, Any]] = field(default_factory=list)
    reply_sid: str | None = None

    @property
    def status(self) -> str:
        return self.statuses[-1]["status"] if self.statuses else "queued"

    def resource(self, account_sid: str, messaging_service_sid: str | None) -> dict[str, Any]:
        """The Message resource as the REST API answers it."""
        media = self.params.get("MediaUrl") or []
        error = next((s.get("error_code") for s in reversed(self.statuses) if s.get("error_code")), None)
        return {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": self.params.get("Body", ""),
            "date_created": ids.rfc2822(self.created_at),
            "date_sent": None,
            "date_updated": ids.rfc2822(),
            "direction": "outbound-api",
            "error_code": error,
            "error_message": None,
            "from": self.sender,
            "messaging_service_sid": messaging_service_sid,
            "num_media": str(len(media)),
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}/Media.json"},
            "to": self.to,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}.json",
        }

    def to_dict(self) -> dict[str, Any]:
        """The control API's view."""
        return {
            "sid": self.sid,
            "to": self.to,
            "wa_id": self.wa_id,
            "from": self.sender,
            "body": self.params.get("Body"),
            "params": self.params,
            "status_callback": self.status_callback,
            "created_at": self.created_at,
            "statuses": list(self.statuses),
            "status": self.status,
            "media_fetches": list(self.media_fetches),
            "reply_sid": self.reply_sid,
        }


@dataclass(slots=True)
class MediaItem:
    """Bytes of an inbound medium, served at its Twilio media URL behind basic auth."""

    sid: str
    message_sid: str
    data: bytes
    content_type: str


@dataclass(slots=True)
class InboundMessage:
    """A message a simulated user sent to the business, as the form posted to the inbound URL."""

    sid: str
    wa_id: str
    params: list[tuple[str, str]]
    received_at: float


class FakeState:
    """Everything one faketwilio instance remembers; `reset()` forgets all but the configuration."""

    def __init__(self, config: FakeTwilioConfig) -> None:
        self.config = dataclasses.replace(
            config,
            api_keys=dict(config.api_keys),
            contacts=list(config.contacts),
            templates=list(config.templates),
            unreachable_numbers=list(config.unreachable_numbers),
            opted_out_numbers=list(config.opted_out_numbers),
        )
        self.rng = random.Random(config.seed)  # noqa: S311 - simulation dice, not cryptography
        self.faults = Faults()
        self.messages: OrderedDict[str, SentMessage] = OrderedDict()
        self.inbound: OrderedDict[str, InboundMessage] = OrderedDict()
        self.media: dict[str, MediaItem] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=config.log_limit)
        self.webhooks: deque[dict[str, Any]] = deque(maxlen=config.log_limit)
        self.typing: deque[dict[str, Any]] = deque(maxlen=config.log_limit)
        self.last_inbound_at: dict[str, float] = {}
        self.send_times: deque[float] = deque()
        # When each POST .../Messages.json arrived (before latency and faults): what Twilio counts.
        self.message_arrivals: deque[float] = deque(maxlen=config.max_messages)
        self._next_request_id = 1
        self._next_webhook_id = 1

    def reset(self) -> None:
        self.rng.seed(self.config.seed)
        self.faults = Faults()
        for log in (self.messages, self.inbound, self.media, self.requests, self.webhooks, self.typing):
            log.clear()
        self.last_inbound_at.clear()
        self.send_times.clear()
        self.message_arrivals.clear()

    def contact(self, wa_id: str) -> SimulatedContact | None:
        return next((c for c in self.config.contacts if c.wa_id == wa_id), None)

    def template(self, sid: str) -> ContentTemplate | None:
        return next((t for t in self.config.templates if t.sid == sid), None)

    def credentials_match(self, username: str, password: str) -> bool:
        """Basic auth as Twilio takes it: the Account SID and auth token, or an API key's SID and secret."""
        if username == self.config.account_sid:
            return password == self.config.auth_token
        return username in self.config.api_keys and self.config.api_keys[username] == password

    def add_message(self, message: SentMessage) -> None:
        self.messages[message.sid] = message
        while len(self.messages) > self.config.max_messages:
            self.messages.popitem(last=False)

    def add_inbound(self, message: InboundMessage) -> None:
        self.inbound[message.sid] = message
        self.last_inbound_at[message.wa_id] = message.received_at
        while len(self.inbound) > self.config.max_messages:
            self.inbound.popitem(last=False)

    def window_open(self, wa_id: str) -> bool:
        last = self.last_inbound_at.get(wa_id)
        return last is not None and time.time() - last < WINDOW_SECONDS

    def log_request(self, entry: dict[str, Any]) -> None:
        entry["id"] = self._next_request_id
        self._next_request_id += 1
        self.requests.append(entry)

    def log_webhook(self, entry: dict[str, Any]) -> dict[str, Any]:
        entry["id"] = self._next_webhook_id
        self._next_webhook_id += 1
        self.webhooks.append(entry)
        return entry
