"""``wahub report``: build a report now, or on a schedule (``automations/reports.py``; defined in wahub.toml's
``[reports.NAME]`` or through ``POST /api/v1/reports``)."""

from __future__ import annotations

from typing import Annotated

import typer

from wahub import errors
from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say, secret_key

app = typer.Typer(help="Excel reports sent as documents to contacts and groups.", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The report's name ([reports.NAME] in wahub.toml, or made by the API)")]


@app.command("run", epilog="Example: wahub report run sales")
@runs
async def run(name: Name, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Build the report now, store its file and queue its sends (a running 'wahub serve' sends them). Prints
    the stored file's key and the queued messages' ids."""
    from wahub import commands

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        try:
            run_id, outcome = await commands.run_report(store, secret_key(store.settings), name)
        except errors.NotFound as exc:
            fail(exc.message, code=2)
        except errors.WahubError as exc:
            fail(f"report '{name}' failed: {exc.message}")
    say(f"run {run_id}: stored {outcome.storage_key} ({outcome.size:,} bytes)")
    for refused in outcome.refused:
        say(f"not sent to {refused}")
    print(outcome.storage_key)
    print(" ".join(str(i) for i in outcome.message_ids))


@app.command("schedule", epilog="Example: wahub report schedule sales --cron '0 8 * * 1' --tz Europe/Madrid")
@runs
async def schedule(
    name: Name,
    cron: Annotated[str, typer.Option(help="When: minute hour day-of-month month day-of-week, e.g. '0 8 * * 1'")],
    tz: Annotated[str, typer.Option(help="The time zone the times are in (IANA, e.g. Europe/Madrid)")] = "UTC",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the report at the times a cron expression names (the worker of 'wahub serve' runs it, retrying a
    failed run). Listed, paused and removed with 'wahub schedule'. Prints the schedule's id."""
    from wahub import commands
    from wahub.automations import reports
    from wahub.automations.schedules import report_message
    from wahub.store import schedules

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        try:
            await reports.definition_of(session, store.settings, name)
            made = await schedules.create(
                session, cron_expression=cron, tz=tz, message=report_message(name), name=f"report {name}"
            )
        except errors.WahubError as exc:
            fail(exc.message, code=2)
    say(f"scheduled report '{name}' ({cron} in {tz}); first at {made.next_run_at:%Y-%m-%d %H:%M} UTC")
    print(made.id)
