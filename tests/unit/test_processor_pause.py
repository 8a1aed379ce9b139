"""When the webhook processor rests to leave the CPU to intake: only in a storm of arrivals."""

from __future__ import annotations

import pytest

from wahub.worker import processor
from wahub.worker.processor import pause_after


def test_no_pause_while_arrivals_are_within_reach() -> None:
    # A full batch of 1,000 in 0.2 s is 5,000 events/s: arrivals up to twice that keep it working full time.
    assert pause_after(1000, 0.2, 4_000) == 0
    assert pause_after(1000, 0.2, 6_000) == 0  # behind, but working full time is its best chance to catch up
    assert pause_after(1000, 0.2, processor.STORM * 5_000) == 0


def test_pauses_in_a_storm_for_its_share() -> None:
    pause = pause_after(1000, 0.2, 20_000)
    # It then works BUSY_SHARE of the time: 0.2 s of work, a pause of 0.2 s at one half.
    assert pause == pytest.approx(0.2 * (1 - processor.BUSY_SHARE) / processor.BUSY_SHARE)
    assert pause > 0


def test_a_batch_timed_at_zero_never_pauses() -> None:
    assert pause_after(1000, 0.0, 1_000_000) == 0
