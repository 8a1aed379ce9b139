"""Token buckets, one per phone number. The default burst of one spaces sends evenly, so no one-second window
ever holds more than ``rate`` sends (plus the one at its edge)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.capacity = burst if burst is not None else 1.0
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def try_take(self) -> float:
        """Take a token if one is there (returns 0), else return the seconds until one will be."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    async def take(self) -> None:
        async with self._lock:
            while (wait := self.try_take()) > 0:
                await asyncio.sleep(wait)


class Limits:
    """Buckets by key (a phone_number_id), created on first use."""

    def __init__(self, default_rate: float) -> None:
        self.default_rate = default_rate
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, key: str, rate: float | None = None) -> TokenBucket:
        wanted = rate or self.default_rate
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != wanted:
            bucket = self._buckets[key] = TokenBucket(wanted)
        return bucket
