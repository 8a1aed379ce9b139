"""Erasing a person, end to end (``wahub contacts erase``, ``POST /api/v1/contacts/{id}/erase``): the journal,
the main database and the storage, in an order that a rerun can always finish.

1. The events journal is scrubbed first, when it is a database of its own (SQLite: ``wahub-events.db``): read
   in chunks without a lock, each chunk's changes written in a short transaction of its own (the webhook path
   writes to that file). On PostgreSQL it is part of step 2's transaction (``erasure.scrub_journal``).
2. The main database, in one transaction (``erasure.erase``); the blobs only the erased rows held are deleted
   from storage inside it, before the commit: if storage fails, nothing is committed and a rerun starts over;
   if the commit fails after the blobs went, the rows still name blobs that are gone, and a rerun deletes them.
If step 1 (or part of it) commits and step 2 fails, the contact still exists, so a rerun finds it, scrubs what
is left in the journal, and does step 2. Once step 2 committed, the contact is gone and a rerun says so: done.

On SQLite, both transactions run with ``PRAGMA secure_delete`` (what they delete is overwritten with zeros, not
only marked free), the full-text index is rebuilt without the deleted entries (FTS5 ``optimize``: a delete only
adds a tombstone to the index until its segments merge), and the WAL is checkpointed and truncated after.
``vacuum`` also rewrites both files (VACUUM) so no free page keeps older copies (an earlier version of a row
that an UPDATE replaced stays in free space even with secure_delete). docs/privacy.md says what stays on disk.
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wahub.storage.base import BlobStore
from wahub.store import db, erasure, search
from wahub.store.models import AuditRecord
from wahub.webhook import scrub

log = logging.getLogger(__name__)

# FTS5 merges the index's segments into one, leaving out deleted entries (a constant table name, no input).
_OPTIMIZE = sa.text(f"INSERT INTO {search.FTS_TABLE}({search.FTS_TABLE}) VALUES ('optimize')")  # noqa: S608


async def preview(sessions: async_sessionmaker[AsyncSession], contact_id: int) -> erasure.Erased:
    """What erasing the contact would remove from its own rows (raises NotFound when it does not exist)."""
    async with sessions() as session, session.begin():
        await erasure.contact(session, contact_id)
        return await erasure.plan(session, contact_id)


async def earlier(sessions: async_sessionmaker[AsyncSession], contact_id: int) -> AuditRecord | None:
    """The audit record of the contact's erasure, when it is gone because it was erased."""
    async with sessions() as session, session.begin():
        return await erasure.earlier(session, contact_id)


async def erase_contact(
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    contact_id: int,
    *,
    actor: str,
    hash_key: bytes,
    vacuum: bool = False,
) -> erasure.Erased:
    """Erase the contact everywhere (see the module docstring); returns what went."""
    async with sessions() as session, session.begin():
        person = await erasure.person(session, contact_id)
    journal = erasure.Erased()
    separate = db.engine_of(event_sessions) is not db.engine_of(sessions)
    if separate:
        await _scrub_separate_journal(event_sessions, person, journal)
    async with db.transaction(sessions) as session:
        await _secure(session, True)
        if not separate:
            await erasure.scrub_journal(session, person, journal)
        done = await erasure.erase(session, contact_id, actor=actor, hash_key=hash_key, journal=journal)
        if _sqlite(session):
            await session.execute(_OPTIMIZE)
        for key in done.blob_keys:
            await storage.delete(key)
        await _secure(session, False)
    log.info("contact erased", extra={"contact_id": contact_id, **done.counts()})
    for engine in {db.engine_of(sessions), db.engine_of(event_sessions)}:
        await _compact(engine, vacuum)
    return done


async def _scrub_separate_journal(
    event_sessions: async_sessionmaker[AsyncSession], person: scrub.Person, journal: erasure.Erased
) -> None:
    """The journal on a SQLite file of its own: read without a lock, each chunk's changes written in a short
    transaction, so webhooks are acknowledged meanwhile (they write to this file)."""
    readers = db.sessionmaker(db.engine_of(event_sessions), readonly=True)
    after: int | None = 0
    while after is not None:
        async with readers() as ev, ev.begin():
            changes, after = await erasure.journal_chunk(ev, person, after)
        if changes:
            async with db.transaction(event_sessions) as ev:
                await _secure(ev, True)
                await erasure.write_journal(ev, changes, journal)
                await _secure(ev, False)


def _sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


async def _secure(session: AsyncSession, on: bool) -> None:
    if _sqlite(session):
        await session.execute(sa.text(f"PRAGMA secure_delete={'ON' if on else 'OFF'}"))


async def _compact(engine: AsyncEngine, vacuum: bool) -> None:
    """SQLite: checkpoint the WAL into the file and truncate it (best effort: a reader may hold old frames);
    with ``vacuum``, rewrite the file first. In a thread: VACUUM of a large file takes a while. PostgreSQL:
    nothing here (VACUUM is the operator's, see docs/privacy.md)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if path and path != ":memory:":
        await asyncio.to_thread(_compact_file, path, vacuum)


def _compact_file(path: str, vacuum: bool) -> None:
    conn = db.connect_sqlite(path)
    try:
        if vacuum:
            conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
