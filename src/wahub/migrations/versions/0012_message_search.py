"""full-text search: messages.search_text, indexed by FTS5 on SQLite and GIN on PostgreSQL; contacts by trigrams

``messages.search_text`` is what a message is found by (``search_text.indexed_text`` of its type and content),
filled here for every stored message, a chunk at a time, and written with each message from now on.

SQLite: ``messages_fts`` is an FTS5 table with *external content* (``content='messages'``). The text then lives
once, in ``messages.search_text``, which PostgreSQL indexes too; FTS5 reads it from there for ``snippet()``.
A contentless table would store no text either, but gives no snippets, and (before SQLite 3.43, and 3.40 is
what Debian 12 ships) can only delete a row when given the very text it indexed: so it needs that text kept
somewhere all the same. External content needs it too, and gets it from the old row in triggers: insert,
update of ``search_text`` and delete (foreign-key cascades fire them) keep the index in step whatever writes
the table. A table copy (Alembic's batch mode on ``messages``) would drop the triggers: later migrations alter
``messages`` with plain ``ALTER TABLE`` (``add_column``) only, or recreate the triggers (``TRIGGERS``).
``prefix='3'`` keeps an index of 3-character prefixes, so a word being typed is found without scanning every
word that begins with it.

PostgreSQL: ``messages.search_vector``, a stored generated ``tsvector`` column (``search.PG_VECTOR``: the
``simple`` configuration, ASCII punctuation read as spaces) with a GIN index. Stored, not an expression index:
the planner often reads messages newest first and checks each row (the fastest way to the newest 50 of a
frequent word), and recomputing the vector for every row checked cost 10-15 us a row (113 ms for one phrase
query over 1,000,000 messages, ``bench/inbox_api.py``), where reading a stored one costs about one.
``pg_trgm`` (a trusted extension: creating it needs the CREATE privilege on the database, not a superuser)
with GIN trigram indexes on ``contacts.profile_name`` and ``contacts.wa_id``, for ``ILIKE '%…%'``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 03:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from wahub.store import search
from wahub.store.models import JSONType
from wahub.store.search_text import indexed_text

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5_000  # messages read and updated at a time by the backfill

FTS = (
    f"CREATE VIRTUAL TABLE {search.FTS_TABLE} USING fts5(search_text, content='messages', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2', prefix='3')"
)
# A row of the index exists exactly when search_text is not NULL; a 'delete' must repeat what was indexed.
TRIGGERS = (
    """CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN new.search_text IS NOT NULL BEGIN
    INSERT INTO messages_fts (rowid, search_text) VALUES (new.id, new.search_text);
END""",
    """CREATE TRIGGER messages_fts_update AFTER UPDATE OF search_text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search_text)
        SELECT 'delete', old.id, old.search_text WHERE old.search_text IS NOT NULL;
    INSERT INTO messages_fts (rowid, search_text) SELECT new.id, new.search_text WHERE new.search_text IS NOT NULL;
END""",
    """CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.search_text IS NOT NULL BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END""",
)
POSTGRES = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"ALTER TABLE messages ADD COLUMN {search.PG_COLUMN} tsvector GENERATED ALWAYS AS ({search.PG_VECTOR}) STORED",
    f"CREATE INDEX ix_messages_search_vector ON messages USING gin ({search.PG_COLUMN})",
    "CREATE INDEX ix_contacts_profile_name_trgm ON contacts USING gin (profile_name gin_trgm_ops)",
    "CREATE INDEX ix_contacts_wa_id_trgm ON contacts USING gin (wa_id gin_trgm_ops)",
)


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("messages", sa.Column("search_text", sa.Text(), nullable=True))
    backfill(bind)
    # Statements go to the driver as written (no bound parameters, nothing for SQLAlchemy to rewrite).
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql(FTS)
        bind.exec_driver_sql(
            "INSERT INTO messages_fts (rowid, search_text) "
            "SELECT id, search_text FROM messages WHERE search_text IS NOT NULL"
        )
        for trigger in TRIGGERS:
            bind.exec_driver_sql(trigger)
    else:
        for statement in POSTGRES:  # the vectors and indexes built once, after the backfill
            bind.exec_driver_sql(statement)


def backfill(bind: sa.Connection) -> None:
    """``search_text`` of every stored message, in chunks of ``CHUNK`` by id (bounded memory on big tables)."""
    messages = sa.table(
        "messages",
        sa.column("id", sa.Integer),
        sa.column("type", sa.String),
        sa.column("content", JSONType),
        sa.column("search_text", sa.Text),
    )
    fill = sa.update(messages).where(messages.c.id == sa.bindparam("b_id")).values(search_text=sa.bindparam("b_text"))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(messages.c.id, messages.c.type, messages.c.content)
            .where(messages.c.id > last)
            .order_by(messages.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        texts = [{"b_id": r.id, "b_text": indexed_text(r.type, r.content or {})} for r in rows]
        if found := [t for t in texts if t["b_text"] is not None]:
            bind.execute(fill, found)
        last = rows[-1].id


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in search.FTS_TRIGGERS:
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        bind.exec_driver_sql(f"DROP TABLE IF EXISTS {search.FTS_TABLE}")
        bind.exec_driver_sql("ALTER TABLE messages DROP COLUMN search_text")  # in place (SQLite >= 3.35)
    else:
        for name in ("ix_messages_search_vector", "ix_contacts_profile_name_trgm", "ix_contacts_wa_id_trgm"):
            bind.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        bind.exec_driver_sql(f"ALTER TABLE messages DROP COLUMN IF EXISTS {search.PG_COLUMN}")
        op.drop_column("messages", "search_text")
