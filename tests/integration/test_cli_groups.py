"""``wahub group create|list|invite-link|send`` and ``wahub send --to <group id>``, run as a user runs them while
a wahub serves the webhooks (here: the app, its worker and fakegraph in the test's loop; the CLI in a thread,
with its own loop, as a second process would be)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

import fakegraph
from tests.integration.conftest import ACCESS_TOKEN, SECRET_KEY
from tests.support import eventually, running
from wahub import cli
from wahub.store.models import Account


def cli_env(database_url: str, tmp_path: Path, graph_url: str) -> dict[str, str]:
    env = {name: None for name in os.environ if name.startswith("WAHUB_")}
    return env | {
        "WAHUB_DATA_DIR": str(tmp_path),
        "WAHUB_DATABASE_URL": database_url,
        "WAHUB_SECRET_KEY": SECRET_KEY,
        "WAHUB_GRAPH_URL": graph_url,
    }  # type: ignore[return-value]


async def wahub(env: dict[str, str], *args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, cli.app, list(args), env=env)


async def test_a_group_is_created_listed_linked_and_sent_to_from_the_command_line(
    database_url: str, tmp_path: Path, graph_url: str, worker: None, account: Account, client: httpx.AsyncClient
) -> None:
    env = cli_env(database_url, tmp_path, graph_url)
    made = await wahub(env, "group", "create", "Night shift", "--description", "Who is on tonight")
    assert made.exit_code == 0, made.stderr
    link, row_id = made.stdout.split()
    assert link.startswith("https://chat.whatsapp.com/") and "created" in made.stderr
    listed = await wahub(env, "group", "list", "--json")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (row["id"], row["subject"], row["state"], row["invite_link"]) == (int(row_id), "Night shift", "active", link)
    again = await wahub(env, "group", "invite-link", row_id)
    assert again.stdout.strip() == link
    reset = await wahub(env, "group", "invite-link", row_id, "--reset")
    assert reset.exit_code == 0 and reset.stdout.strip() not in ("", link)
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    async with httpx.AsyncClient(base_url=graph_url, headers=headers) as fake:
        joined = await fake.post(
            "/_fake/groups/join", json={"invite_link": reset.stdout.strip(), "wa_id": "14155550101"}
        )
        assert joined.json()["joined"] is True

    async def member() -> bool:
        return bool((await client.get(f"/api/v1/groups/{row_id}/participants")).json())

    assert await eventually(member)
    sent = await wahub(env, "group", "send", row_id, "--text", "Who takes the night?")
    assert sent.exit_code == 0, sent.stderr
    by_id = await wahub(env, "send", "--to", row["group_id"], "--template", "hello_world")
    assert by_id.exit_code == 0, by_id.stderr
    assert f"to group {row['group_id']}" in by_id.stderr
    for message_id in (sent.stdout.split()[-1], by_id.stdout.split()[-1]):
        message: dict[str, Any] = (await client.get(f"/api/v1/messages/{message_id}")).json()
        assert message["group_id"] == row["group_id"]
    missing = await wahub(env, "group", "send", "999", "--text", "x")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    bad = await wahub(env, "group", "create", "x" * 129)
    assert bad.exit_code == 2 and "subject" in bad.stderr


async def test_in_the_sandbox_the_commands_reach_the_fakegraph_of_the_running_serve(
    database_url: str, tmp_path: Path
) -> None:
    from wahub import sandbox

    env = cli_env(database_url, tmp_path, "http://127.0.0.1:9")  # nothing listens there: Meta is not asked
    missing = await wahub(env, "group", "create", "Night shift", "--wait", "0")
    assert missing.exit_code == 1 and "start it first" in missing.stderr
    creds = sandbox.credentials(SECRET_KEY)
    async with running(fakegraph.create_app(sandbox.fakegraph_config(creds, None, "http://x"))) as url:
        sandbox.record_fakegraph_url(tmp_path, url)
        made = await wahub(env, "group", "create", "Night shift", "--wait", "0")
        assert made.exit_code == 0, made.stderr
        assert "being created" in made.stderr
        async with httpx.AsyncClient(base_url=url) as fake:
            groups = (await fake.get("/_fake/groups")).json()["data"]
    assert [g["subject"] for g in groups] == ["Night shift"]
