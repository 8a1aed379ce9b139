"""``wahub events``: the journal of raw webhook events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs

app = typer.Typer(help="The raw webhook events wahub keeps (WAHUB_RAW_EVENT_DAYS).", no_args_is_help=True)

_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@app.command(
    "reprocess",
    epilog="Examples: wahub events reprocess --since 2026-11-01\n\n"
    "wahub events reprocess --since 2026-11-01 --until 2026-11-15",
)
@runs
async def reprocess(
    since: Annotated[datetime, typer.Option(formats=_FORMATS, help="From this day or time (UTC)")],
    until: Annotated[
        datetime | None, typer.Option(formats=_FORMATS, help="Up to this day or time (UTC; default: now)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Read the webhooks received since a date again with this version's parser: messages an older wahub stored
    as 'unknown' take the type it now knows, with their fields. Nothing is stored twice; running it again changes
    nothing more. Events pruned from the journal: their messages are read from their own raw JSON. Prints a
    summary."""
    from wahub import commands
    from wahub.store import db
    from wahub.worker import reprocess as reprocessing

    start = since.replace(tzinfo=UTC)
    end = until.replace(tzinfo=UTC) if until is not None else datetime.now(tz=UTC)
    if end <= start:
        fail("--until must be after --since", code=2)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        summary = await reprocessing.run(store.sessions, db.sessionmaker(store.events_engine), start, end)
    for line in summary.lines(start):
        print(line)
