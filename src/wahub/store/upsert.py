"""INSERT … ON CONFLICT DO NOTHING for both engines: the database, not a check-then-insert, decides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import jsontext
from wahub.store.columns import UTCDateTime


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
    if (one := _as_one(session, table, rows)) is not None:
        return list((await session.execute(one.returning(*columns))).all())
    # executemany with RETURNING: SQLAlchemy's "insertmanyvalues" compiles the statement once and sends
    # batches of rows, much cheaper than one multi-VALUES statement compiled per call.
    stmt = insert(session, table).on_conflict_do_nothing().returning(*columns)
    return list((await session.execute(stmt, list(rows))).all())


async def insert_ignore_rows(session: AsyncSession, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping any that hit a unique constraint, without reporting which (cheapest form)."""
    if not rows:
        return
    if (one := _as_one(session, table, rows)) is not None:
        await session.execute(one)
    else:
        await session.execute(insert(session, table).on_conflict_do_nothing(), list(rows))


def _as_one(session: AsyncSession, table: sa.Table, rows: Sequence[dict[str, Any]]) -> Any:
    """On PostgreSQL, ``rows`` as one INSERT … SELECT from ``rows_source``, in their order; None where the
    executemany is kept: SQLite, a single row, rows of differing keys, a column of a type ``rows_source`` does
    not take, or one left out whose default only Python knows.

    An executemany costs psycopg a Bind and an Execute per row (each parameter dumped in Python) and the server
    an executor start per row; with RETURNING, SQLAlchemy sends instead one INSERT of every row's VALUES, whose
    thousands of parameters psycopg parses anew at every execution (a tenth of the processor's CPU on
    PostgreSQL)."""
    if session.bind.dialect.name != "postgresql" or len(rows) < 2:
        return None
    first = rows[0].keys()
    if any(row.keys() != first for row in rows):
        return None
    extra: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in first and column.default is not None:
            if not column.default.is_scalar:
                return None
            extra[column.name] = column.default.arg  # type: ignore[attr-defined]
    names = [*first, *extra]
    more = tuple(extra.values())
    source = rows_source(
        session, [(name, table.c[name].type) for name in names], [(*row.values(), *more) for row in rows]
    )
    return None if source is None else postgresql.insert(table).from_select(names, source).on_conflict_do_nothing()


def rows_source(
    session: AsyncSession, columns: Sequence[tuple[str, sa.types.TypeEngine[Any]]], rows: Sequence[Sequence[Any]]
) -> sa.TextualSelect | None:
    """On PostgreSQL, ``rows`` (values in the order of ``columns``) as a SELECT of those named, typed columns
    from one JSON parameter (``jsonb_to_recordset``), in the rows' order: to INSERT from, or to UPDATE … FROM.
    None on SQLite, for fewer than two rows, or for a column type other than integers, strings, booleans, UTC
    times and JSON: the caller's executemany then does it. The rows are one ``jsontext.dumps`` and the statement
    is short, so psycopg caches it. (One array parameter per column was tried first: psycopg escapes each element
    of a text array in Python.)"""
    if session.bind.dialect.name != "postgresql" or len(rows) < 2:
        return None
    dialect = session.bind.dialect
    quote = dialect.identifier_preparer.quote
    declared, selected = [], []
    for i, (name, kind) in enumerate(columns):
        if isinstance(kind, sa.JSON):
            declared.append(f"c{i} JSONB")
            # Python's None is JSON's null, as SQLAlchemy stores it, not SQL's NULL.
            selected.append(f"COALESCE(r.c{i}, CAST('null' AS JSONB)) AS {quote(name)}")
        elif isinstance(kind, _PLAIN) and not isinstance(kind, sa.Enum):
            declared.append(f"c{i} {dialect.type_compiler_instance.process(kind.dialect_impl(dialect))}")
            selected.append(f"r.c{i} AS {quote(name)}")
        else:
            return None
    keys = [f"c{i}" for i in range(len(columns))]
    times: dict[datetime, str] = {}  # a batch's rows share their times (when stored, Meta's whole seconds)

    def as_text(value: Any) -> str:
        found = times.get(value)
        if found is None:
            found = times[value] = _utc_naive(value)
        return found

    doc = jsontext.dumps([dict(zip(keys, row, strict=True)) for row in rows], as_text)
    # Built of generated aliases, the given names (quoted) and the columns' compiled types only; the rows are the
    # one bound parameter.
    query = (
        f"SELECT {', '.join(selected)} FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS JSONB)) AS "  # noqa: S608
        f"({', '.join(declared)})) WITH ORDINALITY AS r({', '.join([*keys, 'n'])}) ORDER BY r.n"
    )
    return sa.text(query).bindparams(rows=doc).columns(*(sa.column(name) for name, _ in columns))


# The column types whose values go into the JSON document as they are (times as ISO text, naive UTC).
_PLAIN = (sa.Integer, sa.String, sa.Boolean, UTCDateTime)


def _utc_naive(value: Any) -> str:
    """A time in the JSON document as ``UTCDateTime`` stores it (naive UTC), in ISO form."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    stored = _UTC.process_bind_param(value, _POSTGRESQL)
    assert stored is not None
    return stored.isoformat()


_UTC = UTCDateTime()
_POSTGRESQL: sa.Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
