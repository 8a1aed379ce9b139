"""Keyset paging, newest first: an opaque cursor names the last id a page showed."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors

T = TypeVar("T")

# Every id column is an INTEGER: 32 bits on PostgreSQL (the narrower of the two databases), so no row has a
# larger id. An id asked for beyond it names nothing; sent to the database, it would fail the query.
ID_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode(kind: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).decode().rstrip("=")


def decode(kind: str, cursor: str) -> int:
    """The last id of the page ``cursor`` follows; InvalidInput unless it is one ``encode`` could have made."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidInput("cursor is not valid", field="cursor") from exc
    found, _, value = text.partition(":")
    # Plain ASCII digits only (int() takes signs, '_', spaces and other scripts' digits too), and few of them.
    last = int(value) if value.isascii() and value.isdigit() and len(value) <= len(str(ID_MAX)) else 0
    if found != kind or not 1 <= last <= ID_MAX:
        raise errors.InvalidInput("cursor is not valid", field="cursor")
    return last


async def page(
    session: AsyncSession,
    stmt: sa.Select[Any],
    id_column: sa.orm.InstrumentedAttribute[int],
    *,
    kind: str,
    limit: int,
    cursor: str | None,
) -> Page[Any]:
    """Run ``stmt`` ordered by ``id_column`` descending, ``limit`` rows after ``cursor``."""
    if cursor:
        stmt = stmt.where(id_column < decode(kind, cursor))
    stmt = stmt.order_by(id_column.desc()).limit(limit + 1)
    rows: Sequence[Any] = (await session.execute(stmt)).all()
    more = len(rows) > limit
    items = list(rows[:limit])
    return Page(items=items, next_cursor=encode(kind, _id(items[-1])) if more and items else None)


def _id(row: Any) -> int:
    first = row[0]
    return int(first.id if hasattr(first, "id") else first)
