"""The rate limit per API key (SPEC §6): a token bucket per key, in the process that serves the request.

A key may make ``rate`` requests per second on average and ``rate × BURST_SECONDS`` at once after a quiet
spell; over that, the request is refused with 429 and ``Retry-After`` before it does any work. Buckets are
kept for authenticated keys only, so a flood of made-up keys cannot grow them (it is refused with 401).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

BURST_SECONDS = 2.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class KeyLimiter:
    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._capacity = max(1.0, rate * BURST_SECONDS)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def wait(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0.0 when it may go now, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._capacity, now)
        bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate
