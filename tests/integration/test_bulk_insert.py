"""Inserting many rows at once, skipping those a unique constraint already holds (``store/upsert.py``): one
INSERT … SELECT from a JSON document (``jsonb_to_recordset`` on PostgreSQL; on SQLite ``json_each`` where the new
rows' ids come back, else the driver's executemany of values processed once per batch), which must store exactly
what the rows say, in their order, as SQLAlchemy binding each row alone would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.store import db, upsert
from wahub.store.models import Account, StatusRecord

TABLE: sa.Table = StatusRecord.__table__  # type: ignore[assignment]
NUMBER = "14155550101"
AT = datetime(2026, 12, 2, 9, 15, 2, 123456, tzinfo=UTC)


def status(account: Account, wamid: str, **extra: Any) -> dict[str, Any]:
    return {
        "account_id": account.id,
        "wamid": wamid,
        "status": "delivered",
        "recipient": NUMBER,
        # A time given in another zone is stored as the same instant.
        "timestamp": AT.astimezone(ZoneInfo("Asia/Kolkata")),
        "message_id": None,
        "error_code": None,
        "error_title": None,
        "error_details": None,
        "pricing": None,
        "conversation": None,
        "raw": {"id": wamid},
        "created_at": AT,
        **extra,
    }


async def stored(sessions: async_sessionmaker[AsyncSession]) -> list[StatusRecord]:
    async with sessions() as session:
        return list((await session.scalars(sa.select(StatusRecord).order_by(StatusRecord.id))).all())


async def test_many_rows_are_stored_as_they_are_in_their_order_and_repeats_are_skipped(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    odd = {"text": 'quote " backslash \\ newline \n tab \t é 😀 \u2028', "list": [1, 2.5, None, True], "nested": {}}
    rows = [
        status(account, "wamid.A", pricing={"billable": True, "category": "service"}),
        status(account, "wamid.B", raw=odd, error_code=131026, error_title="Message undeliverable", recipient="x"),
        status(account, "wamid.A"),  # the same (account, wamid, status, recipient) again: skipped
        status(account, "wamid.C", timestamp=AT + timedelta(seconds=1), conversation={"id": "c1"}),
    ]
    async with db.transaction(sessions) as session:
        await upsert.insert_ignore_rows(session, TABLE, rows)
    found = await stored(sessions)
    assert [(r.wamid, r.recipient) for r in found] == [
        ("wamid.A", "14155550101"),
        ("wamid.B", "x"),
        ("wamid.C", "14155550101"),
    ]
    a, b, c = found
    assert a.pricing == {"billable": True, "category": "service"} and a.raw == {"id": "wamid.A"}
    assert b.raw == odd and b.error_code == 131026 and b.error_title == "Message undeliverable"
    assert a.timestamp == AT and c.timestamp == AT + timedelta(seconds=1) and a.created_at == AT
    assert c.conversation == {"id": "c1"} and a.error_details is None
    async with sessions() as session:
        # None in a JSON column is JSON's null, as an executemany of the same rows stores it, not SQL's NULL.
        nulls = await session.scalar(sa.select(sa.func.count()).where(StatusRecord.pricing.is_(None)))
    assert nulls == 0


async def test_the_rows_actually_inserted_come_back_and_no_others(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with db.transaction(sessions) as session:
        await upsert.insert_ignore_rows(session, TABLE, [status(account, "wamid.OLD"), status(account, "wamid.X")])
    rows = [status(account, w) for w in ("wamid.N1", "wamid.OLD", "wamid.N2", "wamid.N1", "wamid.N3")]
    async with db.transaction(sessions) as session:
        new = await upsert.insert_ignore_many(session, TABLE, rows, ("id", "wamid"))
    assert sorted(r.wamid for r in new) == ["wamid.N1", "wamid.N2", "wamid.N3"]
    by_wamid = {r.wamid: r.id for r in new}
    assert by_wamid["wamid.N1"] < by_wamid["wamid.N2"] < by_wamid["wamid.N3"]  # ids in the rows' order


async def test_the_rows_go_in_one_statement_not_one_per_row(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    engine = db.engine_of(sessions)
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "message_statuses" in statement:
            seen.append((statement, executemany))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.transaction(sessions) as session:
            await upsert.insert_ignore_rows(session, TABLE, [status(account, f"wamid.{i}") for i in range(50)])
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len(await stored(sessions)) == 50
    if engine.dialect.name == "postgresql":
        assert len(seen) == 1 and not seen[0][1] and "jsonb_to_recordset" in seen[0][0], seen
    else:
        assert [many for _, many in seen] == [True], seen  # SQLite: the driver's executemany, a loop in C
    seen.clear()
    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.transaction(sessions) as session:
            rows = [status(account, f"wamid.R{i}") for i in range(50)]
            assert len(await upsert.insert_ignore_many(session, TABLE, rows)) == 50
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)
    reader = "jsonb_to_recordset" if engine.dialect.name == "postgresql" else "json_each"
    assert len(seen) == 1 and not seen[0][1] and reader in seen[0][0], seen


async def stored_text(sessions: async_sessionmaker[AsyncSession], wamid: str) -> tuple[Any, ...]:
    """What the database holds for a row, as text: the form a time or a JSON value took, not its value read back."""
    columns = [sa.cast(TABLE.c[name], sa.Text) for name in ("timestamp", "created_at", "raw", "pricing", "recipient")]
    async with sessions() as session:
        return tuple((await session.execute(sa.select(*columns).where(TABLE.c.wamid == wamid))).one())


async def test_a_row_of_the_document_is_stored_as_the_same_row_bound_alone(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    # One row is bound as parameters (no document for one); two go through the document. Their stored text must
    # be the same: SQLite compares and orders times as text.
    odd = {"text": 'quote " backslash \\ é 😀 \u2028', "n": [1, 2.5, None, True, 10**20]}
    extra = {"raw": odd, "timestamp": AT.replace(microsecond=0), "pricing": None, "recipient": "é 😀"}
    async with db.transaction(sessions) as session:
        await upsert.insert_ignore_rows(session, TABLE, [status(account, "wamid.ALONE", **extra)])
        await upsert.insert_ignore_rows(
            session, TABLE, [status(account, "wamid.D1", **extra), status(account, "wamid.D2", **extra)]
        )
        await upsert.insert_ignore_many(
            session, TABLE, [status(account, "wamid.D3", **extra), status(account, "wamid.D4", **extra)]
        )
    alone = await stored_text(sessions, "wamid.ALONE")
    for wamid in ("wamid.D1", "wamid.D2", "wamid.D3", "wamid.D4"):
        assert await stored_text(sessions, wamid) == alone, wamid
    found = {r.wamid: r for r in await stored(sessions)}
    assert found["wamid.D1"].raw == odd and found["wamid.D1"].timestamp == AT.replace(microsecond=0)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL stores neither
async def test_a_nul_character_and_a_lone_surrogate_are_kept_on_sqlite(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    # A parsed webhook can hold both (JSON's "\u0000" and "\ud800"): SQLite's ``->>`` would cut a text at the NUL.
    rows = [
        status(account, "wamid.N1", recipient="a\x00b"),
        status(account, "wamid.N2", raw={"t": "c\x00d"}),
    ]
    surrogate = {"t": "lone \ud800 é"}
    many = [status(account, "wamid.M1", recipient="e\x00f"), status(account, "wamid.M2")]
    async with db.transaction(sessions) as session:
        await upsert.insert_ignore_rows(session, TABLE, rows)
        assert len(await upsert.insert_ignore_many(session, TABLE, many)) == 2
        await upsert.insert_ignore_rows(session, TABLE, [status(account, "wamid.S0", raw=surrogate)])
        await upsert.insert_ignore_rows(
            session, TABLE, [status(account, "wamid.S1", raw=surrogate), status(account, "wamid.S2", raw=surrogate)]
        )
    found = {r.wamid: r for r in await stored(sessions)}
    assert found["wamid.N1"].recipient == "a\x00b" and found["wamid.N2"].raw == {"t": "c\x00d"}
    assert found["wamid.M1"].recipient == "e\x00f"
    assert found["wamid.S1"].raw == surrogate == found["wamid.S2"].raw
    assert await stored_text(sessions, "wamid.S1") == await stored_text(sessions, "wamid.S0")
