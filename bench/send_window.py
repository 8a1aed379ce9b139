"""The send window alone (``worker/ratelimit.SendWindow``), without a network or a database.

1. CPU per send of ``SendWindow.take`` at 1,000/s behind a 256-wide semaphore (as the sender holds it), on uvloop,
   with sends grouped within ``ratelimit.GROUP`` and without (GROUP 0), interleaved; and the floor (the tasks and
   the semaphore with no window).
2. The ramp: a model of the busiest 1-second window at the wire when the sends of the first round trip arrive H
   late (new connections: TCP and TLS) and later ones on time, for ramps of 1, 0.5, 0.25 s and none, with the
   time 10,000 sends take.

Usage: ``.venv/bin/python bench/send_window.py [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

from fakegraph.control import max_in_window
from wahub.worker import ratelimit

SENDS = 4_000
RATE = 1_000


async def take_cpu(group: float | None) -> tuple[float, float]:
    """CPU µs per send and sends/s; ``group`` None: no window at all (the floor)."""
    if group is not None:
        ratelimit.GROUP = group
    window = ratelimit.SendWindow(RATE)
    slots = asyncio.Semaphore(256)

    async def one() -> None:
        async with slots:
            await (window.take() if group is not None else asyncio.sleep(0))

    await window.take()
    await asyncio.sleep(1.1)  # a quiet window: the burst ramps up, as a campaign's does
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(one() for _ in range(SENDS)))
    return (time.process_time() - cpu) / SENDS * 1e6, SENDS / (time.monotonic() - wall)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def scheduled(n: int) -> list[float]:
    """When ``n`` sends leave the window, with each sleep 0.3 ms late."""
    clock = Clock()
    window = ratelimit.SendWindow(RATE, clock=clock)
    out: list[float] = []
    while len(out) < n:
        if (wait := window.try_take()) == 0:
            out.append(clock.now)
        else:
            clock.now += wait + 0.0003
    return out


def busiest(times: list[float]) -> int:
    return max_in_window(sorted(times), 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    grouped = ratelimit.GROUP or 0.003  # the grouping measured: the setting, or 3 ms where it is turned off
    print(f"SendWindow.take at {RATE:,}/s, {SENDS:,} sends, 256 in flight (uvloop); CPU µs per send:")
    for _ in range(args.rounds):
        for group in (None, 0.0, grouped):
            us, rate = uvloop.run(take_cpu(group))
            name = "no window (floor)" if group is None else f"GROUP {group * 1000:.0f} ms"
            print(f"  {name:<20}{us:8.1f} µs{rate:8.0f}/s")
    ratelimit.GROUP = grouped
    print(f"\nbusiest 1-s window at the wire (limit {RATE:,}), the first round trip's sends H late:")
    delays = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
    for ramp, start in ((1.0, 0.1), (0.5, 0.1), (0.25, 0.1), (1e-9, 1.0)):
        ratelimit.RAMP, ratelimit.RAMP_FROM = ramp, start
        sends = scheduled(10_000)
        first = sends[0]
        row = []
        for h in delays:
            arrivals = [t + (h if t - first < 0.1 + h else 0.0) for t in sends]
            row.append(f"{h * 1000:.0f} ms: {busiest(arrivals):,}")
        label = f"ramp {ramp:.2f} s" if start < 1 else "no ramp"
        print(f"  {label:<12} 10,000 in {sends[-1] - first:5.2f} s | " + ", ".join(row))


if __name__ == "__main__":
    main()
