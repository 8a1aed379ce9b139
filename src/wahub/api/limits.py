"""The rate limit per API key (SPEC §6): a token bucket (``buckets.TokenBucket``) per key, in the process that
serves the request; and the shut-out of addresses that keep sending wrong keys (``FailedKeys``).

A key may make ``rate`` requests per second on average and ``rate × BURST_SECONDS`` at once after a quiet
spell; over that, the request is refused with 429 and ``Retry-After`` before it does any work. Buckets are
kept for authenticated keys only, so a flood of made-up keys cannot grow them (it is refused with 401).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from wahub.buckets import TokenBucket

BURST_SECONDS = 2.0


class KeyLimiter:
    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._capacity = max(1.0, rate * BURST_SECONDS)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def wait(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0.0 when it may go now, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self._capacity, self._clock)
        return bucket.try_take()


class FailedKeys:
    """Client addresses that sent wrong API keys (SPEC §6: guessing keys must not run at full speed).

    After ``threshold`` failures from one address, each further failure shuts that address out for a delay
    that doubles (``first_delay``, 2×, 4×… up to ``max_delay``): its requests are answered 429 with
    ``Retry-After`` before their key is even looked at. An address forgets its failures after ``window``
    quiet seconds (counted from the end of its last shut-out); a success does not reset them, or a holder of
    one valid key could interleave it with guesses. IPv6 addresses count by their /64 (one host commonly holds
    a whole /64). At most ``capacity`` addresses are remembered: the one that failed longest ago goes first.
    """

    def __init__(
        self,
        threshold: int = 10,
        window: float = 60.0,
        first_delay: float = 1.0,
        max_delay: float = 300.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.capacity = capacity
        self._clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, address: str | None) -> float:
        """0.0 when ``address`` may try a key now, else the seconds until it may."""
        failures = self._failures.get(_group(address))
        return 0.0 if failures is None else max(0.0, failures.shut_until - self._clock())

    def failed(self, address: str | None) -> None:
        """``address`` sent a key that is not valid."""
        key = _group(address)
        now = self._clock()
        failures = self._failures.get(key)
        if failures is None or now - max(failures.last, failures.shut_until) > self.window:
            failures = self._failures[key] = _Failures()
        failures.count += 1
        failures.last = now
        self._failures.move_to_end(key)
        over = failures.count - self.threshold
        if over >= 0:
            failures.shut_until = now + min(self.max_delay, self.first_delay * 2 ** min(over, 32))
        while len(self._failures) > self.capacity:
            self._failures.popitem(last=False)


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0
    shut_until: float = 0.0


def _group(address: str | None) -> str:
    """The key an address's failures count under: the address, or for IPv6 its /64."""
    if address is None:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
