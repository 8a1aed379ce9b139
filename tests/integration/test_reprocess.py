"""``wahub events reprocess``, on SQLite and PostgreSQL: messages an older wahub stored as ``unknown`` take the
type today's parser reads, from their raw event in the journal or, when it was pruned, from their own raw JSON;
a second run changes nothing, and nothing is stored twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from tests.integration.conftest import SECRET_KEY
from tests.integration.test_webhooks import signed
from tests.support import payload
from wahub import cli
from wahub.store import db
from wahub.store.models import Account, Message, WebhookEvent
from wahub.worker import reprocess
from wahub.worker.processor import Processor

SINCE = datetime(2023, 1, 1, tzinfo=UTC)  # the conformance payloads are of 2023


def snapshot(rows: list[Message]) -> list[tuple[Any, ...]]:
    return [(m.wamid, m.type, m.content, m.search_text, m.media_id) for m in rows]


async def messages(sessions: async_sessionmaker[AsyncSession]) -> list[Message]:
    async with sessions() as session:
        return list((await session.scalars(sa.select(Message).order_by(Message.id))).all())


async def test_unknown_messages_take_their_type_once_from_the_journal_or_their_own_raw_json(
    anon: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    text, image = payload("message", "text"), payload("message", "image")
    image["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.image1"
    for body in (json.dumps(text).encode(), json.dumps(image).encode()):
        assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
    assert await Processor(sessions, event_sessions).run_once() == 2
    today = snapshot(await messages(sessions))
    assert [row[1] for row in today] == ["text", "image"] and today[0][3] == "Body Text" and today[1][4] is not None

    # What a wahub that knew neither type stored: 'unknown', the fields kept with the original type, not found
    # by search, no media. The image's event has since been pruned from the journal.
    async with db.transaction(sessions) as session:
        for m in await session.scalars(sa.select(Message)):
            m.content = {**m.content, "original_type": m.type}
            m.type, m.search_text, m.media_id = "unknown", None, None
    async with db.transaction(event_sessions) as ev:
        stored = (await ev.execute(sa.select(WebhookEvent.id, WebhookEvent.body))).all()
        pruned = [event_id for event_id, body in stored if b"wamid.image1" in bytes(body)]
        assert len(pruned) == 1
        await ev.execute(sa.delete(WebhookEvent).where(WebhookEvent.id.in_(pruned)))
    assert [row[1] for row in snapshot(await messages(sessions))] == ["unknown", "unknown"]

    until = datetime.now(tz=UTC) + timedelta(minutes=1)
    first = await reprocess.run(sessions, event_sessions, SINCE, until)
    assert (first.events, first.rejected, first.retyped, first.retyped_from_message) == (1, 0, 1, 1)
    assert (first.unchanged, first.added) == (0, 0)
    assert snapshot(await messages(sessions)) == today
    assert any("pruned" in line for line in first.lines(SINCE))

    second = await reprocess.run(sessions, event_sessions, SINCE, until)
    assert (second.events, second.retyped, second.retyped_from_message, second.unchanged, second.added) == (
        1,
        0,
        0,
        1,
        0,
    )
    assert snapshot(await messages(sessions)) == today


def test_the_command_prints_its_summary_and_refuses_an_empty_period(tmp_path: Path, database_url: str) -> None:
    options = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]
    env = {"WAHUB_SECRET_KEY": SECRET_KEY}
    ran = CliRunner().invoke(cli.app, ["events", "reprocess", "--since", "2026-11-01", *options], env=env)
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.startswith("events read 0 (rejected 0), messages updated 0")
    backwards = ["events", "reprocess", "--since", "2026-11-02", "--until", "2026-11-01", *options]
    refused = CliRunner().invoke(cli.app, backwards, env=env)
    assert refused.exit_code == 2 and "--until must be after --since" in refused.stderr
