"""The event journal: webhook bodies appended in groups, one transaction (one fsync) for every body that
arrived while the previous group was being written.

The webhook route awaits ``append`` and answers 200 only once its body is committed, so an acked event is
durable; grouping is what makes that cheap. The grouping is wahub's one group-commit batcher (``batcher.py``):
no timer, a group is whatever queued up during the last commit, so a lone webhook is written at once and a
burst is written in a few large transactions.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wahub import batcher
from wahub.store import db
from wahub.store.models import WebhookEvent, utcnow

log = logging.getLogger(__name__)

MAX_GROUP = 2000
LOCK_TIMEOUT = 30.0


class JournalClosed(RuntimeError):
    """The journal is not running; the event was not stored."""


Row = tuple[str, bytes, str | None]  # (provider, body, signed_by)


class EventJournal:
    def __init__(self, engine: AsyncEngine, max_group: int = MAX_GROUP) -> None:
        self._engine = engine
        self._batcher: batcher.Batcher[Row, None] = batcher.Batcher(
            self._write, max_batch=max_group, name="event-journal"
        )
        self._running = False
        # On SQLite the journal writes through its own stdlib connection on the event loop's thread: a group
        # commit takes about a millisecond, less than the hops to a driver thread would cost (a thread of its own
        # for the whole group measured worse too: docs/decisions.md). The write gate guarantees that no other
        # writer of this process holds the file meanwhile; the processor, in another process, is waited for
        # without blocking the loop (_begin_immediate).
        self._sqlite: sqlite3.Connection | None = None
        # On PostgreSQL the journal keeps one pooled connection, in autocommit, for as long as it runs: checking
        # one out of the pool and setting it up for each group cost about as much as the group's COPY.
        self._postgres: AsyncConnection | None = None
        self._driver: psycopg.AsyncConnection[Any] | None = None  # its psycopg connection

    async def start(self) -> None:
        path = db.sqlite_path(self._engine.url.render_as_string(hide_password=False))
        if path and path != ":memory:":
            self._sqlite = db.connect_sqlite(path)
            self._sqlite.execute("PRAGMA busy_timeout=0")  # see _begin_immediate
        self._batcher.reopen()
        self._running = True

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._running = False
        await self._batcher.close()
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        await self._drop_connection()

    async def append(self, provider: str, body: bytes, signed_by: str | None) -> None:
        """Return once ``body`` is committed; raise if it could not be (the caller must not ack then).
        ``signed_by``: the ``signature.key_id`` of the app secret that verified it."""
        if not self._running:
            raise JournalClosed("the event journal is not running")
        await self._batcher.put((provider, body, signed_by))

    async def _write(self, group: list[Row]) -> None:
        dialect = self._engine.dialect
        # The driver's own bulk write (executemany, COPY): this is the hottest write in wahub, and every row has
        # the same shape and the same time, so SQLAlchemy's per-row type processing would be pure overhead.
        stamp = _stamp(dialect)
        try:
            async with db.gate(self._engine).turn():
                if self._sqlite is not None:
                    # bytearray, not bytes: the stdlib driver binds it as it is, where it would look a bytes
                    # object up among the registered adapters first (an AttributeError raised and dropped per row).
                    rows = [(provider, bytearray(body), signed_by, stamp, 0) for provider, body, signed_by in group]
                    await _write_sqlite(self._sqlite, rows)
                elif dialect.name == "postgresql":
                    await self._copy_postgres(group, stamp)
                else:  # an in-memory SQLite database, through SQLAlchemy's own connection
                    plain = [(provider, body, signed_by, stamp, 0) for provider, body, signed_by in group]
                    async with self._engine.begin() as conn:
                        await conn.exec_driver_sql(_INSERT_SQLITE, plain)
        except Exception:
            log.exception("could not store %d webhook events", len(group))
            raise  # to each webhook of the group: none is acked

    @property
    def queued(self) -> int:
        return self._batcher.queued

    async def _copy_postgres(self, group: list[Row], stamp: object) -> None:
        """The group as one binary COPY in autocommit: a COPY is one statement, so the group is committed whole or
        not at all, with no BEGIN and COMMIT around it. psycopg formats binary rows in C; against the executemany
        it replaced (which psycopg pipelines, a statement per row) it took a quarter to a half of the client's and
        the server's CPU per row (docs/decisions.md).

        When the kept connection turns out to be lost (the server restarted, or closed it while idle), the group
        is copied once more on a new one. The COPY cannot have committed unless the connection broke after the
        server's commit and before its answer, and then the second copy only journals the same bodies twice,
        which the processor applies as it does Meta's own redeliveries: once."""
        fresh = self._postgres is None
        try:
            await _copy(await self._connection(), group, stamp)
        except psycopg.OperationalError:
            await self._drop_connection()
            if fresh:
                raise
            log.warning("the journal's connection to PostgreSQL was lost; copying the group on a new one")
            await _copy(await self._connection(), group, stamp)
        except psycopg.Error:
            raise  # the server refused the rows: the COPY is over and the connection is as good as before
        except BaseException:
            await self._drop_connection()  # cancelled mid-COPY, say: the connection is in no state to reuse
            raise

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._postgres is None or self._driver is None:
            conn = await self._engine.connect()
            try:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                driver = (await conn.get_raw_connection()).driver_connection
                assert isinstance(driver, psycopg.AsyncConnection)
            except BaseException:
                await conn.invalidate()
                raise
            self._postgres, self._driver = conn, driver
        return self._driver

    async def _drop_connection(self) -> None:
        """Give up the kept connection: closed, not put back in the pool (it may be broken, or mid-COPY)."""
        conn, self._postgres, self._driver = self._postgres, None, None
        if conn is not None:
            try:
                await conn.invalidate()
            except Exception:
                log.debug("closing the journal's connection failed", exc_info=True)


_INSERT_SQLITE = "INSERT INTO webhook_events (provider, body, signed_by, received_at, attempts) VALUES (?, ?, ?, ?, ?)"
_COPY = "COPY webhook_events (provider, body, signed_by, received_at, attempts) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ["varchar", "bytea", "varchar", "timestamp", "int4"]


async def _copy(driver: psycopg.AsyncConnection[Any], group: list[Row], stamp: object) -> None:
    async with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
        copy.set_types(_COPY_TYPES)
        for provider, body, signed_by in group:
            await copy.write_row((provider, body, signed_by, stamp, 0))


def _stamp(dialect: sa.Dialect) -> object:
    """Now, in the form the column's type stores it on this dialect (a string on SQLite)."""
    column_type = WebhookEvent.__table__.c.received_at.type
    process = column_type._cached_bind_processor(dialect)
    now = utcnow()
    return process(now) if process is not None else now


async def _write_sqlite(conn: sqlite3.Connection, rows: list[tuple[str, bytearray, str | None, object, int]]) -> None:
    await _begin_immediate(conn)
    try:
        conn.executemany(_INSERT_SQLITE, rows)
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
