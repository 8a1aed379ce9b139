"""INSERT … ON CONFLICT DO NOTHING for both engines: the database, not a check-then-insert, decides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import jsontext
from wahub.store.columns import UTCDateTime

_Row = TypeVar("_Row")


def insert(session: AsyncSession, table: sa.Table) -> Any:
    """The engine's own INSERT, which has ``on_conflict_do_nothing`` and ``on_conflict_do_update``."""
    if session.bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(session: AsyncSession, table: sa.Table, values: dict[str, Any]) -> Any:
    """An insert statement that does nothing when a unique constraint is hit; RETURNING the new id."""
    return insert(session, table).values(**values).on_conflict_do_nothing().returning(table.c.id)


async def locked_row(
    session: AsyncSession, model: type[_Row], values: dict[str, Any], *where: sa.ColumnElement[bool]
) -> tuple[_Row, bool]:
    """The row ``where`` selects, inserted from ``values`` first if no row holds their unique keys; locked until
    the transaction ends and read afresh (the lowest key if ``where`` selects several), and whether this call made
    it. Two transactions making one row at once on PostgreSQL each look and find nothing: the second insert waits
    for the first to commit and does nothing, and both read that row; a change written whole is made to what the
    other committed. On SQLite writers take turns anyway."""
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    stmt = insert(session, table).values(**values).on_conflict_do_nothing().returning(*table.primary_key.columns)
    new = (await session.execute(stmt)).first() is not None
    found = sa.select(model).where(*where).order_by(*table.primary_key.columns).limit(1).with_for_update()
    return (await session.scalars(found.execution_options(populate_existing=True))).one(), new


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
    if (many := _driver_rows(session, table, rows)) is not None:
        connection = await session.connection()
        await connection.exec_driver_sql(*many)
    elif (one := _as_one(session, table, rows)) is not None:
        await session.execute(one)
    else:
        await session.execute(insert(session, table).on_conflict_do_nothing(), list(rows))


def _driver_rows(
    session: AsyncSession, table: sa.Table, rows: Sequence[dict[str, Any]]
) -> tuple[str, list[tuple[Any, ...]]] | None:
    """On SQLite, ``rows`` as the driver's own executemany (its statement and its rows of parameters), each value
    through its column's bind processor (a time once per batch); None elsewhere, for a single row, or where
    ``_uniform`` says no. SQLAlchemy's executemany does the same per row with far more around it, and a JSON
    document (``rows_source``) costs SQLite a parse of each row per column: bench/process.py --callgrind on SQLite,
    939k -> 876k instructions per event (docs/decisions.md)."""
    dialect = session.bind.dialect
    if dialect.name != "sqlite" or len(rows) < 2 or (uniform := _uniform(table, rows)) is None:
        return None
    names, more = uniform
    processors: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(names):
        kind = table.c[name].type
        found = kind._cached_bind_processor(dialect)
        if found is not None:
            processors.append((i, _once_each(found) if isinstance(kind, UTCDateTime) else found))
    params = []
    for row in rows:
        values = [*row.values(), *more]
        for i, convert in processors:
            values[i] = convert(values[i])
        params.append(tuple(values))
    quote = dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({', '.join(map(quote, names))}) "  # noqa: S608
        f"VALUES ({', '.join('?' * len(names))}) ON CONFLICT DO NOTHING"
    )
    return statement, params


def _once_each(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process``, each distinct value processed once: a batch's rows share their times (Meta's whole seconds).
    Also ``jsontext.dumps``'s ``default`` for a document's times."""
    done: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        found = done.get(value, done)
        if found is done:
            found = done[value] = process(value)
        return found

    return cached


def _uniform(table: sa.Table, rows: Sequence[dict[str, Any]]) -> tuple[list[str], tuple[Any, ...]] | None:
    """The columns that ``rows`` fill (their keys, then the scalar defaults of the others) and those defaults'
    values; None for rows of differing keys or a column left out whose default only Python knows."""
    first = rows[0].keys()
    if any(row.keys() != first for row in rows):
        return None
    extra: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in first and column.default is not None:
            if not column.default.is_scalar:
                return None
            extra[column.name] = column.default.arg  # type: ignore[attr-defined]
    return [*first, *extra], tuple(extra.values())


def _as_one(session: AsyncSession, table: sa.Table, rows: Sequence[dict[str, Any]]) -> Any:
    """``rows`` as one INSERT … SELECT from ``rows_source``, in their order; None where the executemany is kept: a
    single row, rows of differing keys, a column of a type ``rows_source`` does not take, or one left out whose
    default only Python knows.

    An executemany costs psycopg a Bind and an Execute per row (each parameter dumped in Python) and the server
    an executor start per row; with RETURNING, SQLAlchemy sends instead one INSERT of every row's VALUES, whose
    thousands of parameters psycopg parses anew at every execution (a tenth of the processor's CPU on
    PostgreSQL). On SQLite, each row's parameters went through SQLAlchemy's type processing and the driver's
    binding one by one."""
    if len(rows) < 2 or (uniform := _uniform(table, rows)) is None:
        return None
    names, more = uniform
    source = rows_source(
        session, [(name, table.c[name].type) for name in names], [(*row.values(), *more) for row in rows]
    )
    return None if source is None else insert(session, table).from_select(names, source).on_conflict_do_nothing()


def rows_source(
    session: AsyncSession, columns: Sequence[tuple[str, sa.types.TypeEngine[Any]]], rows: Sequence[Sequence[Any]]
) -> sa.TextualSelect | None:
    """``rows`` (values in the order of ``columns``) as a SELECT of those named columns from one JSON parameter,
    in the rows' order: to INSERT from, or to UPDATE … FROM. None for fewer than two rows, or for a column type
    other than integers, strings, booleans, UTC times and JSON: the caller's executemany then does it.

    The rows are one ``jsontext.dumps`` and the statement is short, so the driver caches it: no per-row binding in
    SQLAlchemy or the driver, no statement per row in the database. PostgreSQL reads the document with
    ``jsonb_to_recordset`` (one array parameter per column was tried first: psycopg escapes each element of a text
    array in Python); SQLite with ``json_each``, each row an array whose values are taken out as SQL values
    (``->>``), a JSON column's as its JSON text. A time goes in as the column's own type stores it on that engine.
    bench/process.py --callgrind on SQLite: 972k -> 939k instructions per event (docs/decisions.md)."""
    if len(rows) < 2:
        return None
    dialect = session.bind.dialect
    if dialect.name == "postgresql":
        return _postgresql_rows(dialect, columns, rows)
    if dialect.name == "sqlite":
        return _sqlite_rows(dialect, columns, rows)
    return None


def _postgresql_rows(
    dialect: sa.Dialect, columns: Sequence[tuple[str, sa.types.TypeEngine[Any]]], rows: Sequence[Sequence[Any]]
) -> sa.TextualSelect | None:
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
    doc = jsontext.dumps([dict(zip(keys, row, strict=True)) for row in rows], _once_each(_utc_naive_iso))
    # Built of generated aliases, the given names (quoted) and the columns' compiled types only; the rows are the
    # one bound parameter.
    query = (
        f"SELECT {', '.join(selected)} FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS JSONB)) AS "  # noqa: S608
        f"({', '.join(declared)})) WITH ORDINALITY AS r({', '.join([*keys, 'n'])}) ORDER BY r.n"
    )
    return sa.text(query).bindparams(rows=doc).columns(*(sa.column(name) for name, _ in columns))


def _sqlite_rows(
    dialect: sa.Dialect, columns: Sequence[tuple[str, sa.types.TypeEngine[Any]]], rows: Sequence[Sequence[Any]]
) -> sa.TextualSelect | None:
    quote = dialect.identifier_preparer.quote
    as_json = [i for i, (_, kind) in enumerate(columns) if isinstance(kind, sa.JSON)]
    if any(not isinstance(kind, (*_PLAIN, sa.JSON)) or isinstance(kind, sa.Enum) for _, kind in columns):
        return None
    selected = [f"r.value ->> {i} AS {quote(name)}" for i, (name, _) in enumerate(columns)]
    if as_json:
        # A JSON column's value goes in as its JSON text ('null' for Python's None, as SQLAlchemy stores it), a
        # string within the document: SQLite's ``->`` would render each value again.
        texts = [list(row) for row in rows]
        for row in texts:
            for i in as_json:
                row[i] = jsontext.dumps(row[i])
        rows = texts
    doc = jsontext.dumps(rows, _once_each(_sqlite_time))
    if "\\u0000" in doc:
        return None  # SQLite's ``->>`` would end a text at a NUL character, which a bound text keeps
    # WHERE true: an INSERT … SELECT followed by ON CONFLICT needs it on SQLite (its parser's ambiguity with a
    # join's ON).
    query = f"SELECT {', '.join(selected)} FROM json_each(:rows) AS r WHERE true ORDER BY r.key"  # noqa: S608
    return sa.text(query).bindparams(rows=doc).columns(*(sa.column(name) for name, _ in columns))


# The column types whose values go into the JSON document as they are (times as the column stores them).
_PLAIN = (sa.Integer, sa.String, sa.Boolean, UTCDateTime)


def _utc_naive_iso(value: Any) -> str:
    """A time in the JSON document as ``UTCDateTime`` stores it on PostgreSQL (naive UTC), in ISO form."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    stored = _UTC.process_bind_param(value, _POSTGRESQL)
    assert stored is not None
    return stored.isoformat()


def _sqlite_time(value: Any) -> str:
    """A time in the JSON document as ``UTCDateTime`` stores it on SQLite: the text its bind processor makes."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    stored = _SQLITE_TIME(value) if _SQLITE_TIME is not None else None
    assert isinstance(stored, str)
    return stored


_UTC = UTCDateTime()
_POSTGRESQL: sa.Dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
_SQLITE_TIME = _UTC._cached_bind_processor(sqlite.dialect())
