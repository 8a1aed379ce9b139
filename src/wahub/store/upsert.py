"""INSERT … ON CONFLICT DO NOTHING for both engines: the database, not a check-then-insert, decides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

# SQLite allows 32,766 bound variables per statement; rows of ~15 columns stay well below in chunks of 500.
CHUNK = 500


def _insert(session: AsyncSession, table: sa.Table) -> Any:
    if session.bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(session: AsyncSession, table: sa.Table, values: dict[str, Any]) -> Any:
    """An insert statement that does nothing when a unique constraint is hit; RETURNING the new id."""
    return _insert(session, table).values(**values).on_conflict_do_nothing().returning(table.c.id)


async def insert_ignore_many(
    session: AsyncSession, table: sa.Table, rows: Sequence[dict[str, Any]], returning: Sequence[str] = ("id",)
) -> list[sa.Row[Any]]:
    """Insert ``rows`` (all with the same keys), skipping any that hit a unique constraint; returns the
    ``returning`` columns of the rows actually inserted."""
    inserted: list[sa.Row[Any]] = []
    columns = [table.c[name] for name in returning]
    for start in range(0, len(rows), CHUNK):
        chunk = list(rows[start : start + CHUNK])
        stmt = _insert(session, table).values(chunk).on_conflict_do_nothing().returning(*columns)
        inserted.extend((await session.execute(stmt)).all())
    return inserted
