"""Subscriber webhooks: programs subscribe to wahub's events, and each event becomes one delivery per subscriber,
written in the same transaction as the change it reports (so an event is never lost, nor reported for a change
that rolled back), then POSTed by the deliverer (``worker/deliverer.py``) until the subscriber answers 2xx.

Events:
- ``message.received``: a new inbound message was stored (``data``: the message, its contact, its content in
  Meta's shape);
- ``message.status``: a message moved forward: ``accepted`` (Meta took it: its wamid is known), ``sent``,
  ``delivered``, ``read``, ``played`` or ``failed`` (with the error);
- ``account.event``: anything else Meta reported, stored once: a template's status, quality or category, the
  number's quality, account updates, a user's marketing preference, errors (``data``: Meta's ``field`` and
  its ``value`` whole).

Work that reports events collects them in a ``Collector`` and ``emit`` writes the deliveries before the
transaction commits. The same collector gathers the live stream's changes (``store/stream.py``): one point of
collection for both.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store import queues, stream
from wahub.store.crypto import Vault
from wahub.store.models import WebhookDelivery, WebhookSubscription, utcnow

MESSAGE_RECEIVED = "message.received"
MESSAGE_STATUS = "message.status"
ACCOUNT_EVENT = "account.event"
EVENT_TYPES = (MESSAGE_RECEIVED, MESSAGE_STATUS, ACCOUNT_EVENT)
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
# Every event is written once per subscriber, in the transaction of the change it reports: subscriptions
# multiply the processor's writes and the deliverer's work. 20 is several times what a business connects (a CRM,
# an ERP, analytics, a staging copy of each) and keeps an event's rows to a few dozen; a fuzzer made 371.
MAX_SUBSCRIPTIONS = 20
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of generated secrets, not a secret


@dataclass(slots=True)
class Collector:
    """The events of one unit of work: for the subscriptions that want them (id -> event types; empty: all),
    and every change for the live stream (``store/stream.py``), in one list so that a savepoint's rollback
    drops both."""

    subscriptions: dict[int, frozenset[str]]
    events: list[tuple[str, dict[str, Any]] | stream.Change] = field(default_factory=list)
    _wanted: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        # Asked once per change on the processor's path: answered from a set.
        self._wanted = frozenset(
            e for e in EVENT_TYPES if any(not types or e in types for types in self.subscriptions.values())
        )

    def wants(self, event: str) -> bool:
        """Whether a subscription wants ``event`` (with none, the common case, data need not be built)."""
        return event in self._wanted

    def add(self, event: str, data: dict[str, Any], live: Sequence[stream.Change] | None = None) -> None:
        """``event`` for the subscriptions that want it; ``live``: what it is on the live stream, when the caller
        holds more than ``data`` (``_live`` otherwise)."""
        if self.wants(event):
            self.events.append((event, data))
        self.events.extend(_live(event, data) if live is None else live)

    def live(self, changes: Iterable[stream.Change]) -> None:
        """Changes that only the live stream reports (edits, reactions, echoes, conversations)."""
        self.events.extend(changes)

    def mark(self) -> int:
        """Where the events stand now: ``rollback_to`` drops what a failed savepoint collected after it."""
        return len(self.events)

    def rollback_to(self, mark: int) -> None:
        del self.events[mark:]


def _live(event: str, data: dict[str, Any]) -> list[stream.Change]:
    """What a subscriber webhook's event is on the live stream."""
    message_id, conversation_id = data.get("message_id"), data.get("conversation_id")
    if event == MESSAGE_RECEIVED and isinstance(message_id, int) and isinstance(conversation_id, int):
        return stream.message_created(message_id, conversation_id, "inbound")
    if event == MESSAGE_STATUS and isinstance(message_id, int):
        error = data.get("error")
        failure = (error.get("code"), error.get("title")) if isinstance(error, dict) else None
        return [stream.status_tick(message_id, None, data.get("wamid"), data["status"], data.get("timestamp"), failure)]
    return []


async def collector(session: AsyncSession) -> Collector:
    """A collector for the current subscriptions (none, the common case, still collects for the live stream)."""
    rows = (await session.execute(sa.select(WebhookSubscription.id, WebhookSubscription.events))).all()
    return Collector({int(sub_id): frozenset(types or ()) for sub_id, types in rows})


async def emit(session: AsyncSession, collected: Collector | None) -> int:
    """Write a delivery per (event, subscription that wants it), in the caller's transaction, and hand the live
    stream its changes (written when the transaction commits)."""
    if collected is None or not collected.events:
        return 0
    stream.publish(session, [e for e in collected.events if isinstance(e, stream.Change)])
    now = utcnow()
    wanted = [item for item in collected.events if isinstance(item, tuple)]
    rows = [
        {
            "subscription_id": sub_id,
            "event": event,
            "payload": {"event": event, "created_at": timestamp(now), "data": data},
            "state": PENDING,
            "attempts": 0,
            "run_at": now,
            "created_at": now,
        }
        for event, data in wanted
        for sub_id, types in collected.subscriptions.items()
        if not types or event in types
    ]
    if rows:
        await session.execute(sa.insert(WebhookDelivery), rows)
    collected.events.clear()
    return len(rows)


timestamp = stream.timestamp  # a time as the API writes it: one definition for both


def message_status(
    message_id: int,
    wamid: str | None,
    status: str,
    at: datetime | None,
    error: tuple[int | None, str | None, str | None] | None = None,
) -> dict[str, Any]:
    """``message.status``'s data."""
    code, title, details = error or (None, None, None)
    return {
        "message_id": message_id,
        "wamid": wamid,
        "status": status,
        "timestamp": timestamp(at) if at is not None else None,
        "error": {"code": code, "title": title, "details": details} if error else None,
    }


# --- subscriptions ----------------------------------------------------------------------------------------


def new_secret() -> str:
    return f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"


def seal(vault: Vault, secret: str) -> str:
    """A subscription's secret as stored (encrypted under ``WAHUB_SECRET_KEY``)."""
    return vault.encrypt({"secret": secret}).decode()


def unseal(vault: Vault, sealed: str) -> str:
    return str(vault.decrypt(sealed.encode())["secret"])


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Wahub-Signature-256`` of ``body`` sent at ``timestamp`` (Unix seconds): HMAC-SHA256 of
    ``<timestamp>.<body>`` under the subscription's secret, in hex, after ``sha256=``."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


async def subscribe(
    session: AsyncSession, url: str, events: Sequence[str], description: str | None, sealed_secret: str
) -> WebhookSubscription:
    """A new subscription; ``errors.Conflict`` when there are ``MAX_SUBSCRIPTIONS`` already."""
    if session.get_bind().dialect.name == "postgresql":
        # Two subscribes at once must not both count 19 (SQLite's write transactions already take turns).
        # This mode lets readers and the deliverer through; it only queues writers of this table.
        await session.execute(sa.text("LOCK TABLE webhook_subscriptions IN SHARE ROW EXCLUSIVE MODE"))
    count = await session.scalar(sa.select(sa.func.count()).select_from(WebhookSubscription))
    if (count or 0) >= MAX_SUBSCRIPTIONS:
        raise errors.Conflict(
            f"wahub keeps at most {MAX_SUBSCRIPTIONS} webhook subscriptions; delete one you no longer use "
            "(DELETE /api/v1/webhooks/{id}), or have one subscriber pass events on to others",
            limit=MAX_SUBSCRIPTIONS,
        )
    row = WebhookSubscription(url=url, events=list(events), description=description, secret=sealed_secret)
    session.add(row)
    await session.flush()
    return row


async def subscriptions(session: AsyncSession) -> list[WebhookSubscription]:
    return list((await session.scalars(sa.select(WebhookSubscription).order_by(WebhookSubscription.id))).all())


async def targets(session: AsyncSession, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Where each of these subscriptions is delivered: id -> (url, sealed secret); gone ones are left out."""
    stmt = sa.select(WebhookSubscription.id, WebhookSubscription.url, WebhookSubscription.secret).where(
        WebhookSubscription.id.in_(list(ids))
    )
    return {int(sub_id): (url, sealed) for sub_id, url, sealed in await session.execute(stmt)}


async def subscription(session: AsyncSession, subscription_id: int) -> WebhookSubscription:
    row = await session.get(WebhookSubscription, subscription_id)
    if row is None:
        raise errors.NotFound(f"webhook subscription {subscription_id} does not exist")
    return row


async def unsubscribe(session: AsyncSession, subscription_id: int) -> None:
    """Remove a subscription and its deliveries."""
    row = await subscription(session, subscription_id)
    await session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.subscription_id == row.id))
    await session.delete(row)


# --- the delivery queue -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    subscription_id: int
    event: str
    payload: dict[str, Any]
    attempts: int


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        WebhookDelivery.state == PENDING,
        WebhookDelivery.run_at <= now,
        sa.or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
    )


async def any_due(session: AsyncSession) -> bool:
    """Whether a delivery is due: a read, so that an idle deliverer takes no write lock to find nothing."""
    return (await session.scalar(sa.select(WebhookDelivery.id).where(_due(utcnow())).limit(1))) is not None


_DELIVERIES: sa.Table = WebhookDelivery.__table__  # type: ignore[assignment]
# Leased for a while (``claimed_until``), still pending: a crashed deliverer's deliveries are due again once
# their lease runs out. Attempts are counted with each try's outcome (``record``).
QUEUE = queues.Queue(_DELIVERIES, due=_due, lease="claimed_until")


async def claim(session: AsyncSession, limit: int, lease: timedelta) -> list[Claimed]:
    """Due pending deliveries, oldest first, leased for ``lease`` (a crashed deliverer's come back after it)."""
    rows = await QUEUE.claim(session, limit, lease=lease, columns=("subscription_id", "event", "payload", "attempts"))
    return [Claimed(*row) for row in sorted(rows, key=lambda row: row.id)]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one try of a delivery came to: ``delivered``, ``failed``, or ``pending`` again at ``run_at``.
    ``error`` is wahub's own short reason ("HTTP 500", "timeout after 10 s"), never the subscriber's answer."""

    delivery_id: int
    state: str
    attempts: int
    run_at: datetime | None
    status: int | None
    error: str | None


async def record(session: AsyncSession, outcomes: Sequence[Outcome]) -> None:
    """Write what tries came to, in one statement."""
    if not outcomes:
        return
    now = utcnow()
    table = _DELIVERIES
    await QUEUE.settle(
        session,
        [
            {
                "b_id": o.delivery_id,
                "new_state": o.state,
                "new_attempts": o.attempts,
                "status": o.status,
                "error": o.error[:200] if o.error else None,
                "next_run_at": o.run_at,
                "done_at": now if o.state == DELIVERED else None,
            }
            for o in outcomes
        ],
        {
            "state": sa.bindparam("new_state"),
            "attempts": sa.bindparam("new_attempts"),
            "last_status": sa.bindparam("status"),
            "last_error": sa.bindparam("error"),
            "run_at": sa.func.coalesce(sa.bindparam("next_run_at", type_=table.c.run_at.type), table.c.run_at),
            "delivered_at": sa.bindparam("done_at", type_=table.c.delivered_at.type),
        },
    )


async def replay(
    session: AsyncSession, subscription_id: int, *, states: Sequence[str], since: datetime | None, ids: Sequence[int]
) -> int:
    """Queue deliveries of a subscription again, at once, with their attempts reset; returns how many."""
    await subscription(session, subscription_id)
    stmt = sa.update(WebhookDelivery).where(
        WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.state.in_(list(states))
    )
    if since is not None:
        stmt = stmt.where(WebhookDelivery.created_at >= since)
    if ids:
        stmt = stmt.where(WebhookDelivery.id.in_(list(ids)))
    result = await session.execute(
        stmt.values(state=PENDING, attempts=0, run_at=utcnow(), claimed_until=None, delivered_at=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def prune(session: AsyncSession, before: datetime, *, limit: int = 1_000) -> int:
    """Forget one chunk (at most ``limit``) of the deliveries done (delivered or failed) that were written
    before ``before``; returns how many, 0 when none is left."""
    done_before = sa.and_(WebhookDelivery.state.in_([DELIVERED, FAILED]), WebhookDelivery.created_at < before)
    # In id order, which is the order they were written in: the scan stops at the first ``limit`` found.
    ids = list(
        (
            await session.scalars(
                sa.select(WebhookDelivery.id).where(done_before).order_by(WebhookDelivery.id).limit(limit)
            )
        ).all()
    )
    if ids:
        await session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return len(ids)


def deliveries_of(subscription_id: int, state: str | None) -> sa.Select[tuple[WebhookDelivery]]:
    stmt = sa.select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    return stmt.where(WebhookDelivery.state == state) if state is not None else stmt
