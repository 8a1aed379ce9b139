"""The group-commit batcher (``batcher.py``): what queues during a write goes in the next one, and each putter
gets its own item's outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from wahub import batcher


async def test_items_put_during_a_write_go_together_in_the_next() -> None:
    batches: list[list[int]] = []
    first_started, release = asyncio.Event(), asyncio.Event()

    async def write(batch: list[int]) -> None:
        batches.append(list(batch))
        first_started.set()
        await release.wait()

    writer: batcher.Batcher[int, None] = batcher.Batcher(write)
    first = writer.put(0)
    await first_started.wait()
    rest = [writer.put(i) for i in range(1, 6)]
    assert writer.queued == 5
    release.set()
    await asyncio.gather(first, *rest)
    assert batches == [[0], [1, 2, 3, 4, 5]]
    await writer.close()


async def test_each_putter_gets_its_own_outcome() -> None:
    async def write(batch: list[int]) -> Sequence[str | BaseException]:
        return [ValueError(f"odd {i}") if i % 2 else f"ok {i}" for i in batch]

    writer: batcher.Batcher[int, str] = batcher.Batcher(write)
    results = await asyncio.gather(*(writer.put(i) for i in range(4)), return_exceptions=True)
    assert results[0] == "ok 0" and results[2] == "ok 2"
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd 1"
    await writer.close()


async def test_a_failed_write_fails_every_item_of_its_batch() -> None:
    async def write(batch: list[int]) -> None:
        raise OSError("disk full")

    writer: batcher.Batcher[int, None] = batcher.Batcher(write)
    results = await asyncio.gather(writer.put(1), writer.put(2), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    await writer.close()


async def test_with_retry_after_a_failed_batch_is_written_again_first() -> None:
    batches: list[list[int]] = []

    async def write(batch: list[int]) -> None:
        batches.append(list(batch))
        if len(batches) == 1:
            raise OSError("database away")

    writer: batcher.Batcher[int, None] = batcher.Batcher(write, retry_after=0)
    await asyncio.gather(writer.put(1), writer.put(2))
    assert batches == [[1, 2], [1, 2]]
    await writer.close()


async def test_max_batch_bounds_a_write() -> None:
    batches: list[int] = []

    async def write(batch: list[int]) -> None:
        batches.append(len(batch))

    writer: batcher.Batcher[int, None] = batcher.Batcher(write, max_batch=3)
    await asyncio.gather(*(writer.put(i) for i in range(7)))
    assert batches == [3, 3, 1]
    await writer.close()


async def test_close_writes_what_is_queued_and_refuses_more() -> None:
    written: list[int] = []

    async def write(batch: list[int]) -> None:
        written.extend(batch)

    writer: batcher.Batcher[int, None] = batcher.Batcher(write)
    pending = [writer.put(i) for i in range(3)]
    await writer.close()
    assert written == [0, 1, 2] and all(f.done() for f in pending)
    with pytest.raises(batcher.BatcherClosed):
        writer.put(3)
