"""Engines and sessions for SQLite (default) and PostgreSQL, from one ``WAHUB_DATABASE_URL``."""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from wahub import errors
from wahub.store import jsontext


def sync_url(url: str) -> str:
    """The URL for synchronous use (Alembic): sqlite's stdlib driver, psycopg 3 for PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database: {backend}")


def async_url(url: str) -> str:
    """The URL for the async engine: aiosqlite for SQLite, psycopg 3 (async) for PostgreSQL."""
    parsed = make_url(sync_url(url))
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> str | None:
    parsed = make_url(url)
    return parsed.database if parsed.get_backend_name() == "sqlite" else None


def events_url(url: str) -> str:
    """Where webhook events are journaled. For a SQLite file: a file of their own beside it (``wahub.db`` →
    ``wahub-events.db``), because SQLite has one writer per file and a webhook's ack must never wait for a
    processor transaction. Elsewhere (PostgreSQL, in-memory SQLite): the database itself."""
    path = sqlite_path(url)
    if not path or path == ":memory:" or path.startswith("file:"):
        return url
    file = Path(path)
    return (
        make_url(url)
        .set(database=str(file.with_name(f"{file.stem}-events{file.suffix}")))
        .render_as_string(hide_password=False)
    )


def create_events_engine(url: str, main: AsyncEngine) -> AsyncEngine:
    """The engine of ``events_url(url)``: ``main`` itself when the events live in the main database.

    On a file of their own, this engine's commits do not wait for the disk (``synchronous=NORMAL``): it only
    writes what became of events (``events.settle``), and a mark lost to a power cut replays an event, which
    changes nothing. Waiting would hold the file's write lock, which the webhook path needs, across an fsync.
    The bodies themselves are written by the journal's own connection, which does wait (``connect_sqlite``)."""
    separate = events_url(url)
    if separate == url:
        return main
    engine = create_engine(separate)
    event.listen(engine.sync_engine, "connect", _no_fsync_on_commit)
    return engine


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine. SQLite gets WAL, full fsync on commit and write transactions that take the lock up
    front (BEGIN IMMEDIATE), so concurrent writers wait their turn instead of failing with "database is
    locked" on upgrade. Errors never quote the statement's parameters: they hold message bodies, and an error
    may be logged."""
    kwargs.setdefault("hide_parameters", True)
    kwargs.setdefault("json_serializer", jsontext.dumps)
    if is_sqlite(url):
        engine = create_async_engine(async_url(url), connect_args={"isolation_level": None, "timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(async_url(url), pool_size=10, max_overflow=10, **kwargs)


def create_sync_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(sync_url(url), hide_parameters=True, json_serializer=jsontext.dumps)
    if is_sqlite(url):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def connect_sqlite(path: str) -> sqlite3.Connection:
    """A stdlib connection with wahub's SQLite settings, in autocommit mode (the caller says BEGIN)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    _sqlite_pragmas(conn, None)
    return conn


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: an acknowledged write survives power loss, not only a process crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _no_fsync_on_commit(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: sa.Connection) -> None:
    # Readers (see ``readonly``) take no lock: WAL lets them run beside the one writer.
    readonly = conn.get_execution_options().get(READONLY, False)
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


READONLY = "wahub_readonly"


class Sessions(async_sessionmaker[AsyncSession]):
    """An ``async_sessionmaker`` that names its engine (SQLAlchemy keeps the bind only in its private ``kw``):
    transactions find the engine's write gate by it, and a worker makes read-only sessions on it."""

    def __init__(self, engine: AsyncEngine, *, readonly: bool = False) -> None:
        bind = engine.execution_options(**{READONLY: True}) if readonly else engine
        super().__init__(bind, expire_on_commit=False)
        self.engine = engine


def sessionmaker(engine: AsyncEngine, *, readonly: bool = False) -> async_sessionmaker[AsyncSession]:
    """Sessions on ``engine``; ``readonly`` ones must not write (on SQLite they take no write lock)."""
    return Sessions(engine, readonly=readonly)


def engine_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine of sessions made by ``sessionmaker``."""
    if not isinstance(sessions, Sessions):
        raise TypeError("sessions must come from wahub.store.db.sessionmaker")
    return sessions.engine


class WriteGate:
    """Write transactions of one process on one SQLite database take turns here, first come first served.

    SQLite has one writer at a time. Left to SQLite, a waiting writer polls with growing sleeps (up to 100 ms
    each), so a webhook's commit could sit behind the processor for far longer than the processor needs.
    Queuing on an asyncio lock instead hands the database over the moment the previous writer commits.
    PostgreSQL needs no gate; the gate is a no-op there."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if not self.enabled:
            yield
            return
        async with self._lock:
            yield


_GATES: weakref.WeakKeyDictionary[sa.Engine, WriteGate] = weakref.WeakKeyDictionary()


def gate(engine: AsyncEngine) -> WriteGate:
    """The write gate of ``engine`` (one per engine)."""
    sync = engine.sync_engine
    found = _GATES.get(sync)
    if found is None:
        found = _GATES[sync] = WriteGate(enabled=sync.dialect.name == "sqlite")
    return found


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits when the block ends, rolls back if it raises. Writers take turns (WriteGate)."""
    async with gate(engine_of(sessions)).turn(), sessions() as session, session.begin():
        yield session


async def new_ids(session: AsyncSession, table: sa.Table, n: int) -> list[int]:
    """``n`` fresh primary keys of ``table`` for rows about to be inserted with them, so a bulk insert needs no
    RETURNING to tell which row got which id (SQLite cannot promise RETURNING's order, and SQLAlchemy then
    inserts row by row). PostgreSQL: the table's sequence. SQLite: after the largest id, which is safe because
    a write transaction holds the database's write lock from its BEGIN IMMEDIATE (``_sqlite_begin``)."""
    if n <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        stmt = sa.text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")
        return list((await session.scalars(stmt, {"table": table.name, "n": n})).all())
    top = await session.scalar(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0)))
    return list(range(int(top or 0) + 1, int(top or 0) + 1 + n))


async def plan_for_now(session: AsyncSession) -> None:
    """For the rest of this transaction, PostgreSQL plans every statement for the tables as they are at that
    moment (``plan_cache_mode = force_custom_plan``), never by a generic plan it cached earlier.

    For work that adds thousands of rows to a table and looks them up chunk by chunk (a broadcast, a campaign's
    audience, a contacts or chat import): psycopg prepares a statement run five times, and PostgreSQL may then
    settle on a generic plan costed when the table was small; as the table grows faster than autovacuum analyzes
    it, that plan reads every row of the account for each chunk (30,000 recipients queued in 50-54 s instead of
    13 on a database never analyzed). Planning each execution costs well under a millisecond. SQLite: nothing
    to do."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def flush_unique(session: AsyncSession, conflict: errors.Conflict) -> None:
    """Flush new or renamed rows; ``conflict`` is raised if a unique constraint refuses one. The constraint
    decides, not a look before (two admins may save the same name at once: on PostgreSQL both looks find
    nothing); the caller's transaction is rolled back with the Conflict."""
    try:
        await session.flush()
    except sa.exc.IntegrityError as exc:
        raise conflict from exc
