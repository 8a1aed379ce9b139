"""The ``wahub`` command, one module per command or group; with ``runtime`` and ``commands`` the composition
root: the one place that wires settings, store, providers, the HTTP app and the worker together.

``wahub --help`` imports every module of this package: they import typer and the standard library only, and
each command imports what it uses in its body (``base.py`` says why)."""

from __future__ import annotations

import os
import sys

import typer

from wahub.cli import (
    account,
    apikey,
    campaign,
    contacts,
    database,
    events,
    exporting,
    fakegraph,
    group,
    importing,
    media,
    monitor,
    report,
    schedule,
    send,
    serve,
    templates,
    user,
)

app = typer.Typer(
    name="wahub",
    help="Self-hosted WhatsApp Business messaging hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# In the order of ``wahub --help``: the commands, then the groups.
for module in (serve, send, monitor, fakegraph):
    app.add_typer(module.app)
app.add_typer(database.app, name="db")
app.add_typer(apikey.app, name="apikey")
app.add_typer(user.app, name="user")
app.add_typer(account.app, name="account")
app.add_typer(contacts.app, name="contacts")
app.add_typer(media.app, name="media")
app.add_typer(events.app, name="events")
app.add_typer(importing.app, name="import")
app.add_typer(exporting.app, name="export")
app.add_typer(templates.app, name="templates")
app.add_typer(group.app, name="group")
app.add_typer(schedule.app, name="schedule")
app.add_typer(report.app, name="report")
app.add_typer(campaign.app, name="campaign")

PRIVATE_UMASK = 0o077


def main() -> None:
    # What wahub creates (SQLite files and their -wal/-shm, the events file, media files and folders of a
    # file:// storage, logs) holds message bodies, numbers and secrets: readable by its own user alone,
    # whatever the shell's umask. One process-wide mask covers what SQLite and OpenDAL create themselves; the
    # processor child inherits it.
    os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
