"""``wahub apikey create|list|revoke``, and when each key was last used (noted per request, written by the
running app every minute and when it stops)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from typer.testing import CliRunner

from tests.support import running
from wahub import cli, config
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.store import db
from wahub.store.crypto import Vault


async def use(data_dir: Path, key: str, times: int) -> None:
    """Serve wahub on the data folder and make requests with ``key``; the app writes the use as it stops."""
    settings = config.load(data_dir=data_dir)
    engine = db.create_engine(settings.database_url)
    events = db.create_events_engine(settings.database_url, engine)
    try:
        ctx = AppContext.build(settings, engine, events, Vault("test-secret-key-for-usage"))
        async with running(create_app(ctx)) as url, httpx.AsyncClient(base_url=url) as http:
            for _ in range(times):
                answer = await http.get("/api/v1/conversations", headers={"Authorization": f"Bearer {key}"})
                assert answer.status_code == 200
    finally:
        await events.dispose()
        await engine.dispose()


def test_apikey_list_shows_each_keys_last_use_and_revocation(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(cli.app, ["db", "upgrade", *data]).exit_code == 0
    keys = {}
    for name in ("erp", "crm"):
        created = runner.invoke(cli.app, ["apikey", "create", "--name", name, *data])
        assert created.exit_code == 0, created.output
        keys[name] = created.stdout.strip().splitlines()[-1]
    listed = runner.invoke(cli.app, ["apikey", "list", *data]).stdout
    assert "\terp\tactive\tnever used" in listed and "\tcrm\tactive\tnever used" in listed

    asyncio.run(use(tmp_path / "data", keys["erp"], times=3))
    listed = runner.invoke(cli.app, ["apikey", "list", *data]).stdout
    assert re.search(r"\terp\tactive\tlast used \d{4}-\d\d-\d\d \d\d:\d\d UTC", listed), listed
    assert "\tcrm\tactive\tnever used" in listed

    revoked = runner.invoke(cli.app, ["apikey", "revoke", keys["crm"].split("_")[1], *data])
    assert revoked.exit_code == 0, revoked.output
    listed = runner.invoke(cli.app, ["apikey", "list", *data]).stdout
    assert re.search(r"\tcrm\trevoked \d{4}-\d\d-\d\d\tnever used", listed), listed
    assert runner.invoke(cli.app, ["apikey", "revoke", "nosuchkey", *data]).exit_code == 1
