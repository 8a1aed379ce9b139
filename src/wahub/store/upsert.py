"""INSERT … ON CONFLICT DO NOTHING for both engines: the database, not a check-then-insert, decides."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignore(session: AsyncSession, table: sa.Table, values: dict[str, Any]) -> Any:
    """An insert statement that does nothing when a unique constraint is hit; RETURNING the new id."""
    dialect = session.bind.dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing()
    return stmt.returning(table.c.id)
