"""``FailedKeys``: which addresses are shut out after wrong API keys, for how long, and what it remembers."""

from __future__ import annotations

from wahub.api.limits import FailedKeys


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_shut_out_after_the_threshold_for_a_doubling_delay() -> None:
    clock = Clock()
    failed = FailedKeys(threshold=3, first_delay=1.0, max_delay=5.0, clock=clock)
    for _ in range(2):
        failed.failed("10.0.0.1")
        assert failed.retry_after("10.0.0.1") == 0.0
    delays = []
    for _ in range(5):
        failed.failed("10.0.0.1")
        delays.append(failed.retry_after("10.0.0.1"))
        clock.now += delays[-1]
        assert failed.retry_after("10.0.0.1") == 0.0
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_failures_are_forgotten_after_a_quiet_window_counted_from_the_end_of_the_shut_out() -> None:
    clock = Clock()
    failed = FailedKeys(threshold=2, window=60.0, first_delay=100.0, max_delay=100.0, clock=clock)
    failed.failed("10.0.0.1")
    failed.failed("10.0.0.1")  # shut out for 100 s: longer than the window
    clock.now += 100.0 + 59.0
    failed.failed("10.0.0.1")  # 59 s after the shut-out ended: still remembered
    assert failed.retry_after("10.0.0.1") == 100.0
    clock.now += 100.0 + 61.0
    failed.failed("10.0.0.1")  # 61 s of quiet: a fresh start
    assert failed.retry_after("10.0.0.1") == 0.0


def test_addresses_count_apart_and_ipv6_by_its_64() -> None:
    failed = FailedKeys(threshold=1, clock=Clock())
    failed.failed("10.0.0.1")
    assert failed.retry_after("10.0.0.2") == 0.0
    failed.failed("2001:db8:1:2::1")
    assert failed.retry_after("2001:db8:1:2:ffff::9") > 0  # same /64
    assert failed.retry_after("2001:db8:1:3::1") == 0.0
    failed.failed("::ffff:192.0.2.7")
    assert failed.retry_after("192.0.2.7") > 0  # an IPv4-mapped address is the IPv4 one


def test_the_table_keeps_at_most_capacity_addresses_dropping_the_oldest() -> None:
    clock = Clock()
    failed = FailedKeys(threshold=1, first_delay=1000.0, capacity=100, clock=clock)
    for n in range(1000):
        clock.now += 0.001
        failed.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(failed) == 100
    assert failed.retry_after("10.0.0.0") == 0.0  # the oldest went
    assert failed.retry_after("10.0.3.231") > 0  # the newest stays
