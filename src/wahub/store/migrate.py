"""Schema upgrades through Alembic, callable from the CLI, ``serve`` and tests."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from wahub.store import db
from wahub.store.models import WebhookEvent

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", db.sync_url(database_url).replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to ``revision``; creates the SQLite file's folder if needed."""
    path = db.sqlite_path(database_url)
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)
    _upgrade_events(database_url)


def _upgrade_events(database_url: str) -> None:
    """The separate events file of a SQLite database (``db.events_url``) holds one table, ``webhook_events``,
    created here. Events journaled in the main file by an earlier wahub are moved over, unprocessed ones
    included, so none is lost."""
    url = db.events_url(database_url)
    if url == database_url:
        return
    engine = db.create_sync_engine(url)
    try:
        with engine.begin() as conn:
            table: sa.Table = WebhookEvent.__table__  # type: ignore[assignment]
            table.create(conn, checkfirst=True)
            # Columns added to the journal after its file was created (SQLite adds a nullable column in place).
            present = {column["name"] for column in sa.inspect(conn).get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
    finally:
        engine.dispose()
    main_path, events_path = db.sqlite_path(database_url), db.sqlite_path(url)
    assert main_path and events_path
    raw = db.connect_sqlite(events_path)
    try:
        raw.execute("ATTACH DATABASE ? AS legacy", (main_path,))
        has_legacy = raw.execute(
            "SELECT 1 FROM legacy.sqlite_master WHERE type = 'table' AND name = 'webhook_events'"
        ).fetchone()
        if has_legacy and raw.execute("SELECT 1 FROM legacy.webhook_events LIMIT 1").fetchone():
            columns = ", ".join(c.name for c in WebhookEvent.__table__.columns)
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(f"INSERT INTO webhook_events ({columns}) SELECT {columns} FROM legacy.webhook_events")  # noqa: S608
            raw.execute("DELETE FROM legacy.webhook_events")
            raw.execute("COMMIT")
        raw.execute("DETACH DATABASE legacy")
    finally:
        raw.close()


def is_current(database_url: str) -> bool:
    """True when the database is at the latest revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    engine = db.create_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    if current != heads:
        return False
    events = db.events_url(database_url)
    if events == database_url:
        return True
    path = db.sqlite_path(events)
    if not path or not Path(path).exists():
        return False
    engine = db.create_sync_engine(events)
    try:
        with engine.connect() as conn:
            return bool(sa.inspect(conn).has_table(WebhookEvent.__tablename__))
    finally:
        engine.dispose()
