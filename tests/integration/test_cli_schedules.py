"""``wahub schedule add|list|show|pause|resume|remove`` and ``wahub send --at``, on a SQLite data folder."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner, Result

from wahub import cli, config
from wahub.store import db
from wahub.store.models import OutboxJob, utcnow


def _jobs(data_dir: Path) -> list[OutboxJob]:
    async def read() -> list[OutboxJob]:
        engine = db.create_engine(config.load(data_dir=data_dir).database_url)
        try:
            async with db.sessionmaker(engine)() as session:
                return list((await session.scalars(sa.select(OutboxJob))).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_schedule_commands_add_list_show_pause_resume_delete(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli.app, [*args, *data])

    assert run("db", "upgrade").exit_code == 0
    hourly = ["schedule", "add", "--cron", "0 * * * *", "--to", "+14155550101", "--text", "hi"]
    nobody = run(*hourly)  # checked as the API checks: no account could send it
    assert nobody.exit_code == 2 and "No account is configured" in nobody.stderr, nobody.output
    account = ["--phone-number-id", "998877", "--access-token", "t", "--app-secret", "s"]
    assert run("account", "add", *account).exit_code == 0
    assert run("schedule", "add", "--cron", "0 * * * *", "--to", "not a number", "--text", "hi").exit_code == 2
    added = run(
        "schedule", "add", "--cron", "0 8 * * 1-5", "--tz", "Europe/Madrid", "--to", "+14155550101",
        "--template", "hello_world", "--name", "morning",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    sid = added.stdout.strip().splitlines()[-1]
    assert "T08:00+0" in added.stderr  # its first time, in its zone (CET or CEST)
    listed = run("schedule", "list")
    assert listed.exit_code == 0 and listed.stdout.startswith(f"{sid}\tactive\t0 8 * * 1-5\tEurope/Madrid\t")
    assert "+14155550101\ttemplate\tmorning" in listed.stdout
    assert run("schedule", "pause", sid).exit_code == 0
    assert f"{sid}\tpaused\t" in run("schedule", "list").stdout
    assert run("schedule", "resume", sid).exit_code == 0
    shown = run("schedule", "show", sid)
    assert shown.exit_code == 0 and "active, '0 8 * * 1-5' in Europe/Madrid" in shown.stdout
    assert run("schedule", "remove", sid).exit_code == 0
    gone = run("schedule", "show", sid)
    assert gone.exit_code == 2 and f"schedule {sid} does not exist" in gone.stderr

    bad = run("schedule", "add", "--cron", "0 8 * *", "--to", "+14155550101", "--template", "hello_world")
    assert bad.exit_code == 2 and "not a cron expression" in bad.stderr
    zone = run("schedule", "add", "--cron", "0 8 * * *", "--tz", "Mars/Olympus", "--to", "+14155550101", "--text", "x")
    assert zone.exit_code == 2 and "unknown time zone" in zone.stderr


def test_send_at_holds_the_message_and_a_bad_time_is_a_usage_error(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli.app, [*args, *data])

    assert run("db", "upgrade").exit_code == 0
    at = (utcnow() + timedelta(hours=5)).replace(microsecond=0)
    held = run("send", "--to", "+14155550101", "--template", "hello_world", "--at", at.isoformat())
    assert held.exit_code == 0, held.output
    assert "held until" in held.stderr and "warning" not in held.stderr
    (job,) = _jobs(tmp_path / "data")
    assert job.run_at == at and job.state == "pending"
    text = run("send", "--to", "+14155550101", "--text", "hi", "--at", at.isoformat())  # never wrote: warned
    assert text.exit_code == 0 and "warning: the 24-hour customer-service window is not open" in text.stderr
    for given, says in (("2026-12-24T09:00", "time zone"), ("soon", "send_at"), ("2099-01-01T00:00Z", "366 days")):
        result = run("send", "--to", "+14155550101", "--template", "hello_world", "--at", given)
        assert result.exit_code == 2 and says in result.stderr, (given, result.output)
    assert len(_jobs(tmp_path / "data")) == 2
