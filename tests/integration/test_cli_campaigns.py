"""``wahub campaign create|start|pause|resume|cancel|show|status|export`` on a SQLite data folder (the sending
itself is ``test_campaign_runs.py``'s)."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from typer.testing import CliRunner, Result

from fakegraph.templates import TEMPLATES
from wahub import cli, config
from wahub.store import db, templates

WABA = "4455667788"


def _templates(data_dir: Path) -> None:
    async def write() -> None:
        engine = db.create_engine(config.load(data_dir=data_dir).database_url)
        try:
            async with db.transaction(db.sessionmaker(engine)) as session:
                await templates.upsert_many(session, WABA, TEMPLATES)
        finally:
            await engine.dispose()

    asyncio.run(write())


def test_campaign_commands_create_start_pause_resume_cancel_show_export(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]

    def run(*args: str) -> Result:
        return CliRunner().invoke(cli.app, [*args, *data])

    assert run("db", "upgrade").exit_code == 0
    account = ["--phone-number-id", "998877", "--waba-id", WABA, "--access-token", "t", "--app-secret", "s"]
    assert run("account", "add", *account).exit_code == 0, run("account", "add", "--help").output
    _templates(tmp_path / "data")
    people = tmp_path / "people.csv"
    people.write_text("number,name,code\n+14155550101,Ana,A1\n+14155550102,Bo,B2\n")
    promo = ["campaign", "create", "--name", "Winter", "--template", "seasonal_promotion", "--csv", str(people)]
    missing = run(*promo, "--header-param", "column:code", "--param", "name")  # the body takes 3
    assert missing.exit_code == 2 and "parameters.body" not in missing.stdout and "3 parameter" in missing.stderr
    made = run(*promo, "--header-param", "column:code", "--param", "name", "--param", "Friday", "--param", "5%")
    assert made.exit_code == 0, made.output
    cid = made.stdout.strip().splitlines()[-1]
    assert "2 recipients" in made.stderr
    shown = run("campaign", "show", cid)
    assert shown.exit_code == 0 and f"campaign {cid} Winter: draft; 2 recipients: pending 2" in shown.stdout
    assert run("campaign", "resume", cid).exit_code == 1  # a draft does not resume: 1, with the reason
    assert run("campaign", "start", cid).exit_code == 0
    assert run("campaign", "pause", cid).exit_code == 0
    assert run("campaign", "resume", cid).exit_code == 0
    assert run("campaign", "cancel", cid).exit_code == 0
    followed = run("campaign", "status", cid, "--follow")  # it has ended: the bar is drawn once, then it returns
    assert followed.exit_code == 0 and "cancelled; 2 recipients" in followed.stdout and "skipped 2" in followed.stdout
    out = tmp_path / "results.csv"
    assert run("campaign", "export", cid, "--out", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert [(r["number"], r["name"], r["result"], r["reason"]) for r in rows] == [
        ("+14155550101", "Ana", "skipped", "cancelled"),
        ("+14155550102", "Bo", "skipped", "cancelled"),
    ]
    assert run("campaign", "show", "99").exit_code == 2
