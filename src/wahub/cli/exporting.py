"""``wahub export``: conversations out of the archive, as offline HTML, WhatsApp's own text layout or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say

app = typer.Typer(help="Export conversations (HTML, WhatsApp's text layout, JSON).", no_args_is_help=True)

FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="html (a zip readable offline), txt (WhatsApp's Android export layout; a zip with the files when "
        "there are any) or json (everything)",
    ),
]
ZoneOption = Annotated[
    str | None, typer.Option("--tz", help="The time zone times are written in, e.g. Europe/Madrid (default: UTC)")
]
FORMATS = ("html", "txt", "json")


def _format(value: str) -> str:
    if value not in FORMATS:
        fail(f"--format: '{value}' is not one of {', '.join(FORMATS)}", code=2)
    return value


@app.command(
    "conversation",
    epilog="Examples: wahub export conversation 42 --format html\n\n"
    "wahub export conversation 42 --format txt --out chat.zip",
)
@runs
async def conversation(
    conversation_id: Annotated[int, typer.Argument(min=1, help="The conversation's id (as the API shows it)")],
    fmt: FormatOption = "html",
    out: Annotated[
        Path | None, typer.Option("--out", help="The file to write (default: conversation-ID.zip/.txt/.json here)")
    ] = None,
    tz: ZoneOption = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export one conversation to a file: every message with its time, author, status and files."""
    from rich.console import Console
    from rich.progress import Progress

    from wahub import commands, storage
    from wahub.exports import archive, bundle
    from wahub.store.models import utcnow

    chosen_format = bundle.Format(_format(fmt))
    zone = bundle.zone_named(tz)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        blobs = storage.from_url(store.settings.storage_url)
        async with store.sessions() as session:
            chosen = await bundle.plan(session, conversation_id, chosen_format)
            total = await archive.count(session, conversation_id)
        target = out if out is not None else Path(chosen.filename)
        if chosen.zipped and out is not None and out.suffix.lower() != ".zip":
            say(f"note: the export holds files, so {target} is a zip")
        partial = target.with_name(target.name + ".part")
        try:
            with (
                partial.open("wb") as file,
                Progress(transient=True, console=Console(stderr=True), disable=total <= archive.PAGE) as bar,
            ):
                task = bar.add_task("exporting", total=total)
                written = await bundle.write(
                    store.sessions,
                    blobs,
                    chosen,
                    file,
                    zone=zone,
                    now=utcnow(),
                    progress=lambda n: bar.advance(task, n),
                )
            partial.replace(target)  # a file at ``target`` is always a whole export
        except OSError as exc:
            partial.unlink(missing_ok=True)
            fail(f"cannot write {target}: {exc.strerror or exc}")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    for key in written.missing:
        say(f"warning: a file is missing from storage ({key}); its message says so")
    print(f"wrote {target}: {written.messages} messages, {written.files} files")


@app.command(
    "all",
    epilog="Examples: wahub export all --account 106540352242922\n\n"
    "wahub export all --account 106540352242922 --format txt --tz Europe/Madrid",
)
@runs
async def export_all(
    account: Annotated[
        str | None, typer.Option("--account", help="The account's phone number id (default: the only one)")
    ] = None,
    fmt: FormatOption = "html",
    tz: ZoneOption = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Export every conversation of an account into the storage backend (WAHUB_STORAGE_URL), one file each
    under exports/ACCOUNT/DATE/CONVERSATION-ID.zip (.txt or .json when it has no files)."""
    from rich.console import Console
    from rich.progress import Progress

    from wahub import commands, storage
    from wahub.exports import bundle
    from wahub.store import accounts
    from wahub.store.models import utcnow

    chosen_format = bundle.Format(_format(fmt))
    zone = bundle.zone_named(tz)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        blobs = storage.from_url(store.settings.storage_url)
        async with store.sessions() as session:
            found = await accounts.default_sender(session, account)
            total = await bundle.conversation_count(session, found.id)
        with Progress(console=Console(stderr=True), transient=True, disable=total < 2) as bar:
            task = bar.add_task("exporting conversations", total=total)
            summary = await bundle.export_all(
                store.sessions,
                blobs,
                found,
                chosen_format,
                zone=zone,
                now=utcnow(),
                progress=lambda n: bar.advance(task, n),
            )
    for key in summary.missing:
        say(f"warning: a file is missing from storage ({key}); its message says so")
    print(
        f"exported {summary.conversations} conversations ({summary.messages} messages, {summary.files} files, "
        f"{summary.bytes} bytes) to {blobs.label.rstrip('/')}/{summary.prefix}"
    )
