"""``wahub monitor``: what a running wahub is doing, for people or programs."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from wahub.cli.base import DatabaseUrl, DataDir, load_settings, runs

app = typer.Typer()  # merged into the root app: ``wahub monitor``


class MonitorFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command(epilog="Examples: wahub monitor\n\nwahub monitor --watch 5 --days 7\n\nwahub monitor --format json")
@runs
async def monitor(
    watch: Annotated[float | None, typer.Option(min=1, help="Refresh every this many seconds until Ctrl-C")] = None,
    days: Annotated[float, typer.Option(min=0, max=366, help="Statistics of this many days up to now (0: none)")] = 1,
    output: Annotated[MonitorFormat, typer.Option("--format", help="text for people, json for programs")] = (
        MonitorFormat.TEXT
    ),
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Sending state of each account (paused by Meta, and why), access tokens that lapse within seven days,
    outbox, last hour's sends, failures by
    Meta's code, webhook events waiting, and the statistics of the last day (messages by direction and type,
    conversations, delivery and read rates, errors)."""
    import asyncio

    from wahub import commands
    from wahub.store import monitor as store_monitor

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        while True:
            snap = await commands.monitor_snapshot(store, days)
            shown = store_monitor.as_json(snap) if output is MonitorFormat.JSON else store_monitor.render(snap)
            print(shown, flush=True)
            if watch is None:
                return
            try:
                await asyncio.sleep(watch)
            except asyncio.CancelledError:  # Ctrl-C while waiting: a clean stop (during a read, exit 130)
                return
            print()
