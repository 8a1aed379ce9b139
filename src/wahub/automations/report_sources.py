"""Where a report's rows come from: wahub's own statistics, a read-only SQL query on a configured database, or
a CSV or XLSX file (a path, or an http(s) URL fetched with the media-from-URL address checks).

The query runs on the database's own driver (``sqlite3``, ``psycopg``) in a thread, not through an engine:
each run opens one connection and closes it, and the driver is where read-only is enforced. SQLite is opened
``mode=ro`` with ``query_only``, and an interrupt stops it at the timeout; PostgreSQL gets a read-only
transaction, ``statement_timeout``, and the query as a prepared statement (one statement only, so no
``COMMIT; INSERT …`` walks out of the transaction)."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.automations.report_definition import Definition
from wahub.storage import remote
from wahub.store import stats

MAX_FILE = 50 * 1024 * 1024  # a CSV or workbook read as a source
MAX_ROWS = 1_000_000  # Excel's own limit is 1,048,576


@dataclass(slots=True)
class Table:
    """Rows under a header; cells are int, float, date, datetime, str or None."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    source: str = ""  # what it was read from, for the summary sheet (no credentials)


async def load(
    definition: Definition,
    *,
    sessions: async_sessionmaker[AsyncSession],
    databases: dict[str, str],
    allow_private: bool,
    now: datetime,
) -> Table:
    """The report's rows; ``InvalidInput`` for a source that will never work as given (a query that writes, a
    file that is not there), ``ReportSourceError`` for one that fails now."""
    if definition.source == "stats":
        async with sessions() as session:
            return await _stats(session, definition.days, now)
    if definition.source == "sql":
        assert definition.database is not None and definition.query is not None
        url = databases.get(definition.database)
        if url is None:
            known = ", ".join(sorted(databases)) or "none is configured"
            raise errors.InvalidInput(
                f"database: no '{definition.database}' in [report_databases] ({known})", field="database"
            )
        query, timeout = definition.query, definition.timeout_seconds
        table = await asyncio.to_thread(_query, url, query, timeout)
        table.source = f"sql on database '{definition.database}'"
        return table
    assert definition.path is not None
    data = await _read(definition.path, allow_private)
    table = _csv(data) if definition.source == "csv" else _xlsx(data)
    table.source = f"{definition.source} {definition.path}"
    return table


async def _stats(session: AsyncSession, days: int, now: datetime) -> Table:
    until = datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), datetime.min.time(), UTC)
    summary = await stats.summary(session, until - timedelta(days=days), until)
    table = Table(["day", "received", "sent", "delivered", "read"], source=f"wahub statistics, last {days} days")
    table.rows = [[d.day, d.inbound, d.outbound, d.delivered, d.read] for d in summary.by_day]
    return table


# SQL


def _query(url: str, query: str, timeout: float) -> Table:
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return _sqlite(url, query, timeout)
    if backend in ("postgresql", "postgres"):
        return _postgres(url, query, timeout)
    raise errors.InvalidInput(
        f"database: only sqlite and postgresql databases are read, not {backend}", field="database"
    )


def _sqlite(url: str, query: str, timeout: float) -> Table:
    path = make_url(url).database
    if not path or path == ":memory:" or not Path(path).is_file():
        raise errors.InvalidInput(f"database: no SQLite file {path}", field="database")
    deadline = time.monotonic() + timeout
    try:
        conn = sqlite3.connect(f"file:{quote(str(Path(path).absolute()))}?mode=ro", uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        raise errors.ReportSourceError(f"database: cannot open it ({exc})") from exc
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        cursor = conn.execute(query)
        return _table(cursor.description, cursor.fetchmany(MAX_ROWS + 1))
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "interrupted" in text:
            raise errors.ReportSourceError(f"query: stopped after {timeout:g} s") from exc
        if "readonly" in text or "read-only" in text or "query_only" in text:
            raise _writes(text) from exc
        if "locked" in text or "unable to open" in text:
            raise errors.ReportSourceError(f"query: {text}") from exc
        raise errors.InvalidInput(f"query: {text}", field="query") from exc
    except sqlite3.Error as exc:  # ProgrammingError (two statements), DatabaseError...
        raise errors.InvalidInput(f"query: {exc}", field="query") from exc
    finally:
        conn.close()


def _postgres(url: str, query: str, timeout: float) -> Table:
    import psycopg

    parsed = make_url(url).set(drivername="postgresql")
    conninfo = parsed.render_as_string(hide_password=False)
    options = f"-c default_transaction_read_only=on -c statement_timeout={int(timeout * 1000)}"
    try:
        conn = psycopg.connect(conninfo, options=options, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as exc:
        raise errors.ReportSourceError(f"database: cannot connect ({type(exc).__name__})") from exc
    try:
        conn.read_only = True
        with conn.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(query.encode(), prepare=True)
            if cursor.description is None:
                raise errors.InvalidInput("query: it returns no rows (a report reads a SELECT)", field="query")
            return _table(cursor.description, cursor.fetchmany(MAX_ROWS + 1))
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise _writes(str(exc).splitlines()[0]) from exc
    except psycopg.errors.QueryCanceled as exc:
        raise errors.ReportSourceError(f"query: stopped after {timeout:g} s") from exc
    except psycopg.OperationalError as exc:
        raise errors.ReportSourceError(f"query: the database failed ({type(exc).__name__})") from exc
    except psycopg.Error as exc:  # syntax, a missing table, two statements in one
        raise errors.InvalidInput(f"query: {str(exc).splitlines()[0]}", field="query") from exc
    finally:
        conn.rollback()
        conn.close()


def _writes(detail: str) -> errors.InvalidInput:
    return errors.InvalidInput(
        f"query: reports read databases read-only, and this query tries to write ({detail}); give a SELECT",
        field="query",
    )


def _table(description: Sequence[Any] | None, rows: Sequence[Sequence[Any]]) -> Table:
    if description is None:
        raise errors.InvalidInput("query: it returns no rows (a report reads a SELECT)", field="query")
    if len(rows) > MAX_ROWS:
        raise errors.InvalidInput(f"query: more than {MAX_ROWS:,} rows", field="query")
    table = Table([str(d[0]) for d in description], [[_cell(v) for v in row] for row in rows])
    _dates_of_text(table)
    return table


def _dates_of_text(table: Table) -> None:
    """SQLite gives dates as text ('2026-11-01'): a text column whose every value reads as a date or a time
    becomes one (numbers in text stay text: a code such as '0042' is not a number)."""
    for i in range(len(table.columns)):
        cells = [row[i] for row in table.rows if row[i] is not None]
        if not cells or not all(isinstance(c, str) for c in cells):
            continue
        for parse in (date.fromisoformat, datetime.fromisoformat):
            try:
                typed = [parse(c) for c in cells]
            except ValueError:
                continue
            found = iter(typed)
            for row in table.rows:
                if row[i] is not None:
                    row[i] = _cell(next(found))
            break


def _cell(value: Any) -> Any:
    """A value as a workbook cell takes it: numbers as numbers, times without a zone (in UTC)."""
    if value is None or isinstance(value, bool | int | float | str | date):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    return str(value)


# Files


async def _read(path: str, allow_private: bool) -> bytes:
    if path.startswith(("http://", "https://")):
        return await remote.fetch_data(path, allow_private=allow_private, limit=MAX_FILE)
    if "://" in path:
        raise errors.InvalidInput("path: a file path or an http(s) URL", field="path")
    return await asyncio.to_thread(_read_file, Path(path))


def _read_file(file: Path) -> bytes:
    if not file.is_file():
        raise errors.InvalidInput(f"path: no file {file}", field="path")
    if file.stat().st_size > MAX_FILE:
        raise errors.InvalidInput(f"path: the file is larger than {MAX_FILE:,} bytes", field="path")
    return file.read_bytes()


def _csv(data: bytes) -> Table:
    text = data.decode("utf-8-sig", errors="replace")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(cell.strip() for cell in row)]
    if not rows:
        raise errors.InvalidInput("path: the CSV file is empty", field="path")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    width = len(header)
    body = [(row + [""] * width)[:width] for row in body]
    columns = [_typed([row[i] for row in body]) for i in range(width)]
    return Table(header, [[columns[i][n] for i in range(width)] for n in range(len(body))])


def _typed(cells: list[str]) -> list[Any]:
    """A CSV column's cells as one type: int, float, date or datetime if every non-empty cell reads as it."""
    values = [c.strip() for c in cells]
    parsers: list[Callable[[str], Any]] = [int, _float, date.fromisoformat, datetime.fromisoformat]
    for parse in parsers:
        try:
            return [parse(v) if v else None for v in values]
        except ValueError:
            continue
    return [v or None for v in values]


def _float(text: str) -> float:
    value = float(text)
    if text.lower() in ("nan", "inf", "-inf", "infinity", "-infinity"):
        raise ValueError(text)
    return value


def _xlsx(data: bytes) -> Table:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl's errors for a file that is not a workbook vary by what is wrong
        raise errors.InvalidInput(f"path: not an .xlsx workbook ({type(exc).__name__})", field="path") from exc
    try:
        sheet = book.worksheets[0]
        rows = [list(row) for row in sheet.iter_rows(values_only=True) if any(v is not None for v in row)]
    finally:
        book.close()
    if not rows:
        raise errors.InvalidInput("path: the workbook's first sheet is empty", field="path")
    header = [str(h) if h is not None else f"column {i + 1}" for i, h in enumerate(rows[0])]
    return Table(header, [[_cell(v) for v in row] for row in rows[1:]])
