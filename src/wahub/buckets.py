"""The token bucket: ``rate`` tokens a second, up to ``capacity`` saved, one taken per request. wahub's one
implementation, pure (no I/O, no sleeping) with its clock injected, so tests move time themselves. Used for
Meta's pair limit (``worker/ratelimit.py``) and the per-API-key rate limit (``api/limits.py``); it imports
nothing of wahub, so both may use it."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """Starts full. ``try_take`` takes a token if there is one, else says how long until there will be; a
    refused take takes nothing."""

    __slots__ = ("_clock", "_tokens", "_updated", "capacity", "rate")

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else 1.0
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def full(self) -> bool:
        self._refill()
        return self._tokens >= self.capacity

    def drain(self) -> None:
        """Empty the bucket: the next token comes 1/rate seconds from now."""
        self._refill()
        self._tokens = 0.0

    def try_take(self) -> float:
        """Take a token if one is there (returns 0), else return the seconds until one will be."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate
