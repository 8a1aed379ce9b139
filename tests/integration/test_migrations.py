"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from wahub.store import db, migrate, search
from wahub.store.models import Base


def test_upgrade_head_matches_the_models(database_url: str) -> None:
    engine = db.create_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            # As the migrations' env.py: the search index (an FTS5 table, expression indexes) is not in the models.
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": search.modeled})
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_database_is_at_head_after_upgrade(database_url: str) -> None:
    assert migrate.is_current(database_url)


def test_upgrade_is_idempotent(database_url: str) -> None:
    migrate.upgrade(database_url)
    assert migrate.is_current(database_url)


def test_sqlite_journals_events_in_a_file_of_their_own(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wahub.db'}"
    assert db.events_url(url) == f"sqlite:///{tmp_path / 'wahub-events.db'}"
    assert db.events_url("sqlite://") == "sqlite://"  # in memory: one database
    assert db.events_url("postgresql://u@h/wahub") == "postgresql://u@h/wahub"
    migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "wahub-events.db") as conn:
        assert conn.execute("SELECT count(*) FROM webhook_events").fetchone() == (0,)


def test_upgrade_moves_events_an_earlier_wahub_journaled_in_the_main_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wahub.db'}"
    migrate.upgrade(url)
    (tmp_path / "wahub-events.db").unlink()  # as before the events had a file of their own
    assert not migrate.is_current(url)
    with sqlite3.connect(tmp_path / "wahub.db") as conn:
        conn.executemany(
            "INSERT INTO webhook_events (id, provider, body, received_at, processed_at, attempts, result) "
            "VALUES (?, 'meta', ?, '2026-11-01 10:00:00', ?, ?, ?)",
            [(1, b'{"a": 1}', "2026-11-01 10:00:01", 0, "ok"), (2, b'{"b": 2}', None, 1, "error: x")],
        )
    migrate.upgrade(url)
    assert migrate.is_current(url)
    with sqlite3.connect(tmp_path / "wahub-events.db") as conn:
        rows = conn.execute(
            "SELECT id, body, processed_at, attempts, result FROM webhook_events ORDER BY id"
        ).fetchall()
        assert rows == [(1, b'{"a": 1}', "2026-11-01 10:00:01", 0, "ok"), (2, b'{"b": 2}', None, 1, "error: x")]
        conn.execute("INSERT INTO webhook_events (provider, body, received_at, attempts) VALUES ('meta', x'00', '', 0)")
        assert conn.execute("SELECT max(id) FROM webhook_events").fetchone() == (3,)
    with sqlite3.connect(tmp_path / "wahub.db") as conn:
        assert conn.execute("SELECT count(*) FROM webhook_events").fetchone() == (0,)
    migrate.upgrade(url)  # once moved, a second upgrade changes nothing
    with sqlite3.connect(tmp_path / "wahub-events.db") as conn:
        assert conn.execute("SELECT count(*) FROM webhook_events").fetchone() == (3,)


def test_upgrade_adds_new_journal_columns_to_an_existing_events_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wahub.db'}"
    migrate.upgrade(url)
    events_file = tmp_path / "wahub-events.db"
    events_file.unlink()
    with sqlite3.connect(events_file) as conn:  # the journal as wahub created it before it recorded signers
        conn.execute(
            "CREATE TABLE webhook_events (id INTEGER PRIMARY KEY, provider VARCHAR(16) NOT NULL, body BLOB NOT NULL, "
            "received_at DATETIME NOT NULL, processed_at DATETIME, attempts INTEGER NOT NULL, result TEXT)"
        )
        conn.execute(
            "INSERT INTO webhook_events (provider, body, received_at, attempts) "
            "VALUES ('meta', x'7b7d', '2026-11-01 10:00:00', 0)"
        )
    migrate.upgrade(url)
    with sqlite3.connect(events_file) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(webhook_events)")]
        kept = conn.execute("SELECT body, signed_by FROM webhook_events").fetchall()
    assert "signed_by" in columns
    assert kept == [(b"{}", None)]  # kept, and taken whole by the processor (it predates signers)


def test_upgrade_keeps_one_row_per_group_creation_request(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wahub.db'}"
    migrate.upgrade(url, "0036")  # before the request id was unique: the API's and the webhook's rows of one group
    with sqlite3.connect(tmp_path / "wahub.db") as conn:
        conn.execute(
            "INSERT INTO accounts (id, name, provider, sandbox, credentials, created_at)"
            " VALUES (1, 'a', 'meta', 0, x'', '2026-12-01')"
        )
        conn.executemany(
            "INSERT INTO groups (id, account_id, group_id, request_id, subject, join_approval_mode, state,"
            " participants, join_requests, created_at, updated_at)"
            " VALUES (?, 1, ?, ?, 's', 'auto_approve', ?, '{}', '{}', '2026-12-01', '2026-12-01')",
            [
                (1, None, "R1", "creating"),  # stuck beside row 2, which Meta's webhook named: goes
                (2, "G1", "R1", "active"),
                (3, None, "R2", "creating"),  # two rows without Meta's id: the oldest stays
                (4, None, "R2", "creating"),
                (5, None, "R3", "creating"),  # alone: stays
                (6, "G2", "R4", "active"),  # two named rows of one request: the newer one loses the request id
                (7, "G3", "R4", "active"),
            ],
        )
    migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "wahub.db") as conn:
        rows = conn.execute("SELECT id, group_id, request_id FROM groups ORDER BY id").fetchall()
    assert rows == [(2, "G1", "R1"), (3, None, "R2"), (5, None, "R3"), (6, "G2", "R4"), (7, "G3", None)]
