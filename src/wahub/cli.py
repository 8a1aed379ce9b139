"""The ``wahub`` command, and the composition root: the one place that wires settings, store, providers,
the HTTP app and the worker together."""

from __future__ import annotations

import asyncio
import enum
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from wahub import commands, config, errors, logs, runtime, sandbox, storage
from wahub.api import schemas
from wahub.store import accounts, apikeys, db, migrate
from wahub.store import monitor as store_monitor

app = typer.Typer(
    name="wahub",
    help="Self-hosted WhatsApp Business messaging hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for programs.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(apikey_app, name="apikey")
account_app = typer.Typer(help="WhatsApp sender accounts.", no_args_is_help=True)
app.add_typer(account_app, name="account")
media_app = typer.Typer(help="Media files of messages.", no_args_is_help=True)
app.add_typer(media_app, name="media")

err = Console(stderr=True, highlight=False, soft_wrap=True)


class MonitorFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder [env WAHUB_DATA_DIR]")]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="sqlite:///… or postgresql://… [env WAHUB_DATABASE_URL]")
]


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]wahub: error:[/] {message}", markup=True)
    raise typer.Exit(code)


def _settings(**flags: object) -> config.Settings:
    try:
        return config.load(**flags)
    except config.SettingsError as exc:
        _fail(str(exc), code=2)


def _prepare_database(settings: config.Settings, *, create: bool = False) -> None:
    """SQLite is upgraded in place; PostgreSQL must already be at the latest revision (``wahub db upgrade``).
    Unless ``create`` (``serve``), a SQLite database that does not exist is refused: a command run from the
    wrong folder must not start an empty data folder there."""
    if not create:
        _require_database(settings)
    problem = None
    try:
        if db.is_sqlite(settings.database_url):
            migrate.upgrade(settings.database_url)
        elif not migrate.is_current(settings.database_url):
            problem = "the PostgreSQL schema is not up to date: run 'wahub db upgrade' first"
    except errors.WahubError as exc:
        problem = exc.message
    except Exception as exc:  # the driver's own errors: unreachable server, bad credentials...
        problem = f"cannot open the database: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    if problem is not None:
        _fail(problem)


def _require_database(settings: config.Settings) -> None:
    path = db.sqlite_path(settings.database_url)
    if not path or path == ":memory:" or Path(path).is_file():
        return
    file, folder = Path(path).absolute(), settings.data_dir.absolute()
    missing = f"no data folder {folder}" if file.parent == folder and not folder.is_dir() else f"no database {file}"
    _fail(
        f"{missing}: 'wahub serve' or 'wahub db upgrade' creates it; "
        "or point --data-dir (WAHUB_DATA_DIR) at your data folder"
    )


@app.command(epilog="Example: wahub serve --port 8000   (no account configured: runs the sandbox)")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on")] = 8000,
    role: Annotated[
        runtime.Role,
        typer.Option(
            help="all: everything (the webhook processor in a child process); web: HTTP only; "
            "worker: processor and sender, no HTTP; processor: the webhook processor alone"
        ),
    ] = runtime.Role.ALL,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    wake_fd: Annotated[int | None, typer.Option(hidden=True, help="wake-up pipe from the starting process")] = None,
) -> None:
    """Run wahub: the API, the webhook receivers and the worker. With nothing configured, the sandbox."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    logs.configure(settings)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        storage.from_url(settings.storage_url)
    except errors.InvalidInput as exc:
        _fail(f"WAHUB_STORAGE_URL: {exc.message}", code=2)
    secret_key = _secret_key(settings)
    _prepare_database(settings, create=True)
    try:
        with asyncio.Runner(loop_factory=_fast_loop()) as runner:
            runner.run(runtime.serve(settings, secret_key, host=host, port=port, role=role, wake_fd=wake_fd))
    except runtime.StartupError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        pass


def _fast_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed (uvicorn[standard] brings it): the same loop uvicorn picks itself."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _secret_key(settings: config.Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if settings.sandbox:
        if not settings.data_dir.is_dir():  # the database is elsewhere (PostgreSQL), but the sandbox's key is here
            _fail(
                f"no data folder {settings.data_dir.absolute()} (the sandbox keeps its secret key there): "
                "'wahub serve' creates it; or point --data-dir (WAHUB_DATA_DIR) at your data folder"
            )
        return sandbox.secret_key(settings.data_dir)
    _fail("WAHUB_SECRET_KEY: required when an account is configured", code=2)


@db_app.command(
    "upgrade",
    epilog="Examples: wahub db upgrade   (creates ./wahub-data/wahub.db)\n\n"
    "WAHUB_DATABASE_URL=postgresql://localhost/wahub wahub db upgrade",
)
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema to the latest revision. A SQLite database (and its data folder) is
    created if missing, as a PostgreSQL schema is: so API keys and accounts can be set up before the first
    'wahub serve'. The other commands (but serve) refuse a database that does not exist."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    path = db.sqlite_path(settings.database_url)
    try:
        if path and path != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        migrate.upgrade(settings.database_url)
    except Exception as exc:
        _fail(f"upgrade failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    err.print("database is at the latest revision")


@app.command(
    epilog="Examples: wahub send --to +14155550101 --template hello_world\n\n"
    "wahub send --to +14155550101 --text 'Your order shipped'\n\n"
    "wahub send --json body.json   (any type, in Meta's send body; '-' reads standard input)"
)
def send(
    to: Annotated[str | None, typer.Option(help="Recipient's number in E.164, e.g. +14155550101")] = None,
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
    entity: Annotated[
        list[str] | None,
        typer.Option(help="Link the message to an entity of your systems, TYPE:ID (e.g. invoice:INV-42); repeatable"),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Queue a message; a running 'wahub serve' sends it. Prints the message id on the last line."""
    if file is not None:
        links = _entities(entity or [])
        _send_file(file, to, caption, sender, links, data_dir, database_url, others=(text, template, json_file))
        return
    body = _send_body(to, text, template, language, param or [], json_file, sender, entity or [])
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    secret_key = _secret_key(settings)
    try:
        message = asyncio.run(commands.queue_send(settings, secret_key, body))
    except errors.WindowClosed as exc:
        _fail(exc.message)
    except errors.InvalidInput as exc:  # found with the data: a number no contact has, a file not uploaded
        _fail(exc.message, code=2)
    except errors.WahubError as exc:
        _fail(exc.message)
    err.print(f"queued {message.type} message {message.id} to +{body.to}; 'wahub serve' sends it")
    print(message.id)


def _send_file(
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
    if any(x is not None for x in others):
        _fail("give one of --text, --template, --json or --file", code=2)
    if to is None:
        _fail("--file needs --to", code=2)
    if not file.is_file():
        _fail(f"--file: {file} is not a readable file", code=2)
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    secret_key = _secret_key(settings)
    try:
        message = asyncio.run(
            commands.queue_file_send(
                settings, secret_key, file, to=to, caption=caption, sender=sender, entities=entities
            )
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        _fail(f"the message is not valid: {problems}", code=2)
    except errors.InvalidInput as exc:
        _fail(exc.message, code=2)
    except errors.WahubError as exc:
        _fail(exc.message)
    err.print(f"queued {message.type} message {message.id} with {file.name}; 'wahub serve' sends it")
    print(message.id)


def _send_body(
    to: str | None,
    text: str | None,
    template: str | None,
    language: str,
    params: list[str],
    json_file: str | None,
    sender: str | None,
    entities: list[str],
) -> schemas.SendMessage:
    if sum(x is not None for x in (text, template, json_file)) != 1:
        _fail("give one of --text, --template, --json or --file", code=2)
    raw: dict[str, Any]
    if json_file is not None:
        try:
            source = sys.stdin.read() if json_file == "-" else Path(json_file).read_text()
            loaded = json.loads(source)
        except (OSError, json.JSONDecodeError) as exc:
            _fail(f"--json: cannot read a JSON body: {exc}", code=2)
        if not isinstance(loaded, dict):
            _fail("--json: the body must be a JSON object", code=2)
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
    if sender is not None:
        raw["from"] = sender
    if entities:
        raw["entities"] = [*raw.get("entities", []), *_entities(entities)]
    try:
        return schemas.SendMessage.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        _fail(f"the message is not valid: {problems}", code=2)


def _entities(given: list[str]) -> list[dict[str, str]]:
    """``--entity TYPE:ID`` options as the send body's ``entities``."""
    pairs = [e.partition(":") for e in given]
    if any(not sep or not kind or not key for kind, sep, key in pairs):
        _fail("--entity: give TYPE:ID, e.g. invoice:INV-42", code=2)
    return [{"entity_type": kind, "entity_id": key} for kind, _, key in pairs]


@account_app.command(
    "update",
    epilog="Examples: wahub account update --send-rate 500\n\n"
    "wahub account update --phone-number-id 1122334455667 --access-token EAAG...   (resumes paused sending)",
)
def account_update(
    phone_number_id: Annotated[
        str | None, typer.Option(help="The account to change (default: the only or default one)")
    ] = None,
    access_token: Annotated[
        str | None, typer.Option(help="A new access token; sending paused by Meta's 190 resumes")
    ] = None,
    send_rate: Annotated[int | None, typer.Option(min=1, max=1000, help="Messages per second, up to 1,000")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a stored account: its access token and/or its send rate. A running wahub picks it up."""
    if access_token is None and send_rate is None:
        _fail("give --access-token and/or --send-rate", code=2)
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    secret_key = _secret_key(settings)
    try:
        account = asyncio.run(
            commands.update_account(
                settings, secret_key, phone_number_id, access_token=access_token, send_rate=send_rate
            )
        )
    except errors.WahubError as exc:
        _fail(exc.message)
    changed = [w for w, v in (("access token", access_token), (f"send rate {send_rate}/s", send_rate)) if v]
    err.print(f"updated account {account.phone_number_id}: {', '.join(changed)}")


@account_app.command("list", epilog="Example: wahub account list")
def account_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the accounts: phone_number_id, name, send rate, and whether Meta paused their sending."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    snap = asyncio.run(commands.monitor_snapshot(settings))
    if not snap.accounts:
        err.print("no accounts: set WAHUB_PHONE_NUMBER_ID and friends, or add one with wahub account add")
    for a in snap.accounts:
        rate = f"{a.send_rate}/s" if a.send_rate else f"{settings.send_rate}/s (default)"
        state = f"paused: {a.paused}" if a.paused else "active"
        print(f"{a.phone_number_id}\t{a.name}{' (sandbox)' if a.sandbox else ''}\t{rate}\t{state}")


@account_app.command(
    "add",
    epilog="Example: wahub account add --phone-number-id 1122334455667 --waba-id 1234567890 "
    "--access-token EAAG... --app-secret 0123abcd --name support",
)
def account_add(
    phone_number_id: Annotated[str, typer.Option(help="Meta's id of the phone number")],
    access_token: Annotated[str, typer.Option(help="A system user's access token for the number")],
    app_secret: Annotated[str, typer.Option(help="The Meta app's secret: webhooks are checked with it")],
    waba_id: Annotated[str | None, typer.Option(help="The WhatsApp Business Account id")] = None,
    verify_token: Annotated[str | None, typer.Option(help="The token Meta echoes when subscribing")] = None,
    name: Annotated[str, typer.Option(help="A name for people")] = "default",
    send_rate: Annotated[int | None, typer.Option(min=1, max=1000, help="Messages per second, up to 1,000")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a Meta phone number to send from and receive for; a running wahub picks it up."""
    if not phone_number_id.isdigit():
        _fail("--phone-number-id is Meta's numeric id of the number (not the phone number itself)", code=2)
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    secret_key = _secret_key(settings)
    creds = accounts.Credentials(access_token, app_secret, verify_token)
    try:
        asyncio.run(
            commands.add_account(
                settings,
                secret_key,
                name=name,
                phone_number_id=phone_number_id,
                waba_id=waba_id,
                creds=creds,
                send_rate=send_rate,
            )
        )
    except errors.WahubError as exc:
        _fail(exc.message)
    err.print(
        f"added account {phone_number_id} ({name}); check it with: "
        f"wahub account test --phone-number-id {phone_number_id}"
    )


@account_app.command("test", epilog="Example: wahub account test --phone-number-id 1122334455667")
def account_test(
    phone_number_id: Annotated[str | None, typer.Option(help="The account (default: the only one)")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Ask Meta for the number with the stored token: proves the token works; prints the number's details."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    secret_key = _secret_key(settings)
    try:
        info, is_sandbox = asyncio.run(commands.test_account(settings, secret_key, phone_number_id))
    except errors.AccessTokenInvalid as exc:
        _fail(f"Meta refused the access token ({exc.code}: {exc.message}); replace it with wahub account update")
    except errors.ProviderError as exc:
        _fail(f"Meta answered {exc.code or '-'}: {exc.message}")
    except errors.WahubError as exc:
        _fail(exc.message)
    if is_sandbox:
        err.print("the sandbox's number: checked against fakegraph, the built-in fake Meta, with the stored token")
    print(json.dumps(info, indent=2))


@account_app.command("remove", epilog="Example: wahub account remove --phone-number-id 1122334455667 --yes")
def account_remove(
    phone_number_id: Annotated[str, typer.Option(help="The account to remove")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: its conversations and messages are deleted")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove an account together with its contacts, conversations and messages."""
    if not yes:
        _fail("this deletes the account's conversations and messages too; add --yes to confirm", code=2)
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    try:
        deleted = asyncio.run(commands.remove_account(settings, phone_number_id))
    except errors.WahubError as exc:
        _fail(exc.message)
    err.print(f"removed account {phone_number_id} and its {deleted:,} messages")


@media_app.command("retry", epilog="Examples: wahub media retry\n\nwahub media retry --id 42")
def media_retry(
    media_id: Annotated[
        int | None, typer.Option("--id", min=1, help="Only this media (default: every failed one)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Fetch failed media again (after a storage outage, or once a problem is fixed); a running wahub does it.
    Media Meta no longer has fail again with that reason."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    count = asyncio.run(commands.retry_media(settings, media_id))
    if media_id is not None and count == 0:
        _fail(f"media {media_id} does not exist or has not failed")
    err.print(f"{count} media will be fetched again")


@app.command(epilog="Examples: wahub monitor\n\nwahub monitor --watch 5 --days 7\n\nwahub monitor --format json")
def monitor(
    watch: Annotated[float | None, typer.Option(min=1, help="Refresh every this many seconds until Ctrl-C")] = None,
    days: Annotated[float, typer.Option(min=0, max=366, help="Statistics of this many days up to now (0: none)")] = 1,
    output: Annotated[MonitorFormat, typer.Option("--format", help="text for people, json for programs")] = (
        MonitorFormat.TEXT
    ),
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Sending state of each account (paused by Meta, and why), outbox, last hour's sends, failures by
    Meta's code, webhook events waiting, and the statistics of the last day (messages by direction and type,
    conversations, delivery and read rates, errors)."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    while True:
        snap = asyncio.run(commands.monitor_snapshot(settings, days))
        shown = store_monitor.as_json(snap) if output is MonitorFormat.JSON else store_monitor.render(snap)
        print(shown, flush=True)
        if watch is None:
            return
        try:
            time.sleep(watch)
        except KeyboardInterrupt:
            return
        print()


@apikey_app.command("create", epilog="Example: wahub apikey create --name erp")
def apikey_create(
    name: Annotated[str, typer.Option(help="What the key is for")] = "default",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it (the key alone on the last line). It is shown only once."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    row, key = asyncio.run(commands.create_api_key(settings, name))
    err.print(f"created API key {row.prefix} ({name}); store it now, it is not shown again")
    print(key)


@apikey_app.command("revoke", epilog="Example: wahub apikey revoke 1a2b3c4d")
def apikey_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix, the 8 characters after 'wahub_'")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an API key: calls made with it get 401 from then on."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    try:
        asyncio.run(commands.revoke_api_key(settings, prefix))
    except errors.NotFound as exc:
        _fail(exc.message)
    err.print(f"revoked API key {prefix}")


@apikey_app.command("list", epilog="Example: wahub apikey list")
def apikey_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List API keys (prefixes and names; keys themselves are never stored), and when each was last used (to
    the minute or so: a running wahub writes it every minute)."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    _prepare_database(settings)
    for row in asyncio.run(commands.list_api_keys(settings)):
        state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
        used = f"last used {row.last_used_at:%Y-%m-%d %H:%M} UTC" if row.last_used_at else "never used"
        print(f"{apikeys.KEY_PREFIX}{row.prefix}_…\t{row.name}\t{state}\t{used}")


@app.command(epilog="Example: wahub fakegraph --port 9000 --callback http://127.0.0.1:8000/webhooks/meta")
def fakegraph(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 9000,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    callback: Annotated[str | None, typer.Option(help="URL that receives the signed webhooks")] = None,
    app_secret: Annotated[str, typer.Option(help="App secret that signs the webhooks")] = "fakegraph-app-secret",  # noqa: S107 - fakegraph's well-known default
    access_token: Annotated[str | None, typer.Option(help="Bearer token Graph calls must carry")] = None,
    speed: Annotated[float, typer.Option(min=0.01, help="Divides every simulated delay")] = 1.0,
) -> None:
    """Run fakegraph, the fake Meta Cloud API, on its own."""
    import fakegraph as fg
    from fakegraph import server

    cfg = fg.FakeGraphConfig(callback_url=callback, app_secret=app_secret, access_token=access_token, speed=speed)
    err.print(f"fakegraph on http://{host}:{port} -> webhooks to {callback or '(none yet: POST /_fake/config)'}")
    server.run(cfg, host, port)


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
