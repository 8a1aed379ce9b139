"""Posting signed form callbacks (statuses to a message's StatusCallback, inbound messages to the inbound URL),
with retries, injected duplicates and a log of every attempt.

Twilio posts `application/x-www-form-urlencoded` bodies signed with the account's auth token
(`X-Twilio-Signature`, see `signing.py`). It does not retry a failed callback unless told to; faketwilio retries
`webhook_max_attempts` times with backoff divided by `speed`, which a receiver must survive either way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp

from faketwilio import faults, signing
from faketwilio.state import FakeState
from faketwilio.tasks import TaskSet

log = logging.getLogger(__name__)

RETRY_BASE_S = 1.0

Form = list[tuple[str, str]]


class CallbackDelivery:
    """Sends callbacks for one app over one aiohttp session opened by the app's lifespan."""

    def __init__(self, state: FakeState, tasks: TaskSet) -> None:
        self.state = state
        self.tasks = tasks
        self.session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def post(self, url: str | None, form: Form, *, kind: str, sid: str, status: str | None = None) -> None:
        """Post one callback: the first attempt is awaited (a message's statuses stay in order while the
        receiver is healthy), retries run in the background."""
        if not url or not self.state.config.callbacks:
            return
        entry = self._entry(url, form, kind, sid, status)
        if not await self._attempt(entry, form):
            self.tasks.spawn(self._retry(entry, form), name=f"callback-retry-{entry['id']}")
        if faults.roll(self.state.rng, self.state.faults.duplicate_webhook_rate):
            twin = self._entry(url, form, kind, sid, status)
            twin["duplicate_of"] = entry["id"]
            if not await self._attempt(twin, form):
                self.tasks.spawn(self._retry(twin, form), name=f"callback-retry-{twin['id']}")

    def _entry(self, url: str, form: Form, kind: str, sid: str, status: str | None) -> dict[str, Any]:
        return self.state.log_webhook(
            {
                "kind": kind,
                "sid": sid,
                "status": status,
                "url": url,
                "form": dict(form),
                "attempts": 0,
                "results": [],
                "http_status": None,
                "result": "pending",
                "duplicate_of": None,
                "created_at": time.time(),
            }
        )

    async def _attempt(self, entry: dict[str, Any], form: Form) -> bool:
        if self.session is None:
            await self.open()
        assert self.session is not None
        entry["attempts"] += 1
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": signing.signature(self.state.config.auth_token, entry["url"], form),
            "I-Twilio-Idempotency-Token": f"{entry['sid']}-{entry['status'] or entry['kind']}",
        }
        timeout = aiohttp.ClientTimeout(total=self.state.config.webhook_timeout_s)
        result: dict[str, Any] = {"at": time.time()}
        try:
            async with self.session.post(entry["url"], data=urlencode(form), headers=headers, timeout=timeout) as resp:
                await resp.read()
                result["http_status"] = entry["http_status"] = resp.status
                ok = 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        entry["results"].append(result)
        if ok:
            entry["result"] = "delivered"
        return ok

    async def _retry(self, entry: dict[str, Any], form: Form) -> None:
        config = self.state.config
        while entry["attempts"] < config.webhook_max_attempts:
            await asyncio.sleep(RETRY_BASE_S * 2 ** (entry["attempts"] - 1) / max(config.speed, 1e-6))
            if await self._attempt(entry, form):
                return
        entry["result"] = "failed"
        log.warning(
            "faketwilio gave up callback %s (%s) after %d attempts", entry["id"], entry["kind"], entry["attempts"]
        )
