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
        str | None,
        typer.Option(
            "--access-token",
            "--auth-token",
            help="A new access token (Twilio: auth token); sending paused for refused credentials resumes",
        ),
    ] = None,
    send_rate: SendRate = None,
    opt_out_keyword: Annotated[
        str | None,
        typer.Option(help="An inbound text that is exactly this word (any case) opts its sender out; '' for none"),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a stored account: its access token, send rate and/or opt-out keyword (default STOP). A running
    wahub picks it up."""
    from wahub import commands

    if access_token is None and send_rate is None and opt_out_keyword is None:
        fail("give --access-token, --send-rate and/or --opt-out-keyword", code=2)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        account = await commands.update_account(
            store,
            secret_key(store.settings),
            phone_number_id,
            access_token=access_token,
            send_rate=send_rate,
            opt_out_keyword=opt_out_keyword,
        )
    keyword = f"opt-out keyword {opt_out_keyword.strip() or '(none)'}" if opt_out_keyword is not None else None
    changed = [w for w, v in (("access token", access_token), (f"send rate {send_rate}/s", send_rate)) if v]
    changed += [keyword] if keyword else []
    say(f"updated account {account.phone_number_id}: {', '.join(changed)}")


@app.command("list", epilog="Example: wahub account list")
@runs
async def list_accounts(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List the accounts: phone_number_id, name, send rate, whether Meta paused their sending, and how far a
    coexistence history sync has got (when one was asked for)."""
    from wahub import commands, commands_history

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        snap = await commands.monitor_snapshot(store)
        syncs = await commands_history.by_phone_number(store)
    if not snap.accounts:
        say("no accounts: set WAHUB_PHONE_NUMBER_ID and friends, or add one with wahub account add")
    for a in snap.accounts:
        rate = f"{a.send_rate}/s" if a.send_rate else f"{store.settings.send_rate}/s (default)"
        state = f"paused: {a.paused}" if a.paused else "active"
        sync = syncs.get(a.phone_number_id)
        history = f"\t{sync.summary()}" if sync else ""
        print(f"{a.phone_number_id}\t{a.name}{' (sandbox)' if a.sandbox else ''}\t{rate}\t{state}{history}")


@app.command(
    "add",
    epilog="Examples: wahub account add --phone-number-id 1122334455667 --waba-id 1234567890 "
    "--access-token EAAG... --app-secret 0123abcd --name support\n\n"
    "wahub account add --provider twilio --account-sid AC0123... --auth-token 4f2a... "
    "--from whatsapp:+14155238886 --name twilio",
)
@runs
async def add(
    provider: Annotated[str, typer.Option(help="meta (Cloud API) or twilio")] = "meta",
    phone_number_id: Annotated[str | None, typer.Option(help="Meta: the id of the phone number")] = None,
    access_token: Annotated[str | None, typer.Option(help="Meta: a system user's access token")] = None,
    app_secret: Annotated[str | None, typer.Option(help="Meta: the app's secret; webhooks are checked with it")] = None,
    waba_id: Annotated[str | None, typer.Option(help="Meta: the WhatsApp Business Account id")] = None,
    verify_token: Annotated[str | None, typer.Option(help="Meta: the token Meta echoes when subscribing")] = None,
    account_sid: Annotated[str | None, typer.Option(help="Twilio: the Account SID (AC…)")] = None,
    auth_token: Annotated[
        str | None, typer.Option(help="Twilio: the auth token; Twilio signs its callbacks with it")
    ] = None,
    sender: Annotated[str | None, typer.Option("--from", help="Twilio: the WhatsApp sender, whatsapp:+E164")] = None,
    messaging_service_sid: Annotated[str | None, typer.Option(help="Twilio: send through this service (MG…)")] = None,
    api_key_sid: Annotated[str | None, typer.Option(help="Twilio: call the API with this key (SK…)")] = None,
    api_key_secret: Annotated[str | None, typer.Option(help="Twilio: the API key's secret")] = None,
    name: Annotated[str, typer.Option(help="A name for people")] = "default",
    send_rate: SendRate = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a Meta phone number or a Twilio WhatsApp sender to send from and receive for; a running wahub
    picks it up."""
    from wahub import commands
    from wahub.store import accounts

    if provider == "twilio":
        twilio = _twilio_options(account_sid, auth_token, sender, messaging_service_sid, api_key_sid, api_key_secret)
        async with commands.opened(load_settings(data_dir, database_url)) as store:
            await commands.add_twilio_account(
                store,
                secret_key(store.settings),
                name=name,
                account_sid=twilio["account_sid"],
                sender=twilio["sender"],
                creds=accounts.TwilioCredentials(auth_token or "", api_key_sid, api_key_secret),
                messaging_service_sid=messaging_service_sid,
                send_rate=send_rate,
            )
        say(
            f"added Twilio account {twilio['sender']} ({name}); check it with: wahub account test --phone-number-id "
            f"{twilio['sender']}"
        )
        return
    if provider != "meta":
        fail(f"--provider: meta or twilio, not {provider!r}", code=2)
    if not phone_number_id or not access_token or not app_secret:
        fail("a Meta account needs --phone-number-id, --access-token and --app-secret", code=2)
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


def _twilio_options(
    account_sid: str | None,
    auth_token: str | None,
    sender: str | None,
    service: str | None,
    key_sid: str | None,
    key_secret: str | None,
) -> dict[str, str]:
    """The Twilio options checked: the Account SID and sender in Twilio's forms; ends the command otherwise."""
    from wahub import config

    if not account_sid or not auth_token or not sender:
        fail("a Twilio account needs --account-sid, --auth-token and --from (whatsapp:+E164)", code=2)
    if not config.TWILIO_ACCOUNT_SID.fullmatch(account_sid):
        fail(f"--account-sid: Twilio's Account SID is AC and 32 hex digits, got {account_sid!r}", code=2)
    if service is not None and not config.TWILIO_SERVICE_SID.fullmatch(service):
        fail(f"--messaging-service-sid: MG and 32 hex digits, got {service!r}", code=2)
    if (key_sid is None) != (key_secret is None):
        fail("--api-key-sid and --api-key-secret go together", code=2)
    try:
        address = config.whatsapp_address(sender)
    except ValueError as exc:
        fail(f"--from: {exc}", code=2)
    return {"account_sid": account_sid, "sender": address}


@app.command("test", epilog="Example: wahub account test --phone-number-id 1122334455667")
@runs
async def test(
    phone_number_id: Annotated[str | None, typer.Option(help="The account (default: the only one)")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Ask the provider for the account with the stored credentials (Meta: the number; Twilio: the account and
    its sender): proves they work; prints what the provider says."""
    from wahub import commands

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        try:
            info, is_sandbox = await commands.test_account(store, secret_key(store.settings), phone_number_id)
        except errors.AccessTokenInvalid as exc:
            fail(
                f"the provider refused the access token (or Twilio's auth token) ({exc.code}: {exc.message}); "
                "replace it with wahub account update"
            )
        except errors.ProviderError as exc:
            fail(f"the provider answered {exc.code or '-'}: {exc.message}")
    if is_sandbox:
        say("the sandbox's account: checked against the built-in fake (fakegraph or faketwilio) with the stored token")
    token = info.get("token")
    if isinstance(token, dict):
        say(f"access token: {token['summary']}")
    print(json.dumps(info, indent=2))


@app.command(
    "exchange-token",
    epilog="Example: wahub account exchange-token 1122334455667 --app-id 300000000000001 --token EAAG...",
)
@runs
async def exchange_token(
    account: Annotated[
        str | None, typer.Argument(help="The account's phone_number_id (default: the only or default one)")
    ] = None,
    app_id: Annotated[str, typer.Option(help="The Meta app's id (client_id)")] = "",
    token: Annotated[str, typer.Option(help="A short-lived user access token (about an hour) of that app")] = "",
    app_secret: Annotated[
        str | None, typer.Option(help="The app's secret (default: the account's, which signs its webhooks)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Turn a short-lived user token into a long-lived one (about 60 days) through Meta's token exchange, and
    store it on the account, encrypted, with its expiry; sending paused for the old token resumes. wahub warns
    seven days before it lapses (/readyz, wahub monitor, an account.event webhook). A System User token does not
    expire and needs none of this: give it with wahub account update --access-token."""
    from wahub import commands, commands_tokens

    if not app_id or not token:
        fail("give --app-id and --token (the short-lived user token to exchange)", code=2)
    if not app_id.isdigit():
        fail(f"--app-id: Meta's numeric app id, got {app_id!r}", code=2)
    async with commands.opened(load_settings(data_dir, database_url)) as store:
        try:
            stored, lifetime = await commands_tokens.exchange(
                store, secret_key(store.settings), account, app_id=app_id, app_secret=app_secret, short_token=token
            )
        except errors.ProviderError as exc:
            fail(f"Meta refused the exchange ({exc.code or '-'}: {exc.message})")
    say(f"stored a long-lived access token for account {stored.phone_number_id}: it {lifetime}")


@app.command(
    "sync-history",
    epilog="Examples: wahub account sync-history 1122334455667\n\n"
    "wahub account sync-history --no-contacts   (the only or default account; history only)",
)
@runs
async def sync_history(
    account: Annotated[
        str | None, typer.Argument(help="The account's phone_number_id (default: the only or default one)")
    ] = None,
    contacts: Annotated[
        bool, typer.Option("--contacts/--no-contacts", help="Ask for the app's contacts too (once, like history)")
    ] = True,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Ask Meta for a coexistence number's WhatsApp Business app chat history (up to 180 days) and contacts.
    Meta allows it once per onboarding: wahub keeps when it asked and refuses to ask again. The history then
    arrives as webhooks, in three phases; follow it with wahub account history-status."""
    from wahub import commands, commands_history

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        try:
            done = await commands_history.sync_history(store, secret_key(store.settings), account, contacts=contacts)
        except errors.AccessTokenInvalid as exc:
            fail(f"Meta refused the access token ({exc.code}: {exc.message}); replace it with wahub account update")
        except errors.ProviderError as exc:
            fail(f"Meta refused the request ({exc.code or '-'}: {exc.message})")
    for kind, request_id in done.request_ids.items():
        what = "history" if kind == "history" else "contacts"
        say(f"asked Meta for the {what} of account {done.phone_number_id} (request {request_id or '-'})")
    if done.skipped:
        say("contacts: asked already (Meta allows it once per onboarding); not asked again")
    say("Meta sends it as webhooks over the next minutes: follow it with wahub account history-status")


@app.command("history-status", epilog="Example: wahub account history-status 1122334455667")
@runs
async def history_status(
    account: Annotated[
        str | None, typer.Argument(help="The account's phone_number_id (default: the only or default one)")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """How far the account's coexistence history sync has got: when it was asked, Meta's request ids, the
    progress and phase the history webhooks reported, and when the last one came."""
    from wahub import commands, commands_history

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        number, sync = await commands_history.history_status(store, account)
    print(f"{number}\t{sync.summary()}")
    for label, at, request_id in (
        ("history requested", sync.history_requested_at, sync.history_request_id),
        ("contacts requested", sync.contacts_requested_at, sync.contacts_request_id),
    ):
        if at is not None:
            print(f"{label}: {at:%Y-%m-%d %H:%M} UTC (request {request_id or '-'})")
    if sync.updated_at is not None:
        print(f"chunks received: {sync.chunks}, last update {sync.updated_at:%Y-%m-%d %H:%M:%S} UTC")


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
