"""``wahub account exchange-token`` and the token part of ``wahub account test`` and ``wahub monitor``, against
fakegraph's token exchange and debug_token."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

import fakegraph
from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, SECRET_KEY, WABA_ID
from tests.support import running_in_thread
from wahub import cli
from wahub.store import accounts, db
from wahub.store.crypto import Vault
from wahub.store.models import Account

APP_ID = "300000000000001"  # fakegraph's app


@pytest.fixture
def fake_graph() -> Iterator[str]:
    config = fakegraph.FakeGraphConfig(
        access_token=ACCESS_TOKEN, app_secret=APP_SECRET, phone_number_id=PHONE_NUMBER_ID, waba_id=WABA_ID
    )
    with running_in_thread(fakegraph.create_app(config)) as url:
        yield url


@pytest.fixture
def cli_env(database_url: str, tmp_path: os.PathLike[str], fake_graph: str) -> dict[str, str]:
    env = {name: None for name in os.environ if name.startswith("WAHUB_")}
    return env | {
        "WAHUB_DATA_DIR": str(tmp_path),
        "WAHUB_DATABASE_URL": database_url,
        "WAHUB_SECRET_KEY": SECRET_KEY,
        "WAHUB_GRAPH_URL": fake_graph,
    }  # type: ignore[return-value]


def run_cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=env)


def add_account(env: dict[str, str]) -> None:
    added = run_cli(
        env, "account", "add", "--phone-number-id", PHONE_NUMBER_ID, "--waba-id", WABA_ID,
        "--access-token", ACCESS_TOKEN, "--app-secret", APP_SECRET,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr


def control(fake_graph: str, **body: object) -> dict[str, object]:
    answer = httpx.post(f"{fake_graph}/_fake/tokens", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def stored(database_url: str) -> Account:
    engine = db.create_sync_engine(database_url)
    try:
        with Session(engine) as session:
            found = session.scalars(sa.select(Account)).one()
            session.expunge(found)
            return found
    finally:
        engine.dispose()


def test_exchange_token_stores_the_long_lived_token_encrypted_with_its_expiry(
    cli_env: dict[str, str], fake_graph: str, database_url: str
) -> None:
    add_account(cli_env)
    short = str(control(fake_graph, mint=True, type="USER", expires_in=3600)["token"])
    before = datetime.now(UTC)
    exchanged = run_cli(cli_env, "account", "exchange-token", PHONE_NUMBER_ID, "--app-id", APP_ID, "--token", short)
    assert exchanged.exit_code == 0, exchanged.stderr
    assert short not in exchanged.output and "EAAG" not in exchanged.output  # no token is shown
    lapses = before + timedelta(days=60)
    assert f"expires on {lapses:%Y-%m-%d}" in exchanged.stderr and "(in 60 days)" in exchanged.stderr

    account = stored(database_url)
    token = accounts.credentials(account, Vault(SECRET_KEY)).access_token
    assert token.startswith("EAAG") and token.encode() not in account.credentials  # kept encrypted
    assert account.token_type == "USER" and account.token_expires_at is not None
    assert abs(account.token_expires_at - lapses) < timedelta(seconds=30)
    # fakegraph took the long-lived token as a user's, and the number answers to it.
    tested = run_cli(cli_env, "account", "test")
    assert tested.exit_code == 0, tested.stderr
    assert f"access token: expires on {lapses:%Y-%m-%d}" in tested.stderr
    assert json.loads(tested.stdout)["token"]["type"] == "USER"


def test_exchange_token_says_why_meta_refused_and_keeps_the_old_token(cli_env: dict[str, str], fake_graph: str) -> None:
    add_account(cli_env)
    short = str(control(fake_graph, mint=True, expires_in=3600)["token"])
    wrong = run_cli(
        cli_env, "account", "exchange-token", "--app-id", APP_ID, "--app-secret", "not-it", "--token", short
    )
    assert wrong.exit_code == 1
    assert "Meta refused the exchange (1: Error validating client secret.)" in wrong.stderr
    assert run_cli(cli_env, "account", "exchange-token", "--token", short).exit_code == 2  # no app id
    assert run_cli(cli_env, "account", "exchange-token", "--app-id", "app", "--token", short).exit_code == 2
    assert run_cli(cli_env, "account", "test").exit_code == 0  # the old token still works


def test_account_test_recognises_a_system_user_token(cli_env: dict[str, str]) -> None:
    add_account(cli_env)  # fakegraph's configured token plays a System User's
    tested = run_cli(cli_env, "account", "test")
    assert tested.exit_code == 0, tested.stderr
    assert "access token: never expires (System User token)" in tested.stderr
    token = json.loads(tested.stdout)["token"]
    assert (token["type"], token["expires_at"]) == ("SYSTEM_USER", None)


def test_account_test_shows_the_expiry_and_monitor_warns_within_seven_days(
    cli_env: dict[str, str], fake_graph: str, database_url: str
) -> None:
    add_account(cli_env)
    lapses = int(time.time()) + 10 * 86400 + 3600
    control(fake_graph, token=ACCESS_TOKEN, type="USER", expires_at=lapses)
    tested = run_cli(cli_env, "account", "test")
    assert tested.exit_code == 0, tested.stderr
    when = datetime.fromtimestamp(lapses, UTC)
    assert f"access token: expires on {when:%Y-%m-%d %H:%M} UTC (in 10 days)" in tested.stderr
    assert (stored(database_url)).token_expires_at == when
    quiet = json.loads(run_cli(cli_env, "monitor", "--format", "json", "--days", "0").stdout)
    assert quiet["warnings"] == [] and quiet["accounts"][0]["token_expires_at"] == when.isoformat()

    # Meta says it lapses in six days now: `account test` refreshes what is kept, and monitor warns.
    lapses = int(time.time()) + 6 * 86400
    control(fake_graph, token=ACCESS_TOKEN, expires_at=lapses)
    assert run_cli(cli_env, "account", "test").exit_code == 0
    shown = json.loads(run_cli(cli_env, "monitor", "--format", "json", "--days", "0").stdout)
    [warning] = shown["warnings"]
    assert (warning["account"], warning["code"]) == (PHONE_NUMBER_ID, "access_token_expiring")
    assert warning["expires_at"] == datetime.fromtimestamp(lapses, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = run_cli(cli_env, "monitor", "--days", "0").stdout
    assert re.search(rf"warnings\n  the access token of account {PHONE_NUMBER_ID} .* \(in 6 days\)", text), text
