"""The admin dashboard's chart of messages per day (received and sent), as geometry an inline SVG draws.

Pure: ``stats.Day`` values in, rectangles, axis ticks and labels out, in the SVG's own units (its ``viewBox``);
the template (``templates/admin/chart.html``) writes them as elements with classes, never ``style`` attributes
(the inbox's Content-Security-Policy allows none), so no script and no charting library is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wahub.store import stats

WIDTH, HEIGHT = 720.0, 260.0
LEFT, RIGHT, TOP, BOTTOM = 44.0, 8.0, 12.0, 28.0  # room for the axis labels
MAX_LABELS = 8  # day labels under the bars, at most
GRID_LINES = 4  # above the x axis


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # inbound, outbound: the CSS class that colours it
    title: str  # shown on hover, and read by screen readers


@dataclass(frozen=True, slots=True)
class Tick:
    """A value on the y axis, with its grid line at ``y``."""

    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Label:
    """A day under the x axis, centred on ``x``."""

    x: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: float
    height: float
    left: float
    right: float  # the x of the plot's right edge
    base: float  # the y of the x axis
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Label]
    summary: str  # the chart in words (the SVG's accessible name)


def nice_step(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 25, 50, 100… that is at least ``value``: a step between grid lines."""
    step = 1
    while True:
        for factor in (1, 2, 2.5, 5) if step >= 10 else (1, 2, 5):
            if step * factor >= value:
                return int(step * factor)
        step *= 10


def messages_per_day(days: Sequence[stats.Day]) -> Chart:
    """A bar pair (received, sent) for each day, on a y axis from 0 to a round number."""
    right, base = WIDTH - RIGHT, HEIGHT - BOTTOM
    highest = max([1, *(max(d.inbound, d.outbound) for d in days)])
    step = nice_step(-(-highest // GRID_LINES))  # ceiling division
    top = step * GRID_LINES
    plot_height = base - TOP
    slot = (right - LEFT) / max(1, len(days))
    bar = max(0.5, slot * 0.38)
    bars: list[Bar] = []
    labels: list[Label] = []
    every = max(1, -(-len(days) // MAX_LABELS))  # ceiling division: at most MAX_LABELS labels
    for n, day in enumerate(days):
        start = LEFT + n * slot + (slot - 2 * bar) / 2
        for offset, kind, count, verb in (
            (0, "inbound", day.inbound, "received"),
            (1, "outbound", day.outbound, "sent"),
        ):
            height = plot_height * count / top
            title = f"{day.day.isoformat()}: {count} {verb}"
            bars.append(
                Bar(
                    round(start + offset * bar, 2),
                    round(base - height, 2),
                    round(bar, 2),
                    round(height, 2),
                    kind,
                    title,
                )
            )
        if (len(days) - 1 - n) % every == 0:  # the last day always has its label
            labels.append(Label(round(LEFT + (n + 0.5) * slot, 2), f"{day.day:%d %b}"))
    ticks = [Tick(round(base - plot_height * k / GRID_LINES, 2), f"{step * k:,}") for k in range(GRID_LINES + 1)]
    received, sent = sum(d.inbound for d in days), sum(d.outbound for d in days)
    first, last = (days[0].day, days[-1].day) if days else (None, None)
    summary = (
        f"Messages per day from {first} to {last}: {received:,} received and {sent:,} sent"
        if days
        else "No days in the period"
    )
    return Chart(WIDTH, HEIGHT, LEFT, right, base, bars, ticks, labels, summary)


def percent(rate: float | None) -> str:
    """A rate as the dashboard shows it: ``87.5%``, or a dash when nothing was there to count."""
    return "–" if rate is None else f"{rate:.1%}"
