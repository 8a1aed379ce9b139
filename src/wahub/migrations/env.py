"""Alembic environment: runs against the connection or URL that ``store.migrate`` hands over."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, event

from wahub.store import db, models, search

config = context.config
target_metadata = models.Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = db.create_sync_engine(config.get_main_option("sqlalchemy.url") or "")
    if engine.dialect.name == "sqlite":
        # Batch mode copies a table and drops the old one; with foreign keys on, that DROP's implicit DELETE fires
        # the ON DELETE CASCADE of every table referring to it (all messages went with a copy of conversations).
        # SQLite reads this pragma only outside a transaction: at connect, after db's own pragmas.
        event.listen(engine, "connect", _foreign_keys_off)
    with engine.connect() as conn:
        _run_on(conn)
    engine.dispose()


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=OFF")


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
        include_name=search.modeled,  # the search index's FTS5 tables and expression indexes are not in the models
    )
    with context.begin_transaction():
        context.run_migrations()


run()
