"""Runs the worker's loops until told to stop: each loop works while there is work, then sleeps until woken
or until its poll interval passes (other processes' work is only seen by polling)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from wahub.automations.campaigns import CampaignRunner
from wahub.automations.reports import ReportRunner
from wahub.automations.schedules import ScheduleFirer
from wahub.automations.template_sync import TemplateSyncer
from wahub.wakeups import Channel, Notifier, wait_set
from wahub.worker.deliverer import Deliverer
from wahub.worker.media_fetcher import MediaFetcher
from wahub.worker.processor import Processor
from wahub.worker.pruning import Pruner
from wahub.worker.sender import Sender
from wahub.worker.token_check import TokenChecker

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# The loops that work off what the processor made (media to fetch, webhook deliveries to make) look at most
# this often when idle. Webhooks arriving wake them, but what they look for appears only once the processor
# (often another process) has applied those webhooks, and each look is a transaction: at hundreds of webhooks a
# second the deliverer's looks took a quarter of a core for nothing, and the media fetcher's (a claim: SELECT
# ... FOR UPDATE, and on SQLite the write lock) 29% of intake's process on PostgreSQL at 4,000 webhooks/s.
FOLLOWER_IDLE_SECONDS = 0.25
ERROR_PAUSE_SECONDS = 2.0
STOP_GRACE_SECONDS = 15.0


class Worker:
    def __init__(
        self,
        notifier: Notifier,
        *,
        processor: Processor | None = None,
        sender: Sender | None = None,
        media: MediaFetcher | None = None,
        deliverer: Deliverer | None = None,
        pruner: Pruner | None = None,
        templates: TemplateSyncer | None = None,
        schedules: ScheduleFirer | None = None,
        reports: ReportRunner | None = None,
        tokens: TokenChecker | None = None,
        campaigns: CampaignRunner | None = None,
    ) -> None:
        """``pruner``, ``templates`` (the template syncs), ``reports`` (the queued report runs) and ``tokens``
        (the daily look at the access tokens) run in the deliverer's loop, which must be there too: periodic
        upkeep shares that loop rather than starting loops of its own. ``schedules`` (the recurring schedules'
        firings, report schedules too) and ``campaigns`` (their next chunks) run in the sender's, before each of
        its steps, which then sends what they queued."""
        self._processor = processor
        self._sender = sender
        self._media = media
        self._deliverer = deliverer
        self._pruner = pruner
        self._templates = templates
        self._schedules = schedules
        self._reports = reports
        self._tokens = tokens
        self._campaigns = campaigns
        self._notifier = notifier

    async def run(self, stop: asyncio.Event) -> None:
        loops = []
        if self._processor is not None:
            process = self._processor.run_once
            for _ in range(self._processor.lanes):
                loops.append(asyncio.create_task(self._loop("processor", process, Channel.EVENTS, stop)))
        if self._sender is not None:
            sends: Callable[[], Awaitable[int]] = self._sender.run_once
            if self._schedules is not None:
                sends = _after(self._schedules.run_due, sends)
            if self._campaigns is not None:
                sends = _after(self._campaigns.run_due, sends)
            # Idle once its last sends are on the wire, the loop looks again when their results are written: a
            # campaign whose last results they were completes then, not at the next poll.
            self._sender.when_settled(self._settled)
            loops.append(asyncio.create_task(self._loop("sender", sends, Channel.OUTBOX, stop)))
        if self._media is not None:
            # Media rows come from the processor, perhaps in another process: webhooks arriving wake it early.
            media = self._loop("media", self._media.run_once, Channel.EVENTS, stop, idle=FOLLOWER_IDLE_SECONDS)
            loops.append(asyncio.create_task(media))
        if self._deliverer is not None:
            # Deliveries come with processed events and send results: woken by either, else polled.
            step: Callable[[], Awaitable[int]] = self._deliverer.run_once
            if self._pruner is not None:
                step = _after(self._pruner.run_due, step)
            if self._templates is not None:
                step = _after(self._templates.run_due, step)
            if self._reports is not None:
                step = _after(self._reports.run_due, step)
            if self._tokens is not None:
                step = _after(self._tokens.run_due, step)
            deliveries = self._loop("webhook deliveries", step, Channel.EVENTS, stop, idle=FOLLOWER_IDLE_SECONDS)
            loops.append(asyncio.create_task(deliveries))
        try:
            await stop.wait()
        finally:
            # Each loop ends after its current step: a task cancelled inside a transaction can leave its SQLite
            # connection holding the write lock, and every writer of the process then waits for it in vain.
            # Only a step still running after STOP_GRACE (a long download) is cancelled. Loops waiting for work
            # are woken to see the stop now rather than at their next poll.
            if loops:
                for channel in (Channel.EVENTS, Channel.OUTBOX):
                    self._notifier.notify(channel)
                _, late = await asyncio.wait(loops, timeout=STOP_GRACE_SECONDS)
                for task in late:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)
            if self._sender is not None:
                await self._sender.close()

    def _settled(self) -> None:
        if self._campaigns is not None:
            self._campaigns.look_again()
        self._notifier.notify(Channel.OUTBOX)

    async def _loop(
        self,
        name: str,
        step: Callable[[], Awaitable[int]],
        channel: Channel,
        stop: asyncio.Event,
        *,
        idle: float = 0.0,
    ) -> None:
        """Run ``step`` while it finds work; then wait for a wake-up or the poll interval, but at least ``idle``
        seconds after the step that found nothing."""
        while not stop.is_set():
            checked = time.monotonic()
            try:
                done = await step()
            except Exception:
                # The database may be briefly unavailable; keep the loop alive and try again.
                log.exception("%s step failed", name)
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            if done == 0 and not stop.is_set():
                await self._notifier.wait(channel, POLL_SECONDS)
                rest = idle - (time.monotonic() - checked)
                if rest > 0:
                    await wait_set(stop, rest)


def _after(first: Callable[[], Awaitable[None]], step: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
    """``step``, with ``first`` run before each call (``first`` decides itself whether it has anything to do)."""

    async def both() -> int:
        await first()
        return await step()

    return both
