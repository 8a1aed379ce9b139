"""reports: report definitions made through the API, and the runs of every report

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 14:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import wahub.store.models

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint("name", name=op.f("uq_reports_name")),
    )
    op.create_table(
        "report_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("run_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.Column("locked_until", wahub.store.models.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", wahub.store.models.UTCDateTime(), nullable=True),
        sa.Column("finished_at", wahub.store.models.UTCDateTime(), nullable=True),
        sa.Column("storage_key", sa.String(length=512), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("message_ids", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", wahub.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_runs")),
    )
    op.create_index("ix_report_runs_state_run_at", "report_runs", ["state", "run_at"])
    op.create_index("ix_report_runs_report_id", "report_runs", ["report", "id"])


def downgrade() -> None:
    op.drop_index("ix_report_runs_report_id", table_name="report_runs")
    op.drop_index("ix_report_runs_state_run_at", table_name="report_runs")
    op.drop_table("report_runs")
    op.drop_table("reports")
