"""``wahub apikey``: API keys for programs."""

from __future__ import annotations

from typing import Annotated

import typer

from wahub.cli.base import DatabaseUrl, DataDir, load_settings, runs, say

app = typer.Typer(help="API keys for programs.", no_args_is_help=True)


@app.command("create", epilog="Example: wahub apikey create --name erp --scope send --scope read")
@runs
async def create(
    name: Annotated[str, typer.Option(help="What the key is for")] = "default",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="What it may do: send, read, admin (repeat it; all three when not given)",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it (the key alone on the last line). It is shown only once."""
    from wahub import commands
    from wahub.store import apikeys

    scopes = apikeys.parse_scopes(scope or [])
    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        row, key = await apikeys.create(session, name, scopes)
    say(f"created API key {row.prefix} ({name}, may {', '.join(sorted(scopes))}); store it now, it is not shown again")
    print(key)


@app.command("revoke", epilog="Example: wahub apikey revoke 1a2b3c4d")
@runs
async def revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix, the 8 characters after 'wahub_'")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key: calls made with it get 401 from then on."""
    from wahub import commands
    from wahub.store import apikeys

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        await apikeys.revoke(session, prefix)
    say(f"revoked API key {prefix}")


@app.command("list", epilog="Example: wahub apikey list")
@runs
async def list_keys(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List API keys (prefixes and names; keys themselves are never stored), and when each was last used (to
    the minute or so: a running wahub writes it every minute)."""
    from wahub import commands
    from wahub.store import apikeys

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        rows = await apikeys.list_keys(session)
    for row in rows:
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        used = f"last used {row.last_used_at:%Y-%m-%d %H:%M} UTC" if row.last_used_at else "never used"
        print(f"{apikeys.KEY_PREFIX}{row.prefix}_…\t{row.name}\t{state}\t{used}\t{row.scopes}")
