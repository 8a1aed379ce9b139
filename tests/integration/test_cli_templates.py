"""``wahub templates sync|list`` against fakegraph (its built-in templates)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import fakegraph
from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, SECRET_KEY, WABA_ID
from tests.support import running_in_thread
from wahub import cli


@pytest.fixture
def fake_graph() -> Iterator[str]:
    config = fakegraph.FakeGraphConfig(
        access_token=ACCESS_TOKEN, phone_number_id=PHONE_NUMBER_ID, waba_id=WABA_ID, callback_url=None
    )
    with running_in_thread(fakegraph.create_app(config)) as url:
        yield url


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, fake_graph: str) -> dict[str, str]:
    env = {name: None for name in os.environ if name.startswith("WAHUB_")}
    return env | {
        "WAHUB_DATA_DIR": str(tmp_path),
        "WAHUB_DATABASE_URL": database_url,
        "WAHUB_SECRET_KEY": SECRET_KEY,
        "WAHUB_GRAPH_URL": fake_graph,
    }  # type: ignore[return-value]


def run_cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args), env=env)


def test_wahub_templates_sync_reads_meta_s_templates_and_list_shows_them(cli_env: dict[str, str]) -> None:
    assert run_cli(cli_env, "templates", "list").stdout == ""
    added = run_cli(
        cli_env, "account", "add", "--phone-number-id", PHONE_NUMBER_ID, "--waba-id", WABA_ID,
        "--access-token", ACCESS_TOKEN, "--app-secret", APP_SECRET,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    synced = run_cli(cli_env, "templates", "sync")
    assert synced.exit_code == 0, synced.stderr
    assert f"{WABA_ID}: 8 templates" in synced.stderr
    approved = run_cli(cli_env, "templates", "list", "--status", "APPROVED", "--json")
    rows = [json.loads(line) for line in approved.stdout.splitlines()]
    assert len(rows) == 6 and {r["status"] for r in rows} == {"APPROVED"}
    assert ("order_shipped", "es") in {(r["name"], r["language"]) for r in rows}
