"""The database going away under a running wahub is the server's trouble, said as such: 503 with Retry-After,
never a 500, and nothing acknowledged."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.integration.conftest import _pg_admin, _pg_url
from tests.support import running
from wahub import config
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.store import db, migrate
from wahub.store.crypto import Vault


@pytest.mark.postgres
async def test_a_database_that_stops_answering_gives_503_with_retry_after(tmp_path: Path) -> None:
    name = f"wahub_unavailable_{os.getpid()}"
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    migrate.upgrade(_pg_url(name))
    settings = config.load(data_dir=tmp_path / "data", database_url=_pg_url(name))
    engine = db.create_engine(_pg_url(name))
    ctx = AppContext.build(settings, engine, engine, Vault("k" * 32))
    headers = {"Authorization": "Bearer wahub_0123_whatever"}
    body = {"to": "+14155550101", "type": "text", "text": {"body": "hi"}}
    try:
        async with running(create_app(ctx)) as base, httpx.AsyncClient(base_url=base, headers=headers) as client:
            assert (await client.get("/api/v1/messages")).status_code == 401  # up: the key is unknown
            with _pg_admin() as admin:  # the database goes away (its connections with it)
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            for answer in (
                await client.post("/api/v1/messages", json=body),
                await client.get("/api/v1/messages"),
                await client.get("/api/v1/conversations"),
            ):
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"] == "2"
                assert answer.json()["error"]["code"] == "unavailable"
    finally:
        await engine.dispose()
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_database_error_never_quotes_the_message_it_was_writing(database_url: str) -> None:
    # Errors are logged (at ERROR, by the API's last-resort handler); their text must not carry bodies.
    engine = db.create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE leak_check (id INTEGER PRIMARY KEY, body TEXT)"))
        with pytest.raises(sa.exc.IntegrityError) as failed:
            async with engine.begin() as conn:
                for _ in range(2):
                    await conn.execute(sa.text("INSERT INTO leak_check VALUES (1, :body)"), {"body": "PIN is 4711"})
        assert "4711" not in str(failed.value)
    finally:
        await engine.dispose()
