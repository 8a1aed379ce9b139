"""Reports (``automations/reports.py``): rows from wahub's statistics, a read-only SQL query and a CSV file, an
.xlsx read back with openpyxl (typed cells, summary, chart), stored under its dated name, sent as a document
to a contact and a group through fakegraph and to a contact through faketwilio; a report schedule fired once
at its time on the moved clock; a failing source retried, then recorded as failed."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import TWILIO_SENDER, OpenWindow
from tests.support import eventually
from wahub import config, errors
from wahub.api.context import AppContext
from wahub.automations import reports as running
from wahub.automations.schedules import ScheduleFirer, report_message
from wahub.domain import ContactRef
from wahub.store import contacts, conversations, db, reports, schedules
from wahub.store.models import Account, Media, Message, ReportRun, ScheduleFiring, utcnow

GROUP = "120363025246125486"
SALES = [("north", 120.5, 3, "2026-11-01"), ("south", 80.0, 2, "2026-11-02"), ("east", 42.25, 1, "2026-11-03")]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def sales_db(sessions: async_sessionmaker[AsyncSession], database_url: str) -> str:
    """A ``sales`` table in the test's own database (SQLite or PostgreSQL), which the SQL reports read."""
    async with db.transaction(sessions) as session:
        await session.execute(
            sa.text("CREATE TABLE sales (region TEXT, amount NUMERIC(10,2), orders INTEGER, day DATE)")
        )
        for region, amount, orders, day in SALES:
            await session.execute(
                sa.text("INSERT INTO sales VALUES (:r, :a, :o, :d)"),
                {"r": region, "a": amount, "o": orders, "d": date.fromisoformat(day)},
            )
    return database_url


def _settings(ctx: AppContext, databases: dict[str, str] | None = None, **report: Any) -> config.Settings:
    defined = {"file_name": "sales-{date:%Y-%m-%d}.xlsx", "to": ["+14155550101"], **report}
    update = {"reports": {"sales": defined}, "report_databases": databases or {}}
    return ctx.settings.model_copy(update=update)


async def _run(sessions: async_sessionmaker[AsyncSession], run_id: int) -> ReportRun:
    async with sessions() as session:
        return await reports.get_run(session, run_id)


async def _book(ctx: AppContext, key: str) -> openpyxl.Workbook:
    data = b"".join([chunk async for chunk in ctx.storage.read(key)])
    return openpyxl.load_workbook(io.BytesIO(data))


async def test_a_sql_report_is_built_stored_and_sent_as_a_document_to_a_contact_and_a_group(
    ctx: AppContext, sales_db: str, open_window: OpenWindow, worker: None, graph_url: str
) -> None:
    await open_window("14155550101")
    query = "SELECT region, amount, orders, day FROM sales ORDER BY amount DESC"
    settings = _settings(ctx, {"shop": sales_db}, source="sql", database="shop", query=query, groups=[GROUP])
    settings.reports["sales"]["caption"] = "Sales this week"
    run_id, outcome = await running.run_now(ctx.sessions, ctx.storage, settings, "sales")

    today = utcnow().strftime("%Y-%m-%d")
    assert outcome.storage_key == f"reports/sales/sales-{today}.xlsx"
    assert await ctx.storage.size(outcome.storage_key) == outcome.size > 0
    book = await _book(ctx, outcome.storage_key)
    data, summary = book["Data"], book["Summary"]
    assert [c.value for c in data[1]] == ["region", "amount", "orders", "day"]
    assert [c.value for c in data[2]][:3] == ["north", 120.5, 3]
    assert isinstance(data["B2"].value, float) and isinstance(data["C2"].value, int)
    assert data["D2"].is_date and data["D2"].value.date() == date(2026, 11, 1)
    assert data.freeze_panes == "A2" and data.auto_filter.ref == "A1:D4"
    assert summary["B4"].value == 3  # rows
    totals = {row[0].value: (row[1].value, row[2].value) for row in summary.iter_rows(min_row=7) if row[0].value}
    assert totals["amount"] == pytest.approx((242.75, 242.75 / 3)) and totals["orders"] == pytest.approx((6, 2))
    assert len(summary._charts) == 1

    run = await _run(ctx.sessions, run_id)
    assert run.state == "done" and run.storage_key == outcome.storage_key and run.size == outcome.size
    assert run.message_ids == outcome.message_ids and len(outcome.message_ids) == 2 and run.error is None

    async with httpx.AsyncClient(base_url=graph_url) as control:

        async def documents() -> list[dict[str, Any]]:
            rows = (await control.get("/_fake/messages")).json()["data"]
            return [m for m in rows if m["type"] == "document"] if len(rows) == 2 else []

        sent = await eventually(documents, timeout=20)
    by_type = {m["recipient_type"]: m for m in sent}
    assert by_type["individual"]["wa_id"] == "14155550101" and by_type["group"]["to"] == GROUP
    for message in sent:
        document = message["payload"]["document"]
        assert document["filename"] == f"sales-{today}.xlsx" and document["caption"] == "Sales this week"
        assert document["id"]  # uploaded to Meta first, sent by media id


async def test_a_query_that_writes_is_refused_with_a_clear_error_and_the_run_is_failed(
    ctx: AppContext, sales_db: str
) -> None:
    query = "INSERT INTO sales VALUES ('west', 1, 1, '2026-11-04')"
    settings = _settings(ctx, {"shop": sales_db}, source="sql", database="shop", query=query)
    with pytest.raises(errors.InvalidInput, match="read-only") as refused:
        await running.run_now(ctx.sessions, ctx.storage, settings, "sales")
    assert "tries to write" in refused.value.message
    async with ctx.sessions() as session:
        assert await session.scalar(sa.text("SELECT count(*) FROM sales")) == 3
        (run,) = await reports.runs(session, "sales")
    assert run.state == "failed" and "read-only" in (run.error or "")


async def test_a_stats_report_counts_wahubs_own_messages(
    ctx: AppContext, open_window: OpenWindow, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await open_window("14155550101")  # one conversation; a message of today's counts below
    settings = _settings(ctx, source="stats", days=3)
    _run_id, outcome = await running.run_now(ctx.sessions, ctx.storage, settings, "sales")
    data = (await _book(ctx, outcome.storage_key))["Data"]
    assert [c.value for c in data[1]] == ["day", "received", "sent", "delivered", "read"]
    days = [row[0].value.date() for row in data.iter_rows(min_row=2)]
    assert len(days) == 3 and days[-1] == utcnow().date()
    # the report's own document is queued after its rows were read: today shows none sent yet
    async with sessions() as session:
        queued = await session.scalar(sa.select(sa.func.count()).select_from(Message))
    assert queued == 1 and data.cell(row=4, column=3).value == 0


async def test_a_csv_report_has_typed_columns_and_a_png_chart_when_asked(
    ctx: AppContext, tmp_path: Path, open_window: OpenWindow
) -> None:
    await open_window("14155550101")
    path = tmp_path / "orders.csv"
    path.write_text("when,item,qty,price\n2026-11-01,apples,3,1.5\n2026-11-02,pears,,2\n2026-11-03,figs,7,0.25\n")
    settings = _settings(ctx, source="csv", path=str(path), image=True, to=["+14155550101"])
    run_id, outcome = await running.run_now(ctx.sessions, ctx.storage, settings, "sales")
    data = (await _book(ctx, outcome.storage_key))["Data"]
    assert data["A2"].is_date and data["C2"].value == 3 and data["C3"].value is None and data["D3"].value == 2.0
    png_key = outcome.storage_key.removesuffix(".xlsx") + ".png"
    head = b"".join([c async for c in ctx.storage.read(png_key)])[:8]
    assert head == b"\x89PNG\r\n\x1a\n"
    async with ctx.sessions() as session:
        types = sorted((await session.scalars(sa.select(Message.type))).all())
    assert types == ["document", "image"] and len((await _run(ctx.sessions, run_id)).message_ids or []) == 2


async def test_a_later_run_of_the_same_dated_name_leaves_what_an_earlier_run_sent(
    ctx: AppContext, tmp_path: Path, open_window: OpenWindow
) -> None:
    await open_window("14155550101")
    path = tmp_path / "orders.csv"
    path.write_text("item,qty\napples,3\n")
    settings = _settings(ctx, source="csv", path=str(path))
    _run_id, first = await running.run_now(ctx.sessions, ctx.storage, settings, "sales")
    path.write_text("item,qty\napples,3\npears,5\n")  # the same day, other rows
    _run_id, second = await running.run_now(ctx.sessions, ctx.storage, settings, "sales")
    assert second.storage_key == first.storage_key  # the dated name holds the latest file
    assert (await _book(ctx, first.storage_key))["Data"].max_row == 3

    async def sent_rows(message_id: int) -> int:
        async with ctx.sessions() as session:
            message = await session.get(Message, message_id)
            assert message is not None and message.media_id is not None
            item = await session.get(Media, message.media_id)
        assert item is not None and item.storage_key is not None
        data = b"".join([chunk async for chunk in ctx.storage.read(item.storage_key)])
        assert hashlib.sha256(data).hexdigest() == item.sha256 and len(data) == item.size
        return int(openpyxl.load_workbook(io.BytesIO(data))["Data"].max_row)

    assert await sent_rows(first.message_ids[0]) == 2  # what the first run's message sends is its own file
    assert await sent_rows(second.message_ids[0]) == 3


async def test_a_csv_url_on_a_loopback_address_is_refused(ctx: AppContext) -> None:
    settings = _settings(ctx, source="csv", path="http://127.0.0.1:9/orders.csv")
    with pytest.raises(errors.InvalidInput, match="private, loopback"):
        await running.run_now(ctx.sessions, ctx.storage, settings, "sales")


async def test_a_report_to_a_twilio_contact_arrives_at_faketwilio_as_media(
    ctx: AppContext, twilio_account: Account, twilio_worker: None, twilio_url: str, tmp_path: Path
) -> None:
    async with db.transaction(ctx.sessions) as session:
        contact = await contacts.upsert_contact(session, twilio_account.id, ContactRef(wa_id="14155550111"))
        conversation = await conversations.get_or_create(session, twilio_account.id, contact.id)
        await conversations.record_inbound(session, conversation, utcnow())
    path = tmp_path / "orders.csv"
    path.write_text("item,qty\napples,3\npears,5\n")
    settings = _settings(ctx, source="csv", path=str(path), to=["+14155550111"], sender=TWILIO_SENDER, caption="Hi")
    _run_id, outcome = await running.run_now(ctx.sessions, ctx.storage, settings, "sales")
    async with httpx.AsyncClient(base_url=twilio_url) as control:

        async def fetched() -> list[dict[str, Any]]:
            rows = (await control.get("/_fake/messages")).json()["data"]
            return [m for m in rows if m.get("media_fetches")]

        (message,) = await eventually(fetched, timeout=20)
        bodies = [m["params"].get("Body") for m in (await control.get("/_fake/messages")).json()["data"]]
    fetch = message["media_fetches"][0]
    assert "/api/v1/media/" in str(message["params"]["MediaUrl"][0]) and "Hi" in bodies  # the caption, as text
    assert fetch["http_status"] == 200 and fetch["size"] == outcome.size and len(outcome.message_ids) == 2


async def test_a_report_schedule_fires_at_its_time_once_and_its_run_sends(
    ctx: AppContext, sales_db: str, open_window: OpenWindow
) -> None:
    await open_window("14155550101")
    settings = _settings(ctx, {"shop": sales_db}, source="sql", database="shop", query="SELECT * FROM sales")
    start = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    async with db.transaction(ctx.sessions) as session:
        schedule = await schedules.create(
            session, cron_expression="0 9 * * *", tz="Europe/Madrid", message=report_message("sales"), now=start
        )
    assert schedule.next_run_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    clock = Clock(datetime(2026, 12, 1, 7, 59, 59, tzinfo=UTC))
    firer = ScheduleFirer(ctx.sessions, clock=clock)
    runner = running.ReportRunner(ctx.sessions, ctx.storage, settings, clock=clock)
    assert await firer.run_once() == 0 and await runner.run_once() == 0  # a second early: nothing
    clock.now = datetime(2026, 12, 1, 8, 0, 1, tzinfo=UTC)
    assert await firer.run_once() == 1
    assert await firer.run_once() == 0  # the same time again: no second firing
    assert await runner.run_once() == 1
    assert await runner.run_once() == 0
    async with ctx.sessions() as session:
        (firing,) = (await session.scalars(sa.select(ScheduleFiring))).all()
        (run,) = await reports.runs(session, "sales")
    assert firing.due_at == schedule.next_run_at and firing.error is None
    assert run.trigger == "schedule" and run.state == "done" and len(run.message_ids or []) == 1
    assert run.storage_key == "reports/sales/sales-2026-12-01.xlsx"  # the date in the report's zone


async def test_a_failing_source_is_retried_then_recorded_failed(ctx: AppContext) -> None:
    settings = _settings(ctx, {"down": "postgresql://wahub@127.0.0.1:9/none"}, source="sql", database="down")
    settings.reports["sales"]["query"] = "SELECT 1"
    clock = Clock(datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    async with db.transaction(ctx.sessions) as session:
        run_id = (await reports.queue_run(session, "sales", "api", clock.now)).id
    runner = running.ReportRunner(ctx.sessions, ctx.storage, settings, clock=clock)
    for attempt in range(1, 6):
        assert await runner.run_once() == 1
        run = await _run(ctx.sessions, run_id)
        assert run.attempts == attempt and "cannot connect" in (run.error or "")
        if attempt < 5:
            assert run.state == "queued" and run.run_at > clock.now
            assert await runner.run_once() == 0  # not before its retry time
            clock.now = run.run_at + timedelta(seconds=1)
    assert run.state == "failed" and run.finished_at is not None
    assert await runner.run_once() == 0


async def test_api_create_list_run_and_read_runs(client: httpx.AsyncClient, ctx: AppContext, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("item,qty\napples,3\n")
    body = {"name": "orders", "source": "csv", "path": str(path), "to": ["+14155550101"], "caption": "Orders"}
    created = await client.post("/api/v1/reports", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["definition"]["to"] == ["14155550101"]
    assert (await client.post("/api/v1/reports", json=body)).status_code == 409
    bad = await client.post("/api/v1/reports", json={**body, "name": "x", "source": "sql"})
    assert bad.status_code == 422 and "database" in bad.text
    assert [r["name"] for r in (await client.get("/api/v1/reports")).json()] == ["orders"]
    queued = await client.post("/api/v1/reports/orders/run")
    assert queued.status_code == 202 and queued.json()["state"] == "queued"
    runner = running.ReportRunner(ctx.sessions, ctx.storage, ctx.settings)
    assert await runner.run_once() == 1
    (run,) = (await client.get("/api/v1/reports/orders/runs")).json()
    assert run["trigger"] == "api" and run["state"] == "done" and run["storage_key"].startswith("reports/orders/")
    assert run["error"] and "window" in run["error"]  # the contact never wrote: the document was not queued
    assert (await client.post("/api/v1/reports/nope/run")).status_code == 404
    assert (await client.delete("/api/v1/reports/orders")).status_code == 204
    assert (await client.get("/api/v1/reports/orders")).status_code == 404
