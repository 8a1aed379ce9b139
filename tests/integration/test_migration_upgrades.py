"""Upgrading a SQLite database that holds data keeps every row: Alembic's batch mode copies a table and drops the
old one, which, with foreign keys on, would cascade to every table that refers to it (migration 0004 copied
``messages``, 0011 ``conversations``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from wahub.store import migrate

AT = "'2026-01-01 00:00:00'"
ROWS = (
    "INSERT INTO accounts (id, name, provider, sandbox, credentials, created_at) "
    f"VALUES (1, 'a', 'meta', 0, x'00', {AT})",
    f"INSERT INTO contacts (id, account_id, wa_id, created_at, updated_at) VALUES (1, 1, '14155550101', {AT}, {AT})",
    f"INSERT INTO conversations (id, account_id, contact_id, unread_count, created_at) VALUES (1, 1, 1, 0, {AT})",
    "INSERT INTO messages (id, account_id, conversation_id, contact_id, direction, type, status, content, created_at) "
    f"VALUES (1, 1, 1, 1, 'inbound', 'text', 'received', '{{}}', {AT})",
    "INSERT INTO outbox_jobs (id, message_id, account_id, kind, state, attempts, run_at, created_at, updated_at) "
    f"VALUES (1, 1, 1, 'read', 'pending', 0, {AT}, {AT}, {AT})",
)


def test_upgrading_a_sqlite_database_keeps_its_conversations_messages_and_jobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wahub.db'}"
    migrate.upgrade(url, "0003")  # before the first table copy of messages
    with sqlite3.connect(tmp_path / "wahub.db") as conn:
        for statement in ROWS:
            conn.execute(statement)
    migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "wahub.db") as conn:
        counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("conversations", "messages")]
        counts.append(conn.execute("SELECT count(*) FROM outbox_jobs").fetchone()[0])
        state = conn.execute("SELECT state, assignee_user_id FROM conversations").fetchone()
        violations = conn.execute("PRAGMA foreign_key_check").fetchall()
    assert counts == [1, 1, 1]
    assert state == ("open", None)  # 0014's default for the conversations there were
    assert violations == []
