"""``wahub send``: queue a message from the command line, as ``POST /api/v1/messages`` does."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wahub import errors
from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say, secret_key

if TYPE_CHECKING:
    from pydantic import ValidationError

    from wahub.api.schemas import SendMessage


app = typer.Typer()  # merged into the root app: ``wahub send``


@app.command(
    epilog="Examples: wahub send --to +14155550101 --template hello_world\n\n"
    "wahub send --to +14155550101 --text 'Your order shipped'\n\n"
    "wahub send --json body.json   (any type, in Meta's send body; '-' reads standard input)"
)
@runs
async def send(
    to: Annotated[
        str | None,
        typer.Option(help="Recipient's number in E.164, e.g. +14155550101, or a group's id (wahub group list)"),
    ] = None,
    text: Annotated[str | None, typer.Option(help="Send this text (needs the 24-hour window open)")] = None,
    template: Annotated[str | None, typer.Option(help="Send this approved template")] = None,
    language: Annotated[str, typer.Option(help="The template's language code")] = "en_US",
    param: Annotated[list[str] | None, typer.Option(help="A body parameter of the template, in order")] = None,
    json_file: Annotated[
        str | None, typer.Option("--json", help="A file with Meta's send body ('-' for standard input)")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Send this file (image, video, audio, sticker or document, by its type)"),
    ] = None,
    caption: Annotated[str | None, typer.Option(help="With --file: a caption (image, video, document)")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="phone_number_id to send from")] = None,
    at: Annotated[
        str | None,
        typer.Option(help="Send it at this time, ISO 8601 with a time zone (2026-12-24T09:00:00+01:00); past: now"),
    ] = None,
    entity: Annotated[
        list[str] | None,
        typer.Option(help="Link the message to an entity of your systems, TYPE:ID (e.g. invoice:INV-42); repeatable"),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Queue a message; a running 'wahub serve' sends it. Prints the message id on the last line."""
    from wahub import commands

    if file is not None:
        if at is not None:
            fail("--at: not with --file (upload the file, then send it with --json and its wahub_media_id)", code=2)
        links = _entities(entity or [])
        await _send_file(file, to, caption, sender, links, data_dir, database_url, others=(text, template, json_file))
        return
    body = send_body(to, text, template, language, param or [], json_file, sender, entity or [], at)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        key = secret_key(store.settings)
        try:
            message = await commands.queue_send(store, key, body)
        except errors.WindowClosed:
            raise  # not a usage error: the same command works with a template, or once the contact writes
        except errors.InvalidInput as exc:  # found with the data: a number no contact has, a file not uploaded
            fail(exc.message, code=2)
        warning = await commands.window_warning(store, message, body.send_at)
    target = f"group {body.to}" if body.recipient_type == "group" else f"+{body.to}"
    if body.send_at is not None:
        say(f"queued {message.type} message {message.id} to {target}, held until {body.send_at.isoformat()}")
        if warning:
            say(f"warning: {warning}")
    else:
        say(f"queued {message.type} message {message.id} to {target}; 'wahub serve' sends it")
    print(message.id)


async def _send_file(
    file: Path,
    to: str | None,
    caption: str | None,
    sender: str | None,
    entities: list[dict[str, str]],
    data_dir: Path | None,
    database_url: str | None,
    *,
    others: tuple[str | None, ...],
) -> None:
    from pydantic import ValidationError

    from wahub import commands

    to = _file_recipient(file, to, others)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        key = secret_key(store.settings)
        try:
            message = await commands.queue_file_send(
                store, key, file, to=to, caption=caption, sender=sender, entities=entities
            )
        except ValidationError as exc:
            fail(f"the message is not valid: {_problems(exc, default='')}", code=2)
        except errors.InvalidInput as exc:
            fail(exc.message, code=2)
    say(f"queued {message.type} message {message.id} with {file.name}; 'wahub serve' sends it")
    print(message.id)


def _file_recipient(file: Path, to: str | None, others: tuple[str | None, ...]) -> str:
    """``--to`` of ``--file``, once the options make sense together and the file is there."""
    if any(x is not None for x in others):
        fail("give one of --text, --template, --json or --file", code=2)
    if to is None:
        fail("--file needs --to", code=2)
    if not file.is_file():
        fail(f"--file: {file} is not a readable file", code=2)
    return to


def send_body(
    to: str | None,
    text: str | None,
    template: str | None,
    language: str,
    params: list[str],
    json_file: str | None,
    sender: str | None,
    entities: list[str],
    at: str | None = None,
) -> SendMessage:
    from pydantic import ValidationError

    from wahub.api import schemas

    if sum(x is not None for x in (text, template, json_file)) != 1:
        fail("give one of --text, --template, --json or --file", code=2)
    raw: dict[str, Any]
    if json_file is not None:
        try:
            source = sys.stdin.read() if json_file == "-" else Path(json_file).read_text()
            loaded = json.loads(source)
        except (OSError, json.JSONDecodeError) as exc:
            fail(f"--json: cannot read a JSON body: {exc}", code=2)
        if not isinstance(loaded, dict):
            fail("--json: the body must be a JSON object", code=2)
        raw = loaded
    elif text is not None:
        raw = {"type": "text", "text": {"body": text}}
    else:
        tpl: dict[str, Any] = {"name": template, "language": {"code": language}}
        if params:
            tpl["components"] = [{"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}]
        raw = {"type": "template", "template": tpl}
    if to is not None:
        raw["to"] = to
        if is_group_id(to):
            # A group id from Meta's Groups API (letters among its characters; "group:<id>" as the inbox names it).
            raw["to"] = to.removeprefix("group:")
            raw["recipient_type"] = "group"
    if sender is not None:
        raw["from"] = sender
    if at is not None:
        raw["send_at"] = at
    if entities:
        raw["entities"] = [*raw.get("entities", []), *_entities(entities)]
    try:
        return schemas.SendMessage.model_validate(raw)
    except ValidationError as exc:
        fail(f"the message is not valid: {_problems(exc, default='body')}", code=2)


def is_group_id(to: str) -> bool:
    """Whether ``--to`` names a group: a phone number has digits and punctuation only, Meta's group ids letters."""
    return to.startswith("group:") or any(c.isalpha() for c in to)


def _problems(exc: ValidationError, *, default: str) -> str:
    """A validation error's problems on one line: ``field: reason; ...`` (``default`` names the whole body)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or default}: {e['msg']}" for e in exc.errors(include_url=False)
    )


def _entities(given: list[str]) -> list[dict[str, str]]:
    """``--entity TYPE:ID`` options as the send body's ``entities``."""
    pairs = [e.partition(":") for e in given]
    if any(not sep or not kind or not key for kind, sep, key in pairs):
        fail("--entity: give TYPE:ID, e.g. invoice:INV-42", code=2)
    return [{"entity_type": kind, "entity_id": key} for kind, _, key in pairs]
