"""Token buckets, one per phone number. The default burst of one spaces sends evenly, so no one-second window
ever holds more than ``rate`` sends (plus the one at its edge). And ``PairPacer``: Meta's pair limit, one
business number to one customer."""

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

    def full(self) -> bool:
        self._refill()
        return self._tokens >= self.capacity

    def drain(self) -> None:
        self._refill()
        self._tokens = 0.0

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


PAIR_INTERVAL = 6.0  # Meta's pair limit: about one message every 6 s from one number to one customer (131056)
PAIR_BURST = 5  # wahub's choice: Meta allows short bursts but publishes no size
PAIR_MAX_TRACKED = 50_000


class PairPacer:
    """One bucket per (phone number, recipient). A send that would break the pair limit is told how long to
    wait, so the caller can put that one message off without holding back anyone else's."""

    def __init__(
        self, interval: float = PAIR_INTERVAL, burst: int = PAIR_BURST, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = 1 / interval
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def _bucket(self, number: str, recipient: str) -> TokenBucket:
        key = (number, recipient)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= PAIR_MAX_TRACKED:
                self._forget_idle()
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, self._clock)
        return bucket

    def delay(self, number: str, recipient: str) -> float:
        """0 if a message may go now (and counts it), else the seconds until one may."""
        return self._bucket(number, recipient).try_take()

    def penalize(self, number: str, recipient: str) -> None:
        """Meta answered 131056: empty the pair's bucket, so its next message waits a full interval."""
        bucket = self._bucket(number, recipient)
        bucket.try_take()
        bucket.drain()

    def _forget_idle(self) -> None:
        """Drop pairs whose bucket has refilled: they are where a new bucket would start anyway."""
        for key in [k for k, b in self._buckets.items() if b.full()]:
            del self._buckets[key]
