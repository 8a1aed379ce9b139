"""Matching rows by (account_id, provider id) pairs in a way both engines index well."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa


def pairs_in(account: Any, key: Any, pairs: Iterable[tuple[int, str]]) -> sa.ColumnElement[bool]:
    """``(account, key) IN pairs`` written as ``account = a AND key IN (...)`` per account: PostgreSQL does
    not use a composite index for a long row-value IN list, and a batch nearly always names one account."""
    by_account: dict[int, list[str]] = defaultdict(list)
    for account_id, value in pairs:
        by_account[account_id].append(value)
    return sa.or_(*(sa.and_(account == a, key.in_(values)) for a, values in by_account.items()))
