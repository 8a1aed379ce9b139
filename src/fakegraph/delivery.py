"""Posting signed webhooks to the callback URL, with retries, duplicates and a log of every attempt.

Meta signs the raw body with the app secret (`X-Hub-Signature-256: sha256=<hex>`) and retries failed
deliveries with decreasing frequency; fakegraph retries `webhook_max_attempts` times with exponential
backoff divided by `speed`, then gives up and marks the log entry `failed`.
https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from typing import Any

import aiohttp

from fakegraph import faults, payloads
from fakegraph.state import FakeState
from fakegraph.tasks import TaskSet

log = logging.getLogger(__name__)

RETRY_BASE_S = 1.0


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` value for `body`: `sha256=` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_sha1(body: bytes, secret: str) -> str:
    """The legacy `X-Hub-Signature` value Meta still sends next to the SHA-256 one."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


class StatusBatcher:
    """Collects status `value`s and posts up to `webhook_batch_max` of them in one webhook.

    One consumer posts the batches in order, so statuses keep their order as they do unbatched.
    """

    def __init__(self, state: FakeState, delivery: WebhookDelivery, tasks: TaskSet) -> None:
        self.state = state
        self.delivery = delivery
        self.tasks = tasks
        self.queue: asyncio.Queue[tuple[dict[str, Any], str, str]] = asyncio.Queue()
        self._consumer: asyncio.Task[Any] | None = None

    def add(self, value: dict[str, Any], wamid: str, status: str) -> None:
        """Queue one status `value` (statuses and optional contacts) for the next batch."""
        self.queue.put_nowait((value, wamid, status))
        if self._consumer is None or self._consumer.done():
            self._consumer = self.tasks.spawn(self._consume(), name="status-batcher")

    def discard(self) -> None:
        """Drop queued statuses (on reset, after the consumer was cancelled)."""
        while not self.queue.empty():
            self.queue.get_nowait()

    async def _consume(self) -> None:
        while True:
            batch = [await self.queue.get()]
            await asyncio.sleep(self.state.config.webhook_batch_window_ms / 1000)
            while len(batch) < self.state.config.webhook_batch_max and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            statuses: list[Any] = []
            contacts: list[Any] = []
            for value, _, _ in batch:
                statuses.extend(value["statuses"])
                contacts.extend(c for c in value.get("contacts", []) if c not in contacts)
            merged: dict[str, Any] = {"contacts": contacts} if contacts else {}
            merged["statuses"] = statuses
            await self.delivery.post(
                payloads.envelope(self.state, merged),
                kind="status",
                wamid=batch[0][1],
                status=batch[0][2],
                wamids=[item[1] for item in batch],
            )


class WebhookDelivery:
    """Sends webhooks for one app over one aiohttp session opened by the app's lifespan."""

    def __init__(self, state: FakeState, tasks: TaskSet) -> None:
        self.state = state
        self.tasks = tasks
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Open the HTTP session (called from the app's lifespan)."""
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def close(self) -> None:
        """Close the HTTP session; pending deliveries must have been cancelled first."""
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def post(
        self,
        payload: dict[str, Any],
        *,
        kind: str,
        wamid: str,
        status: str | None = None,
        wamids: list[str] | None = None,
    ) -> dict[str, Any] | None:
        """Post one webhook: the first attempt is awaited, retries run in the background.

        Awaiting the first attempt keeps one message's statuses in order when the receiver is healthy,
        while a failing receiver sees them out of order, as with Meta. Returns the log entry, or None
        when no callback URL is configured.
        """
        config = self.state.config
        if not config.callback_url:
            return None
        body = payloads.encode(payload)
        entry = self._new_entry(payload, kind, wamids or [wamid], status, config.callback_url)
        if not await self._attempt(entry, body, config.app_secret):
            self.tasks.spawn(self._retry(entry, body, config.app_secret), name=f"webhook-retry-{entry['id']}")
        if faults.roll(self.state.rng, self.state.faults.duplicate_webhook_rate):
            twin = self._new_entry(payload, kind, wamids or [wamid], status, config.callback_url)
            twin["duplicate_of"] = entry["id"]
            if not await self._attempt(twin, body, config.app_secret):
                self.tasks.spawn(self._retry(twin, body, config.app_secret), name=f"webhook-retry-{twin['id']}")
        return entry

    def _new_entry(
        self, payload: dict[str, Any], kind: str, wamids: list[str], status: str | None, url: str
    ) -> dict[str, Any]:
        # `wamid`/`status` name the first event; `wamids` lists every message of a batched webhook.
        return self.state.log_webhook(
            {
                "kind": kind,
                "wamid": wamids[0],
                "wamids": wamids,
                "status": status,
                "url": url,
                "payload": payload,
                "attempts": 0,
                "results": [],
                "http_status": None,
                "result": "pending",
                "duplicate_of": None,
                "created_at": time.time(),
            }
        )

    async def _attempt(self, entry: dict[str, Any], body: bytes, secret: str) -> bool:
        if self.session is None:
            # Without a lifespan (e.g. httpx's ASGITransport) open lazily; close() still cleans up.
            await self.open()
        assert self.session is not None
        entry["attempts"] += 1
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature-256": sign(body, secret),
            "X-Hub-Signature": sign_sha1(body, secret),
        }
        timeout = aiohttp.ClientTimeout(total=self.state.config.webhook_timeout_s)
        result: dict[str, Any] = {"at": time.time()}
        try:
            async with self.session.post(entry["url"], data=body, headers=headers, timeout=timeout) as resp:
                await resp.read()
                result["http_status"] = resp.status
                entry["http_status"] = resp.status
                ok = 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        entry["results"].append(result)
        if ok:
            entry["result"] = "delivered"
        return ok

    async def _retry(self, entry: dict[str, Any], body: bytes, secret: str) -> None:
        config = self.state.config
        while entry["attempts"] < config.webhook_max_attempts:
            delay = RETRY_BASE_S * 2 ** (entry["attempts"] - 1) / max(config.speed, 1e-6)
            await asyncio.sleep(delay)
            if await self._attempt(entry, body, secret):
                return
        entry["result"] = "failed"
        log.warning(
            "fakegraph gave up webhook %s (%s %s) after %d attempts",
            entry["id"],
            entry["kind"],
            entry["status"] or "",
            entry["attempts"],
        )
