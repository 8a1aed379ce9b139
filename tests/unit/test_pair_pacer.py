"""The pair pacer on a fake clock: a burst, then one message per interval, per (number, recipient)."""

from __future__ import annotations

import pytest

from wahub.worker import ratelimit


def test_the_pacer_allows_a_burst_then_one_per_interval_per_recipient() -> None:
    now = [0.0]
    pacer = ratelimit.PairPacer(interval=6.0, burst=3, clock=lambda: now[0])
    assert [pacer.delay("n", "ada") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.delay("n", "ada") == pytest.approx(6.0)
    assert pacer.delay("n", "bo") == 0.0  # others are not affected
    assert pacer.delay("other-number", "ada") == 0.0  # the pair is per business number
    now[0] = 6.0
    assert pacer.delay("n", "ada") == 0.0
    assert pacer.delay("n", "ada") == pytest.approx(6.0)


def test_a_131056_empties_the_pairs_bucket() -> None:
    now = [0.0]
    pacer = ratelimit.PairPacer(interval=6.0, burst=3, clock=lambda: now[0])
    assert pacer.delay("n", "ada") == 0.0
    pacer.penalize("n", "ada")
    assert pacer.delay("n", "ada") == pytest.approx(6.0)
    assert pacer.delay("n", "bo") == 0.0
