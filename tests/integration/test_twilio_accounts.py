"""Twilio accounts: stored with their secrets encrypted as Meta's are, found by their sender however it is
written, added and checked from the CLI (``wahub account add --provider twilio``, ``account test`` against
faketwilio), and stored from the WAHUB_TWILIO_* settings."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

import faketwilio
from tests.integration.conftest import SECRET_KEY
from tests.support import running_in_thread
from wahub import cli, commands, config, errors
from wahub.store import accounts, db
from wahub.store.crypto import Vault
from wahub.webhook import signature
from wahub.worker import numbers

SID = "AC" + "ab" * 16
TOKEN = "twilio-auth-token-for-tests"
SENDER = "whatsapp:+14155238886"


async def test_a_twilio_accounts_secrets_are_stored_encrypted(
    sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    async with db.transaction(sessions) as session:
        account = await accounts.upsert_twilio(
            session,
            vault,
            name="twilio",
            account_sid=SID,
            sender=SENDER,
            credentials=accounts.TwilioCredentials(TOKEN, "SK" + "1" * 32, "key-secret"),
            messaging_service_sid="MG" + "2" * 32,
        )
    async with db.transaction(sessions) as session:
        stored = await accounts.get(session, account.id)
    assert TOKEN.encode() not in stored.credentials and b"key-secret" not in stored.credentials
    assert stored.provider == "twilio" and stored.phone_number_id == SENDER and stored.twilio_account_sid == SID
    assert stored.display_phone_number == "14155238886" and stored.messaging_service_sid == "MG" + "2" * 32
    assert stored.webhook_key_id == signature.key_id(TOKEN)  # Twilio signs its callbacks with the auth token
    identity = numbers.provider_account(stored, vault)
    assert identity.token == TOKEN and identity.account_sid == SID
    assert identity.api_key == ("SK" + "1" * 32, "key-secret") and identity.number == SENDER
    with pytest.raises(errors.InvalidInput, match="WAHUB_SECRET_KEY"):
        accounts.twilio_credentials(stored, Vault("another-secret-key-0123"))


async def test_a_twilio_sender_is_found_however_it_is_written(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, account: object
) -> None:
    async with db.transaction(sessions) as session:
        twilio = await accounts.upsert_twilio(
            session, vault, name="t", account_sid=SID, sender=SENDER, credentials=accounts.TwilioCredentials(TOKEN)
        )
    async with db.transaction(sessions) as session:
        for spelling in (SENDER, "+14155238886", "14155238886"):
            found = await accounts.default_sender(session, spelling)
            assert found.id == twilio.id, spelling
        with pytest.raises(errors.NoAccount, match="several accounts"):
            await accounts.default_sender(session)
        with pytest.raises(errors.NoAccount):
            await accounts.default_sender(session, "whatsapp:+14155550000")


async def test_the_twilio_settings_store_a_twilio_account(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, tmp_path: Path, database_url: str
) -> None:
    settings = config.load(
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=SECRET_KEY,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from="+14155238886",
        public_url="https://wahub.example.com/",
    )
    assert not settings.sandbox and settings.public_url == "https://wahub.example.com"
    await commands.store_accounts_from_settings(settings, sessions, vault)
    await commands.store_accounts_from_settings(settings, sessions, vault)  # at every start: one account
    async with db.transaction(sessions) as session:
        (stored,) = await accounts.all_accounts(session)
    assert stored.provider == "twilio" and stored.phone_number_id == SENDER
    assert accounts.twilio_credentials(stored, vault).auth_token == TOKEN


@pytest.fixture
def fake_twilio() -> Iterator[str]:
    app = faketwilio.create_app(faketwilio.FakeTwilioConfig(account_sid=SID, auth_token=TOKEN, sender=SENDER))
    with running_in_thread(app) as url:
        yield url


def run_cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=env)


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, fake_twilio: str) -> dict[str, str]:
    env = {name: None for name in os.environ if name.startswith("WAHUB_")}
    return env | {
        "WAHUB_DATA_DIR": str(tmp_path),
        "WAHUB_DATABASE_URL": database_url,
        "WAHUB_SECRET_KEY": SECRET_KEY,
        "WAHUB_TWILIO_URL": fake_twilio,
    }  # type: ignore[return-value]


def test_wahub_account_add_stores_a_twilio_sender_that_account_test_checks_with_twilio(
    cli_env: dict[str, str],
) -> None:
    added = run_cli(
        cli_env, "account", "add", "--provider", "twilio", "--account-sid", SID, "--auth-token", TOKEN,
        "--from", "+14155238886", "--name", "support",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    listed = run_cli(cli_env, "account", "list")
    assert SENDER in listed.stdout and "support" in listed.stdout
    tested = run_cli(cli_env, "account", "test", "--phone-number-id", SENDER)
    assert tested.exit_code == 0, tested.stderr
    info = json.loads(tested.stdout)
    assert info["account_sid"] == SID and info["status"] == "active"
    assert info["sender"] == SENDER and info["sender_status"] == "ONLINE"
    again = run_cli(
        cli_env, "account", "add", "--provider", "twilio", "--account-sid", SID, "--auth-token", TOKEN,
        "--from", SENDER,
    )  # fmt: skip
    assert again.exit_code == 1 and "exists" in again.stderr

    assert run_cli(cli_env, "account", "update", "--phone-number-id", SENDER, "--auth-token", "wrong").exit_code == 0
    refused = run_cli(cli_env, "account", "test", "--phone-number-id", SENDER)
    assert refused.exit_code == 1 and "refused" in refused.stderr and "20003" in refused.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--account-sid", SID, "--auth-token", TOKEN], "--from"),
        (["--account-sid", "AC123", "--auth-token", TOKEN, "--from", SENDER], "--account-sid"),
        (["--account-sid", SID, "--auth-token", TOKEN, "--from", "whatsapp:hello"], "--from"),
        (["--account-sid", SID, "--auth-token", TOKEN, "--from", SENDER, "--api-key-sid", "SK1"], "--api-key"),
    ],
)
def test_wahub_account_add_refuses_bad_twilio_options_in_one_line(
    cli_env: dict[str, str], args: list[str], says: str
) -> None:
    result = run_cli(cli_env, "account", "add", "--provider", "twilio", *args)
    assert result.exit_code == 2 and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
