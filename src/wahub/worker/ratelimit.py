"""Rate limits of sending: ``SendWindow``, Meta's messages per second for one phone number, and ``PairPacer``,
Meta's pair limit (one business number to one customer), built on wahub's one ``buckets.TokenBucket``."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

from wahub.buckets import TokenBucket

__all__ = ["PairPacer", "SendWindow", "TokenBucket"]


# Sends are counted in a window a little longer than Meta's second: requests leave here evenly but reach Meta
# with some jitter (up to ~45 ms measured at fakegraph under bench/send.py), and the guard keeps jittered
# arrivals inside the limit too, at the price of 2% of the rate (bench: 1.0% guard gave 1,001-1,012 in a second
# at a limit of 1,000; 2% gave <= 1,000). The default of ``WAHUB_SEND_JITTER_MS``.
WINDOW_GUARD = 0.02
# How far the even spacing may catch up after the event loop was late (an asyncio.sleep overshoots). Making up a
# longer stall as well (bench/send.py, one number on PostgreSQL) put up to 1,006 arrivals in a second at 1,000:
# the sends counted just before a stall reach the wire after it, bunched with those that make up for it.
CATCH_UP = 0.02
# Sends whose turns in the even spacing fall within this of each other go together, on one wake-up of the event
# loop instead of one each (at 1,000/s, with 3 ms: two to four per wake-up instead of a sleep per send; the
# window's CPU per send 204 -> 78 us in bench/send_window.py; interleaved, 10,000-recipient campaign 11.5-12.8 s
# without it, 10.9-11.0 s with it, sender's CPU -15%). It was off for a day: test_topology's 201-203 arrivals in a
# second at 200 came from fakegraph's own loop starved on two cores, with grouping on or off (docs/decisions.md).
GROUP = 0.003
# When Meta answers 130429 to more than THROTTLED_SHARE of a window's sends (at least two), the number's rate
# drops to SLOWDOWN of what it was (at most once per window), never below FLOOR of its configured rate, and
# climbs back by RECOVERY of it per second. A few scattered 130429s (a blip at Meta's side) are only retried:
# cutting the rate for each would, like TCP under random loss, grind it down for nothing.
# After a quiet window, the rate climbs from RAMP_FROM of itself to all of it over RAMP seconds. The first sends
# of a burst open new connections and reach Meta bunched (measured: 20 arrivals within 10 ms at 500/s), which
# at full rate would overfill the first second; a single message still goes at once.
RAMP = 1.0
RAMP_FROM = 0.1
THROTTLED_SHARE = 0.05
SLOWDOWN = 0.7
RECOVERY = 0.1
FLOOR = 0.1


class SendWindow:
    """The send rate of one phone number: at most ``rate`` sends in any window of one second (plus ``guard``),
    as Meta counts them, spaced evenly (one every 1/rate s) so they also arrive at Meta evenly instead of in
    bursts that network jitter could squeeze into one window.

    ``throttled`` (Meta answered 130429) may lower the rate multiplicatively; it recovers additively."""

    def __init__(
        self,
        rate: float,
        *,
        guard: float = WINDOW_GUARD,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.configured = float(rate)
        self.current = float(rate)
        self._window = 1.0 + guard
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._updated = clock()
        self._next = self._updated  # the even schedule: when the next send may go
        self._ramp_start = self._updated
        self._slowed = -self._window
        self._throttled: deque[float] = deque()
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._releaser: asyncio.Task[None] | None = None
        self._going = 0  # let go by ``_release`` and not yet counted in ``_sent``

    def set_rate(self, rate: float) -> None:
        if rate != self.configured:
            self.configured = self.current = float(rate)

    def _recover(self, now: float) -> None:
        if self.current < self.configured:
            self.current = min(self.configured, self.current + (now - self._updated) * RECOVERY * self.configured)
        self._updated = now

    def try_take(self) -> float:
        """Count a send now (returns 0) if the schedule and the window allow it, else return the seconds until
        they will."""
        now = self._clock()
        wait = self._turn(now)
        if wait == 0:
            self._sent.append(now)
        return wait

    def _turn(self, now: float) -> float:
        """0 if a send may go now (the schedule moves on past it), else the seconds until one may. Sends let go
        and not yet counted (``_going``) count as sent now."""
        self._recover(now)
        if now < self._next - GROUP:
            return self._next - now
        while self._sent and self._sent[0] <= now - self._window:
            self._sent.popleft()
        # Quiet: nothing in the window, and not a send the schedule put here. At 10/s or less the ramp's first gap
        # (1 / (RAMP_FROM x rate) s) is longer than the window, so a send on time finds it empty: counted as quiet,
        # it restarted the ramp each time and the number stayed at RAMP_FROM of its rate.
        quiet = not self._sent and not self._going and now - self._next > CATCH_UP
        if quiet:
            self._ramp_start = now
        rate = self.current * min(1.0, RAMP_FROM + (1 - RAMP_FROM) * (now - self._ramp_start) / RAMP)
        allowed = max(1, int(self.current))
        if (oldest := len(self._sent) + self._going - allowed) >= 0:
            # Enough sends must leave the window first (or, all of it let go and uncounted, be counted).
            return self._sent[oldest] + self._window - now if oldest < len(self._sent) else GROUP
        # Behind by a little (a late wake-up): keep the schedule, so the time is made up. Behind by more (idle,
        # or a long stall): start the schedule again from now, rather than bursting to make up for it.
        start = self._next if now - self._next <= CATCH_UP else now
        self._next = start + self._window / max(1.0, rate)
        return 0.0

    async def take(self) -> None:
        """Wait for room, first come first served, and count the send when its task goes on (it sends at once).

        The waiters are let go by one task that sleeps until the next send is due, all those due at one wake-up
        together: handing a lock from waiter to waiter took a pass of the event loop per send, and a loop busy with
        answers and results is slower than that at 1,000/s. A waiter let go runs a pass later, so it is counted
        then, when it sends, not when it was let go: the window holds at the wire, however long that pass was."""
        if not self._waiting and self.try_take() == 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        if self._releaser is None or self._releaser.done():
            self._releaser = asyncio.create_task(self._release())
        try:
            await waiter
        except BaseException:
            if not waiter.cancelled():  # let go, then cancelled before it could send
                self._going -= 1
            raise
        self._going -= 1
        self._sent.append(self._clock())

    async def _release(self) -> None:
        passed = 0  # let go in this pass of the event loop
        while self._waiting:
            if self._waiting[0].done():  # its task was cancelled while it waited
                self._waiting.popleft()
            elif passed > self.current * GROUP:
                passed = 0  # catching up: a few at a time, not all that is late at one instant
                await self._sleep(0)
            elif (wait := self._turn(self._clock())) > 0:
                passed = 0
                await self._sleep(wait)
            else:
                self._going += 1
                self._waiting.popleft().set_result(None)
                passed += 1

    def throttled(self) -> None:
        """Meta answered 130429 (too many messages from this number)."""
        now = self._clock()
        self._recover(now)
        self._throttled.append(now)
        while self._throttled[0] <= now - self._window:
            self._throttled.popleft()
        recent = sum(1 for t in self._sent if t > now - self._window)
        if len(self._throttled) >= max(2, THROTTLED_SHARE * recent) and now - self._slowed >= self._window:
            self._slowed = now
            self._throttled.clear()
            self.current = max(FLOOR * self.configured, 1.0, self.current * SLOWDOWN)


PAIR_INTERVAL = 6.0  # Meta's pair limit: about one message every 6 s from one number to one customer (131056)
PAIR_BURST = 5  # wahub's choice: Meta allows short bursts but publishes no size
PAIR_MAX_TRACKED = 50_000


class PairPacer:
    """One bucket per (phone number, recipient). A send that would break the pair limit is told how long to
    wait, so the caller can put that one message off without holding back anyone else's."""

    def __init__(
        self, interval: float = PAIR_INTERVAL, burst: int = PAIR_BURST, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = 1 / interval
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def _bucket(self, number: str, recipient: str) -> TokenBucket:
        key = (number, recipient)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= PAIR_MAX_TRACKED:
                self._forget_idle()
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, self._clock)
        return bucket

    def delay(self, number: str, recipient: str) -> float:
        """0 if a message may go now (and counts it), else the seconds until one may."""
        return self._bucket(number, recipient).try_take()

    def penalize(self, number: str, recipient: str) -> None:
        """Meta answered 131056: empty the pair's bucket, so its next message waits a full interval."""
        bucket = self._bucket(number, recipient)
        bucket.try_take()
        bucket.drain()

    def _forget_idle(self) -> None:
        """Drop pairs whose bucket has refilled: they are where a new bucket would start anyway."""
        for key in [k for k, b in self._buckets.items() if b.full()]:
            del self._buckets[key]
