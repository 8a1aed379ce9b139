"""Runs the worker's loops until told to stop: each loop works while there is work, then sleeps until woken
or until its poll interval passes (other processes' work is only seen by polling)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from wahub.store.notify import Channel, Notifier
from wahub.worker.deliverer import Deliverer
from wahub.worker.media_fetcher import MediaFetcher
from wahub.worker.processor import Processor
from wahub.worker.sender import Sender

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
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
    ) -> None:
        self._processor = processor
        self._sender = sender
        self._media = media
        self._deliverer = deliverer
        self._notifier = notifier

    async def run(self, stop: asyncio.Event) -> None:
        loops = []
        if self._processor is not None:
            loops.append(asyncio.create_task(self._loop("processor", self._processor.run_once, Channel.EVENTS, stop)))
        if self._sender is not None:
            loops.append(asyncio.create_task(self._loop("sender", self._sender.run_once, Channel.OUTBOX, stop)))
        if self._media is not None:
            # Media rows come from the processor, perhaps in another process: webhooks arriving wake it early.
            loops.append(asyncio.create_task(self._loop("media", self._media.run_once, Channel.EVENTS, stop)))
        if self._deliverer is not None:
            # Deliveries come with processed events and send results: woken by either, else polled.
            step = self._deliverer.run_once
            loops.append(asyncio.create_task(self._loop("webhook deliveries", step, Channel.EVENTS, stop)))
        try:
            await stop.wait()
        finally:
            # Each loop ends after its current step: a task cancelled inside a transaction can leave its SQLite
            # connection holding the write lock, and every writer of the process then waits for it in vain.
            # Only a step still running after STOP_GRACE (a long download) is cancelled.
            if loops:
                _, late = await asyncio.wait(loops, timeout=STOP_GRACE_SECONDS)
                for task in late:
                    task.cancel()
                await asyncio.gather(*loops, return_exceptions=True)
            if self._sender is not None:
                await self._sender.close()

    async def _loop(self, name: str, step: Callable[[], Awaitable[int]], channel: Channel, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                done = await step()
            except Exception:
                # The database may be briefly unavailable; keep the loop alive and try again.
                log.exception("%s step failed", name)
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            if done == 0 and not stop.is_set():
                await self._notifier.wait(channel, POLL_SECONDS)
