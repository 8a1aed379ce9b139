"""``wahub db``: database maintenance."""

from __future__ import annotations

from pathlib import Path

import typer

from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, say

app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@app.command(
    "upgrade",
    epilog="Examples: wahub db upgrade   (creates ./wahub-data/wahub.db)\n\n"
    "WAHUB_DATABASE_URL=postgresql://localhost/wahub wahub db upgrade",
)
def upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema to the latest revision. A SQLite database (and its data folder) is
    created if missing, as a PostgreSQL schema is: so API keys and accounts can be set up before the first
    'wahub serve'. The other commands (but serve) refuse a database that does not exist."""
    from wahub.store import db, migrate

    settings = load_settings(data_dir, database_url)
    path = db.sqlite_path(settings.database_url)
    try:
        if path and path != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        migrate.upgrade(settings.database_url)
    except Exception as exc:
        fail(f"upgrade failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    say("database is at the latest revision")
