"""The CLI and the data folder: only ``serve`` and ``db upgrade`` create a database; every other command refuses
one that does not exist, in one line naming it, rather than start an empty one in whatever folder it ran from."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from tests.conftest import PG_URL
from wahub import cli

MISSING_DB_EXIT = 1
A_FILE = str(Path(__file__).parent.parent / "data" / "README.md")

# Every command that reads or writes the database, with the arguments it needs to get that far.
COMMANDS = [
    ["apikey", "list"],
    ["apikey", "create", "--name", "erp"],
    ["apikey", "revoke", "1a2b3c4d"],
    ["account", "list"],
    ["account", "test"],
    ["account", "update", "--send-rate", "10"],
    ["account", "add", "--phone-number-id", "998877", "--access-token", "t", "--app-secret", "s"],
    ["account", "remove", "--phone-number-id", "998877", "--yes"],
    ["media", "retry"],
    ["monitor"],
    ["schedule", "list"],
    ["send", "--to", "+14155550101", "--template", "hello_world"],
    ["send", "--to", "+14155550101", "--file", A_FILE],
]


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder the commands run from, with no WAHUB_ setting from the environment."""
    for name in list(os.environ):
        if name.startswith("WAHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args))


def one_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2] if a[0] != "send" else a[::3]))
def test_a_command_run_where_no_data_folder_is_refuses_and_creates_nothing(cwd: Path, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == MISSING_DB_EXIT, result.output
    line = one_line(result)
    assert str(cwd / "wahub-data") in line and "wahub serve" in line and "wahub db upgrade" in line, line
    assert list(cwd.iterdir()) == []


def test_a_data_folder_without_a_database_is_named_too(cwd: Path) -> None:
    (cwd / "elsewhere").mkdir()
    result = run("apikey", "list", "--data-dir", "elsewhere")
    assert result.exit_code == MISSING_DB_EXIT
    assert str(cwd / "elsewhere" / "wahub.db") in one_line(result)
    assert list((cwd / "elsewhere").iterdir()) == []


def test_db_upgrade_creates_the_sqlite_database_that_the_other_commands_then_use(cwd: Path) -> None:
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert (cwd / "wahub-data" / "wahub.db").is_file()
    created = run("apikey", "create", "--name", "erp")
    assert created.exit_code == 0, created.output
    listed = run("apikey", "list")
    assert listed.exit_code == 0 and "\terp\tactive" in listed.stdout


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A PostgreSQL database that exists but has no schema yet (before 'wahub db upgrade')."""
    name = f"wahub_empty_{os.getpid()}"
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_postgres_before_db_upgrade_prints_only_the_hint(cwd: Path, empty_postgres: str) -> None:
    result = run("apikey", "list", "--database-url", empty_postgres)
    assert result.exit_code == 1
    assert one_line(result) == "wahub: error: the PostgreSQL schema is not up to date: run 'wahub db upgrade' first"
    assert run("db", "upgrade", "--database-url", empty_postgres).exit_code == 0
    assert run("apikey", "list", "--database-url", empty_postgres).exit_code == 0
    assert list(cwd.iterdir()) == []


@pytest.mark.postgres
def test_the_sandbox_on_postgres_wants_the_data_folder_of_its_secret_key(cwd: Path, empty_postgres: str) -> None:
    assert run("db", "upgrade", "--database-url", empty_postgres).exit_code == 0
    result = run("send", "--to", "+14155550101", "--template", "hello_world", "--database-url", empty_postgres)
    assert result.exit_code == MISSING_DB_EXIT, result.output
    line = one_line(result)
    assert str(cwd / "wahub-data") in line and "wahub serve" in line, line
    assert list(cwd.iterdir()) == []


def test_wahub_send_to_a_number_that_is_not_one_is_a_usage_error(cwd: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    result = run("send", "--to", "+19995550101", "--text", "hi")
    assert result.exit_code == 2, result.output
    assert one_line(result).startswith("wahub: error: to: not a valid phone number")
    closed = run("send", "--to", "+14155550101", "--text", "hi")  # a number, but it never wrote: not usage
    assert closed.exit_code == 1 and "24-hour" in closed.stderr
