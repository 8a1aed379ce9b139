"""contacts: the trigram index that serves a search by part of a number is on the number as shown ('+' and the
digits), not on ``wa_id`` itself, so PostgreSQL can no longer pick it to look contacts up by their exact number

Revision ID: 0036
Revises: 0034
Create Date: 2026-12-02 15:10:00.000000

A trigram index on ``wa_id`` also serves ``wa_id = …``, and the planner took it for the lookup of a chunk of
contacts by number (``contacts._load``) when the table's statistics were older than its rows: a table analyzed
while small, then a broadcast, campaign audience or CSV import that adds thousands of contacts in one transaction.
Every phone number shares most of its trigrams with every other, so each lookup rechecked nearly the whole table:
10,000 recipients queued in 42 s instead of 3 s (docs/decisions.md). The unique btree on (account_id, wa_id) is
the only index left that serves equality.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from wahub.store import search

revision: str = "0036"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "ix_contacts_wa_id_trgm"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"DROP INDEX IF EXISTS {OLD}")
        bind.exec_driver_sql(
            f"CREATE INDEX {search.PG_NUMBER_INDEX} ON contacts USING gin (({search.PG_NUMBER}) gin_trgm_ops)"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"DROP INDEX IF EXISTS {search.PG_NUMBER_INDEX}")
        bind.exec_driver_sql(f"CREATE INDEX {OLD} ON contacts USING gin (wa_id gin_trgm_ops)")
