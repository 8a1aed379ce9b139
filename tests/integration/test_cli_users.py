"""``wahub user add|list|disable|reset-password`` and ``wahub apikey create --scope``, on a SQLite data folder."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from wahub import cli, config
from wahub.store import apikeys, db, users


def user_can_log_in(data_dir: Path, email: str, password: str) -> bool:
    async def check() -> bool:
        settings = config.load(data_dir=data_dir)
        engine = db.create_engine(settings.database_url)
        try:
            async with db.sessionmaker(engine)() as session:
                return await users.password_matches(await users.find(session, email), password)
        finally:
            await engine.dispose()

    return asyncio.run(check())


def test_user_commands_add_list_disable_and_reset_password(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(cli.app, ["db", "upgrade", *data]).exit_code == 0
    added = runner.invoke(
        cli.app, ["user", "add", "--email", "Ada@Example.com", "--name", "Ada", "--role", "admin", *data]
    )
    assert added.exit_code == 0, added.output
    one_time = added.stdout.strip().splitlines()[-1]
    assert user_can_log_in(tmp_path / "data", "ada@example.com", one_time)

    given = runner.invoke(
        cli.app,
        ["user", "add", "--email", "bo@example.com", "--name", "Bo", "--role", "agent", "--password-stdin", *data],
        input="a password from stdin\n",
    )
    assert given.exit_code == 0, given.output
    assert "a password from stdin" not in given.output
    assert user_can_log_in(tmp_path / "data", "bo@example.com", "a password from stdin")

    again = runner.invoke(cli.app, ["user", "add", "--email", "ADA@example.com", "--name", "Ada 2", *data])
    assert again.exit_code == 1  # the email is taken, whatever its case
    bad_role = runner.invoke(
        cli.app, ["user", "add", "--email", "cy@example.com", "--name", "Cy", "--role", "boss", *data]
    )
    assert bad_role.exit_code == 1

    listed = runner.invoke(cli.app, ["user", "list", *data]).stdout
    assert "ada@example.com\tAda\tadmin\tactive\tnever logged in" in listed
    assert "bo@example.com\tBo\tagent\tactive" in listed

    assert runner.invoke(cli.app, ["user", "disable", "--email", "bo@example.com", *data]).exit_code == 0
    assert "bo@example.com\tBo\tagent\tdisabled " in runner.invoke(cli.app, ["user", "list", *data]).stdout
    assert not user_can_log_in(tmp_path / "data", "bo@example.com", "a password from stdin")

    reset = runner.invoke(cli.app, ["user", "reset-password", "--email", "ada@example.com", *data])
    assert reset.exit_code == 0, reset.output
    new = reset.stdout.strip().splitlines()[-1]
    assert new != one_time
    assert user_can_log_in(tmp_path / "data", "ada@example.com", new)
    assert not user_can_log_in(tmp_path / "data", "ada@example.com", one_time)
    missing = runner.invoke(cli.app, ["user", "disable", "--email", "nobody@example.com", *data])
    assert missing.exit_code == 1


def test_apikey_create_takes_scopes(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(cli.app, ["db", "upgrade", *data]).exit_code == 0
    created = runner.invoke(cli.app, ["apikey", "create", "--name", "erp", "--scope", "send", "--scope", "read", *data])
    assert created.exit_code == 0, created.output
    full = runner.invoke(cli.app, ["apikey", "create", "--name", "ops", *data])
    assert full.exit_code == 0, full.output
    listed = runner.invoke(cli.app, ["apikey", "list", *data]).stdout
    assert "\terp\tactive\tnever used\tread send" in listed
    assert "\tops\tactive\tnever used\tadmin read send" in listed
    assert runner.invoke(cli.app, ["apikey", "create", "--scope", "everything", *data]).exit_code == 1
    assert apikeys.parse_scopes([]) == apikeys.ALL_SCOPES
