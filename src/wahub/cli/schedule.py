"""``wahub schedule``: recurring messages, as ``/api/v1/schedules`` (a running 'wahub serve' fires them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wahub import errors
from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say

app = typer.Typer(help="Recurring messages: a cron expression in a time zone.", no_args_is_help=True)

ScheduleId = Annotated[int, typer.Argument(help="The schedule's id (wahub schedule list)")]


@app.command(
    "add",
    epilog="Example: wahub schedule add --cron '0 8 * * 1-5' --tz Europe/Madrid --to +14155550101 "
    "--template hello_world",
)
@runs
async def add(
    cron: Annotated[str, typer.Option(help="When: minute hour day-of-month month day-of-week, e.g. '0 8 * * 1-5'")],
    tz: Annotated[str, typer.Option(help="The time zone the times are in (IANA, e.g. Europe/Madrid)")] = "UTC",
    to: Annotated[str | None, typer.Option(help="Recipient's number in E.164, e.g. +14155550101")] = None,
    text: Annotated[str | None, typer.Option(help="Send this text (needs the 24-hour window open then)")] = None,
    template: Annotated[str | None, typer.Option(help="Send this approved template")] = None,
    language: Annotated[str, typer.Option(help="The template's language code")] = "en_US",
    param: Annotated[list[str] | None, typer.Option(help="A body parameter of the template, in order")] = None,
    json_file: Annotated[
        str | None, typer.Option("--json", help="A file with Meta's send body ('-' for standard input)")
    ] = None,
    sender: Annotated[str | None, typer.Option("--from", help="phone_number_id to send from")] = None,
    name: Annotated[str | None, typer.Option(help="A name to recognise it by")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a recurring message. Prints its id on the last line."""
    from wahub import commands
    from wahub.automations.schedules import stored
    from wahub.cli.send import send_body
    from wahub.sending import service
    from wahub.store import schedules

    body = send_body(to, text, template, language, param or [], json_file, sender, [])
    if body.send_at is not None:
        fail("a schedule sends at its cron times: its message takes no send_at", code=2)
    request = body.to_request()
    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        try:
            await service.prepare(session, request)  # the sender account and the recipient, as the API checks
            made = await schedules.create(session, cron_expression=cron, tz=tz, message=stored(request), name=name)
        except errors.WahubError as exc:  # no account to send from, a bad recipient, a bad cron or zone
            fail(exc.message, code=2)
    say(f"added schedule {made.id} ({cron} in {tz}); first at {_when(made.next_run_at, tz)}")
    print(made.id)


@app.command("list")
@runs
async def list_schedules(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List schedules: id, state, cron, time zone, next time (in its zone), recipient and type."""
    from wahub import commands
    from wahub.store import schedules

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        found = await schedules.list_all(session)
    if not found:
        say("no schedules; add one with 'wahub schedule add'")
    for s in found:
        nxt = _when(s.next_run_at, s.tz) if s.state == schedules.State.ACTIVE.value else "-"
        what = f"report\t{s.message['report']}" if "report" in s.message else f"+{s.message['to']}\t{s.message['type']}"
        print(f"{s.id}\t{s.state}\t{s.cron}\t{s.tz}\t{nxt}\t{what}\t{s.name or ''}")


@app.command("show")
@runs
async def show(
    schedule_id: ScheduleId,
    limit: Annotated[int, typer.Option(help="How many firings of its history")] = 20,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """A schedule and its history: each firing, the message it queued or why none was."""
    from wahub import commands
    from wahub.store import schedules

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        try:
            s = await schedules.get(session, schedule_id)
            history = await schedules.history(session, schedule_id, limit)
        except errors.NotFound as exc:
            fail(exc.message, code=2)
    print(f"schedule {s.id} {s.name or ''}: {s.state}, '{s.cron}' in {s.tz}")
    what = (
        f"runs report {s.message['report']}"
        if "report" in s.message
        else f"sends {s.message['type']} to +{s.message['to']}"
    )
    print(f"{what}; next: {_when(s.next_run_at, s.tz)}")
    for f in history:
        outcome = f"message {f.message_id}" if f.message_id is not None else f"not sent: {f.error}"
        print(f"{_when(f.due_at, s.tz)}\t{outcome}")


async def _set(schedule_id: int, action: str, data_dir: Path | None, database_url: str | None) -> None:
    from wahub import commands
    from wahub.store import schedules

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        try:
            if action == "delete":
                await schedules.delete(session, schedule_id)
            else:
                s = await (schedules.pause if action == "pause" else schedules.resume)(session, schedule_id)
        except errors.NotFound as exc:
            fail(exc.message, code=2)
    if action == "delete":
        say(f"deleted schedule {schedule_id} and its history (the messages it queued stay)")
    elif action == "pause":
        say(f"paused schedule {schedule_id}")
    else:
        say(f"resumed schedule {schedule_id}; next at {_when(s.next_run_at, s.tz)}")


@app.command("pause")
@runs
async def pause(schedule_id: ScheduleId, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Stop firing until resumed."""
    await _set(schedule_id, "pause", data_dir, database_url)


@app.command("resume")
@runs
async def resume(schedule_id: ScheduleId, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Fire again from the next time after now (the times missed while paused are not made up)."""
    await _set(schedule_id, "resume", data_dir, database_url)


@app.command("remove")
@app.command("delete", hidden=True)  # the API's word; SPEC's CLI says remove
@runs
async def delete(schedule_id: ScheduleId, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Delete a schedule and its history."""
    await _set(schedule_id, "delete", data_dir, database_url)


def _when(at: object, tz: str) -> str:
    from datetime import datetime

    from wahub import cron

    if not isinstance(at, datetime):
        return "-"
    return at.astimezone(cron.zone(tz)).isoformat(timespec="minutes")
