"""``wahub contacts import``: contacts, their labels and attributes from a CSV file, for campaigns' audiences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wahub import errors
from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say

app = typer.Typer(help="Contacts: import them from CSV, erase one.", no_args_is_help=True)


@app.command(
    "import",
    epilog="Example: wahub contacts import customers.csv\n\n"
    "customers.csv:\n\nnumber,name,labels,city\n\n+14155550101,Ada Lovelace,vip;newsletter,London",
)
@runs
async def import_contacts(
    file: Annotated[
        Path, typer.Argument(help="A CSV file: number (required), name, labels, other columns", dir_okay=False)
    ],
    phone_number_id: Annotated[
        str | None, typer.Option(help="The account the contacts are of (default: the only one)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import contacts from CSV: a number column (E.164, e.g. +14155550101), optionally name and labels
    (separated by ';' or '|'); any other column becomes an attribute (an empty cell leaves it as it is). Bad rows
    are reported by line and left out; the good ones are kept. Importing a file again changes nothing more.
    Prints the summary on the last line."""
    from rich.console import Console
    from rich.progress import Progress

    from wahub import commands
    from wahub.imports import contact_importer, contacts_csv
    from wahub.store import accounts

    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}", code=2)
    try:
        parsed = contacts_csv.parse(data)
    except errors.InvalidInput as exc:
        fail(f"{file}: {exc.message}", code=2)
    summary = contact_importer.Summary(skipped=list(parsed.rejected))
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        async with store.transaction() as session:
            account = await accounts.default_sender(session, phone_number_id)
        small = len(parsed.rows) <= contact_importer.CHUNK
        with Progress(transient=True, console=Console(stderr=True), disable=small) as bar:
            task = bar.add_task("importing", total=len(parsed.rows))
            for start in range(0, len(parsed.rows), contact_importer.CHUNK):
                chunk = parsed.rows[start : start + contact_importer.CHUNK]
                async with store.transaction() as session:
                    await contact_importer.store(session, account.id, chunk, summary)
                bar.advance(task, len(chunk))
    for rejected in sorted(summary.skipped, key=lambda r: r.line):
        say(f"line {rejected.line}: skipped: {rejected.reason}")
    print(
        f"created {summary.created}, updated {summary.updated}, unchanged {summary.unchanged}, "
        f"skipped {len(summary.skipped)}"
    )


@app.command(
    "erase",
    epilog="Example: wahub contacts erase 42 --yes\n\nWithout --yes it only says what would be erased (exit 2).",
)
@runs
async def erase(
    contact_id: Annotated[int, typer.Argument(min=1, help="The contact's id (wahub's, as the API shows it)")],
    yes: Annotated[bool, typer.Option("--yes", help="Really erase: it cannot be undone")] = False,
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="SQLite: rewrite the database files afterwards (VACUUM)")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Erase a person: their messages, statuses, media (unless another conversation shares the file), search
    entries, conversations, labels and the contact; the webhook deliveries, live events and raw webhook events
    that carry them. Statistics keep their counts; the audit log records who erased whom. Safe to run again."""
    import getpass

    from wahub import commands, erasure, storage
    from wahub.cli.base import secret_key
    from wahub.store import db
    from wahub.store.crypto import Vault

    settings = load_settings(data_dir, database_url)
    async with commands.opened(settings) as store:
        try:
            planned = await erasure.preview(store.sessions, contact_id)
        except errors.NotFound:
            if (record := await erasure.earlier(store.sessions, contact_id)) is None:
                raise
            print(f"contact {contact_id} was erased already, at {record.created_at:%Y-%m-%d %H:%M} UTC")
            return
        if not yes:
            say(f"contact {contact_id}: {_counts(planned.counts())}, and its raw webhook events")
            fail("nothing erased: add --yes to erase them (it cannot be undone)", code=2)
        key = Vault(secret_key(settings)).derive_key("erasure")
        done = await erasure.erase_contact(
            store.sessions,
            db.sessionmaker(store.events_engine),
            storage.from_url(settings.storage_url),
            contact_id,
            actor=f"cli ({getpass.getuser()})",
            hash_key=key,
            vacuum=vacuum,
        )
    print(f"erased contact {contact_id}: {_counts(done.counts())}")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items() if value or key == "messages")
