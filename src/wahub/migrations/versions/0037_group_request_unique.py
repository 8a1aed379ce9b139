"""groups: one row per creation request (a unique index on account_id, request_id)

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-03 06:10:00.000000

The API's row for a group creation request and the row Meta's ``group_create`` webhook makes could both be written
when the two transactions ran at once on PostgreSQL (``store/groups.py``, ``_added``): the API's row then stayed
``creating`` for good beside the webhook's active one. Such a pair is one group: the row without Meta's id goes, the
one the webhook named stays.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_groups_account_id_request_id"
# A stuck row of a request another row was named for goes (or the newer of two unnamed ones)
STUCK = """DELETE FROM groups WHERE group_id IS NULL AND request_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM groups other WHERE other.account_id = groups.account_id AND other.request_id = groups.request_id
    AND other.id <> groups.id AND (other.group_id IS NOT NULL OR other.id < groups.id))"""
# any other pair keeps the request id on its oldest row
SHARED = """UPDATE groups SET request_id = NULL WHERE EXISTS (
    SELECT 1 FROM groups other WHERE other.account_id = groups.account_id AND other.request_id = groups.request_id
    AND other.id < groups.id)"""


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(STUCK)
    bind.exec_driver_sql(SHARED)
    op.drop_index(INDEX, table_name="groups")
    op.create_index(INDEX, "groups", ["account_id", "request_id"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="groups")
    op.create_index(INDEX, "groups", ["account_id", "request_id"])
