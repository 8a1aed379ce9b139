"""``wahub media``: media files of messages."""

from __future__ import annotations

from typing import Annotated

import typer

from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say

app = typer.Typer(help="Media files of messages.", no_args_is_help=True)


@app.command("retry", epilog="Examples: wahub media retry\n\nwahub media retry --id 42")
@runs
async def retry(
    media_id: Annotated[
        int | None, typer.Option("--id", min=1, help="Only this media (default: every failed one)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Fetch failed media again (after a storage outage, or once a problem is fixed); a running wahub does it.
    Media Meta no longer has fail again with that reason."""
    from wahub import commands
    from wahub.store import media

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        count = await media.retry_failed(session, media_id)
    if media_id is not None and count == 0:
        fail(f"media {media_id} does not exist or has not failed")
    say(f"{count} media will be fetched again")
