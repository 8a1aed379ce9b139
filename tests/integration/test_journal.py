"""The event journal on SQLite: a group commit waits for another process's write lock without stalling the
event loop, and gives up with an error (so the webhook is not acked) if the lock is never released."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from wahub.store import db, migrate
from wahub.webhook import journal
from wahub.webhook.journal import EventJournal


@pytest.fixture
def events_file(tmp_path: Path) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path / 'wahub.db'}"
    migrate.upgrade(url)
    return url, tmp_path / "wahub-events.db"


async def test_append_waits_for_a_lock_held_elsewhere_without_blocking_the_loop(events_file: tuple[str, Path]) -> None:
    url, path = events_file
    engine = db.create_engine(url)
    events_engine = db.create_events_engine(url, engine)
    log = EventJournal(events_engine)
    await log.start()
    other = sqlite3.connect(path, isolation_level=None)  # the processor, settling a batch
    try:
        other.execute("BEGIN IMMEDIATE")
        append = asyncio.create_task(log.append("meta", b'{"x": 1}', None))
        for _ in range(1000):  # the loop goes round while the journal waits (it tries at once)
            await asyncio.sleep(0)
        assert not append.done()
        # Released from the loop: a journal that held the loop while it waited would have given up first.
        other.execute("COMMIT")
        await asyncio.wait_for(append, 10)
        assert other.execute("SELECT body FROM webhook_events").fetchall() == [(b'{"x": 1}',)]
    finally:
        other.close()
        await log.stop()
        await engine.dispose()
        await events_engine.dispose()


async def test_append_fails_when_the_lock_is_never_released(
    events_file: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, path = events_file
    monkeypatch.setattr(journal, "LOCK_TIMEOUT", 0.2)
    engine = db.create_engine(url)
    events_engine = db.create_events_engine(url, engine)
    log = EventJournal(events_engine)
    await log.start()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):  # after LOCK_TIMEOUT, not the default 30 s
            await asyncio.wait_for(log.append("meta", b"{}", None), 10)
        other.execute("ROLLBACK")
        await log.append("meta", b"{}", None)  # and works again once it is free
    finally:
        other.close()
        await log.stop()
        await engine.dispose()
        await events_engine.dispose()
