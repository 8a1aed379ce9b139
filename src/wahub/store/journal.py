"""The event journal: webhook bodies appended in groups, one transaction (one fsync) for every body that
arrived while the previous group was being written.

The webhook route awaits ``append`` and answers 200 only once its body is committed, so an acked event is
durable; grouping is what makes that cheap. There is no timer: a group is whatever queued up during the
last commit, so a lone webhook is written at once and a burst is written in a few large transactions.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from wahub.store import db
from wahub.store.models import WebhookEvent, utcnow

log = logging.getLogger(__name__)

MAX_GROUP = 2000
LOCK_TIMEOUT = 30.0


class JournalClosed(RuntimeError):
    """The journal is not running; the event was not stored."""


class EventJournal:
    def __init__(self, engine: AsyncEngine, max_group: int = MAX_GROUP) -> None:
        self._engine = engine
        self._max_group = max_group
        self._queue: list[tuple[str, bytes, str | None, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # On SQLite the journal writes through its own stdlib connection on the event loop's thread: a group
        # commit takes about a millisecond, less than the hops to a driver thread would cost (a thread of its own
        # for the whole group measured worse too: docs/decisions.md). The write gate guarantees that no other
        # writer of this process holds the file meanwhile; the processor, in another process, is waited for
        # without blocking the loop (_begin_immediate).
        self._sqlite: sqlite3.Connection | None = None

    async def start(self) -> None:
        self._closing = False
        path = db.sqlite_path(self._engine.url.render_as_string(hide_password=False))
        if path and path != ":memory:":
            self._sqlite = db.connect_sqlite(path)
            self._sqlite.execute("PRAGMA busy_timeout=0")  # see _begin_immediate
        self._task = asyncio.create_task(self._run(), name="event-journal")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    async def append(self, provider: str, body: bytes, signed_by: str | None) -> None:
        """Return once ``body`` is committed; raise if it could not be (the caller must not ack then).
        ``signed_by``: the ``signature.key_id`` of the app secret that verified it."""
        if self._task is None or self._closing:
            raise JournalClosed("the event journal is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((provider, body, signed_by, future))
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                group, self._queue = self._queue[: self._max_group], self._queue[self._max_group :]
                await self._write(group)
            if self._closing:
                return

    async def _write(self, group: list[tuple[str, bytes, str | None, asyncio.Future[None]]]) -> None:
        dialect = self._engine.dialect
        # The driver's own executemany: this is the hottest write in wahub, and every row has the same shape and
        # the same time, so SQLAlchemy's per-row type processing would be pure overhead.
        stamp = _stamp(dialect)
        rows = [(provider, body, signed_by, stamp, 0) for provider, body, signed_by, _ in group]
        try:
            async with db.gate(self._engine).turn():
                if self._sqlite is not None:
                    await _write_sqlite(self._sqlite, rows)
                else:
                    async with self._engine.begin() as conn:
                        await conn.exec_driver_sql(_insert_sql(dialect), rows)
        except Exception as exc:
            log.exception("could not store %d webhook events", len(group))
            for *_, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for *_, future in group:
            if not future.done():
                future.set_result(None)

    @property
    def queued(self) -> int:
        return len(self._queue)


_INSERT = {
    "qmark": "INSERT INTO webhook_events (provider, body, signed_by, received_at, attempts) VALUES (?, ?, ?, ?, ?)",
    "format": (
        "INSERT INTO webhook_events (provider, body, signed_by, received_at, attempts) VALUES (%s, %s, %s, %s, %s)"
    ),
}


def _insert_sql(dialect: sa.Dialect) -> str:
    return _INSERT["qmark" if dialect.paramstyle == "qmark" else "format"]


def _stamp(dialect: sa.Dialect) -> object:
    """Now, in the form the column's type stores it on this dialect (a string on SQLite)."""
    column_type = WebhookEvent.__table__.c.received_at.type
    process = column_type._cached_bind_processor(dialect)
    now = utcnow()
    return process(now) if process is not None else now


async def _write_sqlite(conn: sqlite3.Connection, rows: list[tuple[str, bytes, str | None, object, int]]) -> None:
    await _begin_immediate(conn)
    try:
        conn.executemany(_INSERT["qmark"], rows)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


async def _begin_immediate(conn: sqlite3.Connection) -> None:
    """Take the write lock without blocking the event loop. The processor (another process) holds it for a
    moment when it settles a batch, and SQLite's own busy wait would stall every request meanwhile; so the
    connection does not wait (``busy_timeout=0``) and this retries after short sleeps, up to LOCK_TIMEOUT."""
    deadline = time.monotonic() + LOCK_TIMEOUT
    pause = 0.0005
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.002)
