"""Wake-ups between the parts of one process: the webhook route wakes the processor, the API wakes the
sender. Parts in other processes poll, so a lost wake-up only costs a poll interval."""

from __future__ import annotations

import asyncio
import contextlib
import enum


class Channel(enum.StrEnum):
    EVENTS = "events"
    OUTBOX = "outbox"


class Notifier:
    def __init__(self) -> None:
        self._events = {channel: asyncio.Event() for channel in Channel}

    def notify(self, channel: Channel) -> None:
        self._events[channel].set()

    async def wait(self, channel: Channel, timeout: float) -> None:
        """Return when ``channel`` is notified or ``timeout`` seconds pass, whichever comes first."""
        event = self._events[channel]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()
