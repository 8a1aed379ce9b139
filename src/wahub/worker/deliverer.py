"""The deliverer: POSTs the outgoing webhooks' deliveries (``store/outgoing.py``) to their subscribers, signed,
and retries with exponential backoff and jitter until the subscriber answers 2xx or the attempts run out.

Each request carries ``X-Wahub-Event``, ``X-Wahub-Delivery`` (the delivery's id: the same on every retry and
replay, so a subscriber can drop what it already has), ``X-Wahub-Timestamp`` (Unix seconds) and
``X-Wahub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>`` under the subscription's
secret: a subscriber checks the signature and refuses old timestamps, so a captured request cannot be replayed.

Delivery is at least once: a deliverer that dies between a subscriber's 2xx and its record sends that delivery
again once its lease runs out. A subscription's deliveries go one after another in the order they were
written, so a healthy subscriber sees them in order; one that failed comes again later, out of order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import defaultdict
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import wahub
from wahub.store import counters, db, outgoing
from wahub.store.crypto import Vault
from wahub.store.models import utcnow

log = logging.getLogger(__name__)

BATCH = 100
LEASE = timedelta(minutes=30)  # longer than a batch can take: BATCH tries of TIMEOUT each, in one lane
TIMEOUT = 10.0
MAX_ATTEMPTS = 15  # about 12 hours of tries
BASE_DELAY = 10.0
MAX_DELAY = 3600.0
MAX_ERROR = 300  # characters of a subscriber's answer kept with the delivery
KEEP = timedelta(days=30)  # deliveries done are kept this long, to be listed and replayed
PRUNE_EVERY = 3600.0


class Deliverer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        http: aiohttp.ClientSession,
        vault: Vault,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        base_delay: float = BASE_DELAY,
        timeout: float = TIMEOUT,
        tally: counters.Tally | None = None,
    ) -> None:
        self._sessions = sessions
        self._readers = db.sessionmaker(sessions.kw["bind"], readonly=True)
        self._http = http
        self._vault = vault
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._tally = tally if tally is not None else counters.Tally()
        self._pruned = -PRUNE_EVERY

    async def run_once(self) -> int:
        """Claim the due deliveries and try each once; returns how many it tried. Once an hour, forget the
        deliveries done more than ``KEEP`` ago."""
        if time.monotonic() - self._pruned >= PRUNE_EVERY:
            self._pruned = time.monotonic()
            async with db.transaction(self._sessions) as session:
                if pruned := await outgoing.prune(session, utcnow() - KEEP):
                    log.info("forgot old outgoing webhook deliveries", extra={"deliveries": pruned})
        async with self._readers() as session, session.begin():
            if not await outgoing.any_due(session):
                return 0
        async with db.transaction(self._sessions) as session:
            claimed = await outgoing.claim(session, BATCH, LEASE)
            if not claimed:
                return 0
            targets = {
                s.id: (s.url, outgoing.unseal(self._vault, s.secret)) for s in await outgoing.subscriptions(session)
            }
        lanes: dict[int, list[outgoing.Claimed]] = defaultdict(list)
        for delivery in claimed:
            lanes[delivery.subscription_id].append(delivery)
        await asyncio.gather(*(self._lane(targets.get(sub_id), items) for sub_id, items in lanes.items()))
        return len(claimed)

    async def _lane(self, target: tuple[str, str] | None, items: list[outgoing.Claimed]) -> None:
        for delivery in items:
            if target is None:
                continue  # unsubscribed meanwhile: its deliveries went with it
            status, error = await self._post(target, delivery)
            await self._record(delivery, status, error)

    async def _post(self, target: tuple[str, str], delivery: outgoing.Claimed) -> tuple[int | None, str | None]:
        url, secret = target
        body = json.dumps({"id": delivery.id, **delivery.payload}, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"wahub/{wahub.__version__}",
            "X-Wahub-Event": delivery.event,
            "X-Wahub-Delivery": str(delivery.id),
            "X-Wahub-Timestamp": str(timestamp),
            "X-Wahub-Signature-256": outgoing.sign(secret, timestamp, body),
        }
        try:
            async with self._http.post(url, data=body, headers=headers, timeout=self._timeout) as answer:
                if 200 <= answer.status < 300:
                    return answer.status, None
                text = (await answer.text(errors="replace"))[:MAX_ERROR]
                return answer.status, f"HTTP {answer.status}: {text}".strip()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR]

    async def _record(self, delivery: outgoing.Claimed, status: int | None, error: str | None) -> None:
        attempts = delivery.attempts + 1
        run_at: datetime | None = None
        if error is None:
            state = outgoing.DELIVERED
        elif attempts >= self._max_attempts:
            state = outgoing.FAILED
            log.warning(
                "an outgoing webhook failed for good",
                extra={"delivery_id": delivery.id, "subscription_id": delivery.subscription_id, "status": status},
            )
        else:
            state = outgoing.PENDING
            run_at = utcnow() + timedelta(seconds=self._delay(attempts))
        self._tally.count("wahub_webhook_deliveries_total", {"event": delivery.event, "result": state})
        try:
            async with db.transaction(self._sessions) as session:
                await outgoing.record(
                    session, delivery.id, state=state, attempts=attempts, run_at=run_at, status=status, error=error
                )
        except Exception:
            # Not recorded: the lease runs out and the delivery is tried again (at least once, never lost).
            log.exception("could not record an outgoing webhook's result", extra={"delivery_id": delivery.id})

    def _delay(self, attempts: int) -> float:
        ceiling = min(MAX_DELAY, self._base_delay * 2.0 ** (attempts - 1))
        return ceiling / 2 + random.random() * ceiling / 2  # noqa: S311 - jitter, not cryptography
