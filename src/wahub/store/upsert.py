"""INSERT … ON CONFLICT DO NOTHING for both engines: the database, not a check-then-insert, decides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert(session: AsyncSession, table: sa.Table) -> Any:
    """The engine's own INSERT, which has ``on_conflict_do_nothing`` and ``on_conflict_do_update``."""
    if session.bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(session: AsyncSession, table: sa.Table, values: dict[str, Any]) -> Any:
    """An insert statement that does nothing when a unique constraint is hit; RETURNING the new id."""
    return insert(session, table).values(**values).on_conflict_do_nothing().returning(table.c.id)


async def insert_ignore_many(
    session: AsyncSession, table: sa.Table, rows: Sequence[dict[str, Any]], returning: Sequence[str] = ("id",)
) -> list[sa.Row[Any]]:
    """Insert ``rows`` (all with the same keys), skipping any that hit a unique constraint; returns the
    ``returning`` columns of the rows actually inserted."""
    if not rows:
        return []
    columns = [table.c[name] for name in returning]
    # executemany with RETURNING: SQLAlchemy's "insertmanyvalues" compiles the statement once and sends
    # batches of rows, much cheaper than one multi-VALUES statement compiled per call.
    stmt = insert(session, table).on_conflict_do_nothing().returning(*columns)
    return list((await session.execute(stmt, list(rows))).all())


async def insert_ignore_rows(session: AsyncSession, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping any that hit a unique constraint, without reporting which (cheapest form)."""
    if rows:
        await session.execute(insert(session, table).on_conflict_do_nothing(), list(rows))
