"""``wahub account``: the WhatsApp numbers wahub sends from and receives for."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from wahub import errors
from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say, secret_key

app = typer.Typer(help="WhatsApp sender accounts.", no_args_is_help=True)

SendRate = Annotated[int | None, typer.Option(min=1, max=1000, help="Messages per second, up to 1,000")]


@app.command(
    "update",
    epilog="Examples: wahub account update --send-rate 500\n\n"
    "wahub account update --phone-number-id 1122334455667 --access-token EAAG...   (resumes paused sending)",
)
@runs
async def update(
    phone_number_id: Annotated[
        str | None, typer.Option(help="The account to change (default: the only or default one)")
    ] = None,
    access_token: Annotated[
        str | None, typer.Option(help="A new access token; sending paused by Meta's 190 resumes")
    ] = None,
    send_rate: SendRate = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a stored account: its access token and/or its send rate. A running wahub picks it up."""
    from wahub import commands

    if access_token is None and send_rate is None:
        fail("give --access-token and/or --send-rate", code=2)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        account = await commands.update_account(
            store, secret_key(store.settings), phone_number_id, access_token=access_token, send_rate=send_rate
        )
    changed = [w for w, v in (("access token", access_token), (f"send rate {send_rate}/s", send_rate)) if v]
    say(f"updated account {account.phone_number_id}: {', '.join(changed)}")


@app.command("list", epilog="Example: wahub account list")
@runs
async def list_accounts(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the accounts: phone_number_id, name, send rate, and whether Meta paused their sending."""
    from wahub import commands

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        snap = await commands.monitor_snapshot(store)
    if not snap.accounts:
        say("no accounts: set WAHUB_PHONE_NUMBER_ID and friends, or add one with wahub account add")
    for a in snap.accounts:
        rate = f"{a.send_rate}/s" if a.send_rate else f"{store.settings.send_rate}/s (default)"
        state = f"paused: {a.paused}" if a.paused else "active"
        print(f"{a.phone_number_id}\t{a.name}{' (sandbox)' if a.sandbox else ''}\t{rate}\t{state}")


@app.command(
    "add",
    epilog="Example: wahub account add --phone-number-id 1122334455667 --waba-id 1234567890 "
    "--access-token EAAG... --app-secret 0123abcd --name support",
)
@runs
async def add(
    phone_number_id: Annotated[str, typer.Option(help="Meta's id of the phone number")],
    access_token: Annotated[str, typer.Option(help="A system user's access token for the number")],
    app_secret: Annotated[str, typer.Option(help="The Meta app's secret: webhooks are checked with it")],
    waba_id: Annotated[str | None, typer.Option(help="The WhatsApp Business Account id")] = None,
    verify_token: Annotated[str | None, typer.Option(help="The token Meta echoes when subscribing")] = None,
    name: Annotated[str, typer.Option(help="A name for people")] = "default",
    send_rate: SendRate = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a Meta phone number to send from and receive for; a running wahub picks it up."""
    from wahub import commands
    from wahub.store import accounts

    if not phone_number_id.isdigit():
        fail("--phone-number-id is Meta's numeric id of the number (not the phone number itself)", code=2)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        await commands.add_account(
            store,
            secret_key(store.settings),
            name=name,
            phone_number_id=phone_number_id,
            waba_id=waba_id,
            creds=accounts.Credentials(access_token, app_secret, verify_token),
            send_rate=send_rate,
        )
    say(
        f"added account {phone_number_id} ({name}); check it with: "
        f"wahub account test --phone-number-id {phone_number_id}"
    )


@app.command("test", epilog="Example: wahub account test --phone-number-id 1122334455667")
@runs
async def test(
    phone_number_id: Annotated[str | None, typer.Option(help="The account (default: the only one)")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Ask Meta for the number with the stored token: proves the token works; prints the number's details."""
    from wahub import commands

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        try:
            info, is_sandbox = await commands.test_account(store, secret_key(store.settings), phone_number_id)
        except errors.AccessTokenInvalid as exc:
            fail(f"Meta refused the access token ({exc.code}: {exc.message}); replace it with wahub account update")
        except errors.ProviderError as exc:
            fail(f"Meta answered {exc.code or '-'}: {exc.message}")
    if is_sandbox:
        say("the sandbox's number: checked against fakegraph, the built-in fake Meta, with the stored token")
    print(json.dumps(info, indent=2))


@app.command("remove", epilog="Example: wahub account remove --phone-number-id 1122334455667 --yes")
@runs
async def remove(
    phone_number_id: Annotated[str, typer.Option(help="The account to remove")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: its conversations and messages are deleted")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove an account together with its contacts, conversations and messages."""
    from wahub import commands

    if not yes:
        fail("this deletes the account's conversations and messages too; add --yes to confirm", code=2)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        deleted = await commands.remove_account(store, phone_number_id)
    say(f"removed account {phone_number_id} and its {deleted:,} messages")
