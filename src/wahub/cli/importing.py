"""``wahub import chat FILE`` (and ``wahub import FILE``, the same): a chat exported from WhatsApp into the
archive (``imports/chat_importer.py`` says how)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core

from wahub import errors
from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say


class _ChatByDefault(typer.core.TyperGroup):
    """``wahub import FILE`` is ``wahub import chat FILE``: SPEC names the short form, and chat exports are
    the only thing imported so far."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's own click Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["chat", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(help="Import history: chats exported from WhatsApp.", no_args_is_help=True, cls=_ChatByDefault)

EXAMPLE = (
    'Example: wahub import chat "WhatsApp Chat with Ana.zip" --me "Shop" --tz Europe/Madrid\n\n'
    "On the phone: open the chat, More > Export chat > Include media; copy the .zip here."
)


@app.command("chat", epilog=EXAMPLE)
@runs
async def import_chat(
    file: Annotated[Path, typer.Argument(help="The export: the .zip (with media) or the chat's .txt", dir_okay=False)],
    me: Annotated[
        str | None, typer.Option("--me", help="The business side's name in the export (default: the account's number)")
    ] = None,
    phone_number_id: Annotated[
        str | None, typer.Option("--account", help="The account's phone_number_id (default: the only one)")
    ] = None,
    tz: Annotated[str, typer.Option("--tz", help="The phone's time zone (IANA, e.g. Europe/Madrid)")] = "UTC",
    date_order: Annotated[
        str | None, typer.Option("--date-order", help="DMY, MDY or YMD, when the file cannot tell (it says so)")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", help="The chat is the group of this name")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import a chat exported from WhatsApp (Android or iOS, any language): its messages, with their
    attachments from the .zip, land in the chat's conversation marked as imported. Importing the same
    export again, or a later one that overlaps it, adds only what is new. Prints a summary on the last line
    and the lines it skipped, by number."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from rich.console import Console
    from rich.progress import Progress

    from wahub import commands, storage
    from wahub.imports import chat_export, chat_importer, chat_source

    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--tz: '{tz}' is not a time zone (IANA names, e.g. Europe/Madrid, America/New_York, UTC)", code=2)
    order = None
    if date_order is not None:
        try:
            order = chat_export.DateOrder(date_order.upper())
        except ValueError:
            fail(f"--date-order: '{date_order}' is not DMY, MDY or YMD", code=2)
    options = chat_importer.Options(me=me, phone_number_id=phone_number_id, zone=zone, order=order, group=group)
    settings = load_settings(data_dir, database_url)
    try:
        handle = file.open("rb")
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}", code=2)
    with handle:
        try:
            export = chat_source.Export(handle, file.name)
        except errors.InvalidInput as exc:
            fail(exc.message.removeprefix("file: "), code=2)
        try:
            async with commands.opened(settings) as store:
                with Progress(transient=True, console=Console(stderr=True)) as bar:
                    task = bar.add_task("importing", total=None)

                    def progress(done: int, total: int) -> None:
                        bar.update(task, completed=done, total=total)

                    report = await chat_importer.run(
                        store.sessions, storage.from_url(settings.storage_url), export, options, progress
                    )
        except errors.InvalidInput as exc:
            fail(exc.message.removeprefix("file: "), code=2)
        finally:
            export.close()
    _print(report)


def _print(report: Any) -> None:
    for skipped in report.skipped:
        say(f"line {skipped.line}: skipped: {skipped.reason}")
    for missing in report.media_missing:
        say(f"line {missing.line}: attachment {missing.reason}")
    me = f"'{report.me}'" if report.me else "no one (every message inbound)"
    say(f"chat: {report.chat} (conversation {report.conversation_id}), business side: {me}, dates {report.date_order}")
    print(
        f"added {report.added}, already there {report.already}, matched with live/history {report.matched}, "
        f"media stored {report.media_stored}, "
        f"media missing {len(report.media_missing)}, skipped lines {len(report.skipped)}"
    )
