"""The in-memory world of one fakegraph instance: messages, media, logs, faults, conversations.

One `FakeState` per app (`app.state.fake`). Handlers and the simulator run on one event loop, so plain
dicts are enough: no awaits happen between reading and writing any of these fields.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakegraph import ids, templates, tokens
from fakegraph.config import FakeGraphConfig, SimulatedContact
from fakegraph.faults import Faults

if TYPE_CHECKING:
    from fakegraph.groups import FakeGroup

CONVERSATION_SECONDS = 24 * 3600


@dataclass(slots=True)
class SentMessage:
    """A message the business sent and fakegraph accepted, with the statuses posted for it so far."""

    wamid: str
    to: str
    wa_id: str
    recipient_type: str
    type: str
    payload: dict[str, Any]
    category: str
    accepted_at: float
    statuses: list[dict[str, Any]] = field(default_factory=list)
    reply_wamid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The control API's view of the message."""
        body = self.payload.get("text", {}).get("body") if self.type == "text" else None
        return {
            "wamid": self.wamid,
            "to": self.to,
            "wa_id": self.wa_id,
            "recipient_type": self.recipient_type,
            "type": self.type,
            "body": body,
            "payload": self.payload,
            "category": self.category,
            "accepted_at": self.accepted_at,
            "statuses": list(self.statuses),
            "status": self.statuses[-1]["status"] if self.statuses else "accepted",
            "reply_wamid": self.reply_wamid,
        }


@dataclass(slots=True)
class MediaItem:
    """Bytes held for an uploaded or simulated inbound media object."""

    id: str
    data: bytes
    mime_type: str
    sha256: str
    filename: str | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        """Metadata only: the bytes stay behind the download URL."""
        return {
            "id": self.id,
            "mime_type": self.mime_type,
            "sha256": self.sha256,
            "file_size": len(self.data),
            "filename": self.filename,
            "created_at": self.created_at,
        }


@dataclass(slots=True)
class InboundMessage:
    """A message a simulated user sent to the business."""

    wamid: str
    wa_id: str
    type: str
    message: dict[str, Any]
    received_at: float
    read_by_business: bool = False


class FakeState:
    """Everything one fakegraph instance remembers; `reset()` forgets all but the configuration."""

    def __init__(self, config: FakeGraphConfig) -> None:
        # A copy, so runtime changes through /_fake/config stay inside this instance.
        self.config = dataclasses.replace(
            config, contacts=list(config.contacts), unreachable_numbers=list(config.unreachable_numbers)
        )
        self.rng = random.Random(config.seed)  # noqa: S311 - simulation dice, not cryptography
        self.faults = Faults()
        self.messages: OrderedDict[str, SentMessage] = OrderedDict()
        self.inbound: OrderedDict[str, InboundMessage] = OrderedDict()
        self.media: dict[str, MediaItem] = {}
        self.requests: deque[dict[str, Any]] = deque(maxlen=config.log_limit)
        self.webhooks: deque[dict[str, Any]] = deque(maxlen=config.log_limit)
        self.last_inbound_at: dict[str, float] = {}
        self.conversations: dict[tuple[str, str], tuple[str, int]] = {}
        self.send_times: deque[float] = deque()
        # When each POST /messages arrived (before latency and faults), and for which phone number id: what Meta
        # counts against each number's limits.
        self.message_arrivals: deque[tuple[float, str]] = deque(maxlen=config.max_messages)
        self.pair_times: dict[str, deque[float]] = {}
        # The WABA's templates: the built-in ones, then those created and deleted through the API.
        self.templates: list[dict[str, Any]] = copy.deepcopy(templates.TEMPLATES)
        # Tokens beside the configured one: exchanged, registered, expiring or revoked through /_fake/tokens.
        self.tokens = tokens.TokenBook(self.config)
        # The number's groups (`groups.py`), by group id.
        self.groups: dict[str, FakeGroup] = {}
        # The `smb_app_data` sync types asked for (coexistence): each triggers its webhooks once.
        self.syncs_requested: set[str] = set()
        self._next_request_id = 1
        self._next_webhook_id = 1

    def reset(self) -> None:
        """Forget messages, media, logs, faults and tokens; keep config and re-seed the dice."""
        self.rng.seed(self.config.seed)
        self.faults = Faults()
        self.messages.clear()
        self.inbound.clear()
        self.media.clear()
        self.requests.clear()
        self.webhooks.clear()
        self.last_inbound_at.clear()
        self.conversations.clear()
        self.send_times.clear()
        self.message_arrivals.clear()
        self.pair_times.clear()
        self.templates = copy.deepcopy(templates.TEMPLATES)
        self.tokens.grants.clear()
        self.groups.clear()
        self.syncs_requested.clear()

    def contact(self, wa_id: str) -> SimulatedContact | None:
        """The simulated contact with this wa_id, if fakegraph plays one."""
        for contact in self.config.contacts:
            if contact.wa_id == wa_id:
                return contact
        return None

    def add_message(self, message: SentMessage) -> None:
        """Remember an accepted message, dropping the oldest past `max_messages`."""
        self.messages[message.wamid] = message
        while len(self.messages) > self.config.max_messages:
            self.messages.popitem(last=False)

    def add_inbound(self, message: InboundMessage) -> None:
        """Remember a message from a simulated user; it opens that user's 24-hour window."""
        self.inbound[message.wamid] = message
        self.last_inbound_at[message.wa_id] = message.received_at
        while len(self.inbound) > self.config.max_messages:
            self.inbound.popitem(last=False)

    def window_open(self, wa_id: str) -> bool:
        """Whether the user wrote within 24 hours, so free-form messages may reach them."""
        last = self.last_inbound_at.get(wa_id)
        return last is not None and time.time() - last < CONVERSATION_SECONDS

    def conversation(self, wa_id: str, category: str) -> tuple[str, int, bool]:
        """The open conversation (id, expiration) of this recipient and category, and whether it is new."""
        now = ids.unix_now()
        key = (wa_id, category)
        current = self.conversations.get(key)
        if current is not None and current[1] > now:
            return current[0], current[1], False
        opened = (ids.new_conversation_id(), now + CONVERSATION_SECONDS)
        self.conversations[key] = opened
        return opened[0], opened[1], True

    def log_request(self, entry: dict[str, Any]) -> None:
        """Append a Graph call to the request log, numbering it."""
        entry["id"] = self._next_request_id
        self._next_request_id += 1
        self.requests.append(entry)

    def log_webhook(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append a webhook to the log and return the entry, which the sender keeps updating."""
        entry["id"] = self._next_webhook_id
        self._next_webhook_id += 1
        self.webhooks.append(entry)
        return entry
