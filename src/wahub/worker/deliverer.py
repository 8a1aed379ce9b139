"""The deliverer: POSTs the subscriber webhooks' deliveries (``store/subscriber_webhooks.py``) to their
subscribers, signed, and retries (``retry.WEBHOOK_DELIVERY``) until the subscriber answers 2xx or the attempts run out.

Each request carries ``X-Wahub-Event``, ``X-Wahub-Delivery`` (the delivery's id: the same on every retry and
replay, so a subscriber can drop what it already has), ``X-Wahub-Timestamp`` (Unix seconds) and
``X-Wahub-Signature-256: sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<body>`` under the subscription's
secret: a subscriber checks the signature and refuses old timestamps, so a captured request cannot be replayed.

Delivery is at least once: a deliverer that dies between a subscriber's 2xx and its record sends that delivery
again once its lease runs out. A subscription's deliveries go one after another in the order they were
written, so a healthy subscriber sees them in order; one that failed comes again later, out of order.

Subscribers may be on private addresses (they are the business's own systems), so nothing they answer is kept
or shown: a try records the status code and a reason of wahub's own ("HTTP 500", "timeout after 10 s",
"connection refused"), never the answer's body; and redirects are not followed (a 3xx is a failed try), so a
subscription cannot be pointed through one at another inside address, nor turn its POST into a GET.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import wahub
from wahub import errors
from wahub.store import counters, db, subscriber_webhooks
from wahub.store.crypto import Vault
from wahub.store.models import utcnow
from wahub.worker import retry

log = logging.getLogger(__name__)

BATCH = 100
LEASE = timedelta(minutes=30)  # longer than a batch can take: BATCH tries of TIMEOUT each, in one lane
TIMEOUT = 10.0
RECORD_EVERY = 1.0  # seconds: results are written together, at most this long after the try


class Deliverer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        http: aiohttp.ClientSession,
        vault: Vault,
        *,
        max_attempts: int = retry.WEBHOOK_DELIVERY.max_attempts,
        base_delay: float = retry.WEBHOOK_DELIVERY.base,
        timeout: float = TIMEOUT,
        tally: counters.Tally | None = None,
    ) -> None:
        self._sessions = sessions
        self._readers = db.sessionmaker(db.engine_of(sessions), readonly=True)
        self._http = http
        self._vault = vault
        self._policy = dataclasses.replace(retry.WEBHOOK_DELIVERY, max_attempts=max_attempts, base=base_delay)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timeout_reason = f"timeout after {timeout:g} s"
        self._tally = tally if tally is not None else counters.Tally()
        self._secrets: dict[str, str] = {}  # sealed -> secret, for the subscriptions of the last batch

    async def run_once(self) -> int:
        """Claim the due deliveries and try each once; returns how many it tried. (Deliveries done are
        forgotten after 30 days by ``pruning.Pruner``, which runs in this loop.)"""
        async with self._readers() as session, session.begin():
            if not await subscriber_webhooks.any_due(session):
                return 0
        async with db.transaction(self._sessions) as session:
            claimed = await subscriber_webhooks.claim(session, BATCH, LEASE)
            if not claimed:
                return 0
            found = await subscriber_webhooks.targets(session, {d.subscription_id for d in claimed})
        # Decrypting a secret costs more than a try: only the batch's subscriptions, each once while it lasts.
        self._secrets = {
            sealed: self._secrets.get(sealed) or subscriber_webhooks.unseal(self._vault, sealed)
            for _, sealed in found.values()
        }
        targets = {sub_id: (url, self._secrets[sealed]) for sub_id, (url, sealed) in found.items()}
        lanes: dict[int, list[subscriber_webhooks.Claimed]] = defaultdict(list)
        for delivery in claimed:
            lanes[delivery.subscription_id].append(delivery)
        results: list[subscriber_webhooks.Outcome] = []
        running = {asyncio.ensure_future(self._lane(targets.get(sub), items, results)) for sub, items in lanes.items()}
        # One transaction for whatever was tried meanwhile, rather than one per try: a commit costs more than
        # a POST to a subscriber on the same network.
        try:
            while running:
                _, running = await asyncio.wait(running, timeout=RECORD_EVERY)
                finished = results.copy()
                results.clear()
                await self._record(finished)
        finally:
            for lane in running:  # cancelled (a stop that could not wait): tried again once the lease runs out
                lane.cancel()
        return len(claimed)

    async def _lane(
        self,
        target: tuple[str, str] | None,
        items: list[subscriber_webhooks.Claimed],
        results: list[subscriber_webhooks.Outcome],
    ) -> None:
        for delivery in items:
            if target is None:
                continue  # unsubscribed meanwhile: its deliveries went with it
            status, error = await self._post(target, delivery)
            results.append(self._outcome(delivery, status, error))

    async def _post(
        self, target: tuple[str, str], delivery: subscriber_webhooks.Claimed
    ) -> tuple[int | None, str | None]:
        url, secret = target
        body = json.dumps({"id": delivery.id, **delivery.payload}, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"wahub/{wahub.__version__}",
            "X-Wahub-Event": delivery.event,
            "X-Wahub-Delivery": str(delivery.id),
            "X-Wahub-Timestamp": str(timestamp),
            "X-Wahub-Signature-256": subscriber_webhooks.sign(secret, timestamp, body),
        }
        try:
            # The answer's body is never read: only its status counts.
            post = self._http.post(url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False)
            async with post as answer:
                if 200 <= answer.status < 300:
                    return answer.status, None
                if 300 <= answer.status < 400:
                    return answer.status, f"redirect ({answer.status}) not followed"
                return answer.status, f"HTTP {answer.status}"
        except TimeoutError:
            return None, self._timeout_reason
        except aiohttp.ClientError as exc:
            return None, _reason(exc)

    def _outcome(
        self, delivery: subscriber_webhooks.Claimed, status: int | None, error: str | None
    ) -> subscriber_webhooks.Outcome:
        attempts = delivery.attempts + 1
        run_at: datetime | None = None
        decision = None
        if error is not None:
            decision = retry.decide(errors.DeliveryFailed(error), attempts, self._policy, utcnow())
        if error is None:
            state = subscriber_webhooks.DELIVERED
        elif decision is None:
            state = subscriber_webhooks.FAILED
            log.warning(
                "a subscriber webhook failed for good",
                extra={"delivery_id": delivery.id, "subscription_id": delivery.subscription_id, "status": status},
            )
        else:
            state = subscriber_webhooks.PENDING
            run_at = decision.when
        self._tally.count("wahub_webhook_deliveries_total", {"event": delivery.event, "result": state})
        return subscriber_webhooks.Outcome(delivery.id, state, attempts, run_at, status, error)

    async def _record(self, outcomes: list[subscriber_webhooks.Outcome]) -> None:
        if not outcomes:
            return
        try:
            async with db.transaction(self._sessions) as session:
                await subscriber_webhooks.record(session, outcomes)
        except Exception:
            # Not recorded: the leases run out and the deliveries are tried again (at least once, never lost).
            log.exception("could not record subscriber webhooks' results", extra={"deliveries": len(outcomes)})


def _reason(exc: aiohttp.ClientError) -> str:
    """Why a request got no answer, in wahub's words: an exception's own text may quote the subscriber."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "host name not found"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "TLS certificate not trusted"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection refused" if isinstance(exc.os_error, ConnectionRefusedError) else "could not connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientConnectionResetError):
        return "connection closed before an answer"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid URL"
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return "not a valid HTTP answer"
    return f"request failed ({type(exc).__name__})"
