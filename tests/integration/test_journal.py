"""The event journal. On both databases: a group of bodies is stored byte for byte, once each and in the order they
were appended, and a group the database refuses is refused whole (none of its webhooks is acked). On SQLite: a
group commit waits for another process's write lock without stalling the event loop, and gives up with an error
(so the webhook is not acked) if the lock is never released."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from wahub.store import db, migrate
from wahub.store.models import WebhookEvent
from wahub.webhook import journal
from wahub.webhook.journal import EventJournal

# Bytes a text column or a text format would mangle: NUL, a tab, a backslash, invalid UTF-8, a quote.
AWKWARD = b'{"a": "\x00\t\\\xff\xfe \'"}'


async def _stored(engine: AsyncEngine) -> list[tuple[int, str, bytes, str | None, int, object, datetime]]:
    t = WebhookEvent.__table__.c
    query = sa.select(t.id, t.provider, t.body, t.signed_by, t.attempts, t.processed_at, t.received_at).order_by(t.id)
    async with engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(query)]  # type: ignore[misc]


async def test_a_burst_is_stored_byte_for_byte_once_each_in_order(events_engine: AsyncEngine) -> None:
    log = EventJournal(events_engine)
    await log.start()
    try:
        bodies = [b'{"n": %d}' % i + (AWKWARD if i % 7 == 0 else b"") for i in range(300)]
        signers = [None if i % 5 == 0 else f"k{i % 3}" for i in range(300)]
        appends = [asyncio.create_task(log.append("meta", body, by)) for body, by in zip(bodies, signers, strict=True)]
        await asyncio.wait_for(asyncio.gather(*appends), 30)
    finally:
        await log.stop()
    rows = await _stored(events_engine)
    assert [(provider, bytes(body), by) for _, provider, body, by, *_ in rows] == [
        ("meta", body, by) for body, by in zip(bodies, signers, strict=True)
    ]
    assert {(attempts, processed) for *_, attempts, processed, _ in rows} == {(0, None)}
    now = datetime.now(UTC)
    assert all(abs(received - now) < timedelta(minutes=1) for *_, received in rows)


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_group_the_database_refuses_is_refused_whole(events_engine: AsyncEngine) -> None:
    log = EventJournal(events_engine)
    await log.start()
    try:
        first = asyncio.create_task(log.append("meta", b'{"first": 1}', None))  # written alone, at once
        await asyncio.sleep(0)
        group = [asyncio.create_task(log.append("meta", b'{"n": %d}' % i, None)) for i in range(20)]
        refused = asyncio.create_task(log.append("x" * 17, b"{}", None))  # over the column's 16 characters
        outcomes = await asyncio.wait_for(asyncio.gather(first, *group, refused, return_exceptions=True), 30)
        assert outcomes[0] is None
        assert all(isinstance(outcome, Exception) for outcome in outcomes[1:])
        assert [bytes(body) for _, _, body, *_ in await _stored(events_engine)] == [b'{"first": 1}']
        await log.append("meta", b'{"after": 1}', None)  # and the journal goes on
    finally:
        await log.stop()
    assert [bytes(body) for _, _, body, *_ in await _stored(events_engine)] == [b'{"first": 1}', b'{"after": 1}']


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_lost_connection_costs_no_webhook(events_engine: AsyncEngine) -> None:
    """The journal keeps one connection; when the server ends it (a restart, an idle timeout), the next group
    is copied on a new connection instead of being refused."""
    log = EventJournal(events_engine)
    await log.start()
    try:
        await log.append("meta", b'{"n": 1}', None)
        async with events_engine.connect() as conn:
            ended = await conn.scalar(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND query LIKE 'COPY webhook_events%'"
                )
            )
        assert ended == 1  # the journal's connection, which last ran a COPY
        await asyncio.wait_for(asyncio.gather(*(log.append("meta", b'{"n": %d}' % i, None) for i in (2, 3))), 30)
        await log.append("meta", b'{"n": 4}', None)
    finally:
        await log.stop()
    assert [bytes(body) for _, _, body, *_ in await _stored(events_engine)] == [b'{"n": %d}' % i for i in (1, 2, 3, 4)]


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
