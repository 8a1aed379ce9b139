"""Matching rows by (account_id, provider id) pairs, and by long lists of values, in ways both engines index
well and the drivers handle cheaply."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class OneOf(ColumnElement[bool]):
    """``column IN (values)``, written on PostgreSQL as ``column = ANY(%(array)s)``: one array parameter instead
    of one per value. PostgreSQL plans both alike (an IN list becomes that array), but psycopg parses a query of
    more than 50 parameters anew at every execution and cannot prepare it, which cost the processor a tenth of
    its CPU; the array form is one short query it caches. SQLite keeps the plain IN list."""

    # Both forms are children, so the statement cache keys on them and extracts their values as parameters;
    # each engine compiles one.
    _traverse_internals = [
        ("in_list", InternalTraversal.dp_clauseelement),
        ("any_array", InternalTraversal.dp_clauseelement),
    ]
    inherit_cache = True
    type = sa.Boolean()
    _is_implicitly_boolean = True  # a condition as it stands, not a value SQLite would compare with 1

    def __init__(self, column: Any, values: Sequence[Any]) -> None:
        values = list(values)
        # One expanding parameter built here: ``in_(values)`` would coerce each value, a third of a millisecond
        # for a batch's 1,000, on every statement of every batch.
        self.in_list = column.in_(sa.bindparam(None, values, type_=column.type, expanding=True))
        self.any_array = column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(column.type)))


@compiles(OneOf)
def _in_list(element: OneOf, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.in_list, **kw))


@compiles(OneOf, "postgresql")
def _any_array(element: OneOf, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.any_array, **kw))


def one_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values`` for a long list of values (see ``OneOf``)."""
    return OneOf(column, list(values))


def pairs_in(account: Any, key: Any, pairs: Iterable[tuple[int, str]]) -> sa.ColumnElement[bool]:
    """``(account, key) IN pairs`` written as ``account = a AND key IN (...)`` per account: PostgreSQL does
    not use a composite index for a long row-value IN list, and a batch nearly always names one account."""
    by_account: dict[int, list[str]] = defaultdict(list)
    for account_id, value in pairs:
        by_account[account_id].append(value)
    return sa.or_(*(sa.and_(account == a, one_of(key, values)) for a, values in by_account.items()))
