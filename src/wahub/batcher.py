"""Group commit: items put by many tasks are written by one writer task, every item that queued up while the
previous write ran in the next one, and each putter learns its own item's outcome.

There is no timer by default: a batch is whatever queued during the last write, so a lone item is written at
once and a burst goes in a few large writes. Used by the webhook journal (``webhook/journal.py``), and shaped for
the API's send intake and the sender's results::

    class EventJournal:
        def __init__(self, ...):
            self._batcher = batcher.Batcher(self._write, max_batch=2000, name="event-journal")

        async def append(self, item):
            await self._batcher.put(item)          # returns once its batch is committed, or raises why not

        async def _write(self, batch: list[Item]) -> None:
            ...one transaction for the whole batch...

``write`` returns None (every putter gets None) or one outcome per item, in order: a value for its putter, or
an exception raised to that putter alone (so one refused item refuses only itself). If ``write`` raises, every
putter of the batch gets that exception; with ``retry_after``, the batch is instead kept and written again
after that many seconds, ahead of what came meanwhile (results that must not be lost, like the sender's).

This module imports nothing of wahub: api, store and worker may all use it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar, cast

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

Write = Callable[[list[T]], Awaitable[Sequence[R | BaseException] | None]]


class BatcherClosed(RuntimeError):
    """The batcher is closed; the item was not taken."""


class Batcher(Generic[T, R]):
    """One writer for the items of many tasks. ``max_batch`` bounds a write; ``linger`` (seconds) lets a batch
    gather for that long after its first item before it is written (0: no wait); ``retry_after``: see above.
    The writer task starts with the first ``put`` and runs until ``close``."""

    def __init__(
        self,
        write: Write[T, R],
        *,
        max_batch: int = 1000,
        linger: float = 0.0,
        retry_after: float | None = None,
        name: str = "batcher",
    ) -> None:
        self._write = write
        self._max = max_batch
        self._linger = linger
        self._retry_after = retry_after
        self._name = name
        # Two lists side by side rather than pairs: the writer hands ``_items`` to ``write`` without a copy.
        self._items: list[T] = []
        self._futures: list[asyncio.Future[R]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def put(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the future is resolved with its outcome once its batch is written. Awaiting it
        directly lets a cancelled caller drop its own wait (the item is written anyway); wrap it in
        ``asyncio.shield`` to say so explicitly."""
        if self._closing:
            raise BatcherClosed(f"{self._name} is closed")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._futures.append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        self._wakeup.set()
        return future

    def reopen(self) -> None:
        """Take items again after ``close``."""
        self._closing = False

    async def close(self) -> None:
        """Write everything queued, then stop the writer. ``put`` raises ``BatcherClosed`` from now on."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    @property
    def queued(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closing

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if self._linger and not self._closing:
                await asyncio.sleep(self._linger)
            self._wakeup.clear()
            while self._items:
                if len(self._items) <= self._max:
                    items, self._items = self._items, []
                    futures, self._futures = self._futures, []
                else:
                    items, self._items = self._items[: self._max], self._items[self._max :]
                    futures, self._futures = self._futures[: self._max], self._futures[self._max :]
                if not await self._write_batch(items, futures):
                    self._items[:0] = items
                    self._futures[:0] = futures
                    await asyncio.sleep(cast(float, self._retry_after))
                if self._items and self._linger and not self._closing:
                    self._wakeup.set()  # the rest gathers for ``linger`` too
                    break
            if self._closing:
                return

    async def _write_batch(self, items: list[T], futures: list[asyncio.Future[R]]) -> bool:
        """Write one batch and resolve its futures; False when it is to be written again (``retry_after``)."""
        try:
            outcomes = await self._write(items)
        except Exception as exc:
            if self._retry_after is not None:
                log.exception("%s: writing %d items failed; trying again", self._name, len(items))
                return False
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
            return True
        if outcomes is None:
            for future in futures:
                if not future.done():
                    future.set_result(cast(R, None))
            return True
        for future, outcome in zip(futures, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        return True
