"""The token bucket behind the per-API-key rate limit."""

from __future__ import annotations

import pytest

from wahub.api.limits import BURST_SECONDS, KeyLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_gets_a_burst_then_its_rate_and_other_keys_are_not_affected() -> None:
    clock = Clock()
    limiter = KeyLimiter(10, clock=clock)
    burst = int(10 * BURST_SECONDS)
    assert [limiter.wait("a") for _ in range(burst)] == [0.0] * burst
    assert limiter.wait("a") == pytest.approx(0.1)  # one token comes back every 1/10 s
    assert limiter.wait("b") == 0.0
    clock.now += 0.1
    assert limiter.wait("a") == 0.0
    assert limiter.wait("a") > 0
    clock.now += 3600  # a quiet hour refills the bucket up to the burst, not beyond
    assert sum(limiter.wait("a") == 0.0 for _ in range(burst + 5)) == burst


def test_a_refused_request_takes_nothing_from_the_bucket() -> None:
    clock = Clock()
    limiter = KeyLimiter(1, clock=clock)
    assert limiter.wait("a") == limiter.wait("a") == 0.0  # the burst: 2
    waits = [limiter.wait("a") for _ in range(100)]  # a client hammering while refused
    assert all(w == pytest.approx(1.0) for w in waits)
    clock.now += 1.0
    assert limiter.wait("a") == 0.0


def test_rate_zero_means_no_limit() -> None:
    limiter = KeyLimiter(0, clock=Clock())
    assert all(limiter.wait("a") == 0.0 for _ in range(10_000))
