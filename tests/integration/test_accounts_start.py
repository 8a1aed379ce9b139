"""Workers started together with the same settings all come up: they race to store the configured account,
and the one that loses finds it stored instead of crashing."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from wahub import commands, config
from wahub.store import db
from wahub.store.crypto import Vault
from wahub.store.models import Account


# Only PostgreSQL lets two writers race: SQLite runs one write transaction at a time.
@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_workers_starting_together_store_the_configured_account_once(
    database_url: str, engine: AsyncEngine, vault: Vault, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = config.load(
        database_url=database_url,
        phone_number_id="100000000000077",
        access_token="token",
        app_secret="app-secret",
        secret_key="a-secret-key-of-enough-length-0123",
    )
    # Each start has its own connection, as separate processes would.
    engines = [db.create_engine(database_url) for _ in range(6)]
    try:
        await asyncio.gather(
            *(commands.store_account_from_settings(settings, db.sessionmaker(e), vault) for e in engines)
        )
    finally:
        for e in engines:
            await e.dispose()
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(Account.phone_number_id))).scalars().all()
    assert stored.count("100000000000077") == 1
