"""The dashboard's chart geometry (``web/chart.py``): bars in proportion on a round axis, a label for the last
day and at most eight, and the chart in words."""

from __future__ import annotations

from datetime import date, timedelta

from wahub.store.stats import Day
from wahub.web import chart


def test_bars_stand_in_proportion_on_an_axis_of_round_steps() -> None:
    days = [Day(date(2026, 11, 29), inbound=3, outbound=6), Day(date(2026, 11, 30)), Day(date(2026, 12, 1), inbound=1)]
    drawn = chart.messages_per_day(days)
    assert [t.label for t in drawn.ticks] == ["0", "2", "4", "6", "8"]
    heights = {b.title: b.height for b in drawn.bars}
    full = drawn.base - chart.TOP
    assert heights["2026-11-29: 6 sent"] == round(full * 6 / 8, 2)
    assert heights["2026-11-29: 3 received"] == round(full * 3 / 8, 2)
    assert heights["2026-11-30: 0 sent"] == 0
    assert all(b.y + b.height == drawn.base for b in drawn.bars)
    assert all(b.x >= chart.LEFT and b.x + b.width <= drawn.right for b in drawn.bars)
    assert drawn.summary == "Messages per day from 2026-11-29 to 2026-12-01: 4 received and 6 sent"


def test_a_long_period_labels_at_most_eight_days_the_last_one_among_them() -> None:
    first = date(2026, 9, 2)
    drawn = chart.messages_per_day([Day(first + timedelta(days=n)) for n in range(91)])
    assert len(drawn.bars) == 182
    assert 1 < len(drawn.labels) <= chart.MAX_LABELS
    assert drawn.labels[-1].label == "01 Dec"
    assert [t.label for t in drawn.ticks] == ["0", "1", "2", "3", "4"]  # nothing happened: still an axis


def test_steps_are_round_numbers() -> None:
    assert [chart.nice_step(n) for n in (1, 3, 4, 6, 11, 24, 26, 51, 300)] == [1, 5, 5, 10, 20, 25, 50, 100, 500]
    assert chart.percent(None) == "–" and chart.percent(0.8754) == "87.5%"
