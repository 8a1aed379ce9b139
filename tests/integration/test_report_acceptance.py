"""Issue 18's acceptance of reports, end to end on a moved clock: two reports defined as a user would (one in
``wahub.toml``, scheduled with ``wahub report schedule``; one through ``POST /api/v1/reports``, scheduled through
``POST /api/v1/reports/{name}/schedules``) fire at their time, build .xlsx files that openpyxl reads back with
the expected numbers and a chart, store them in Google Drive (``tests/gdrive_fake.py`` at the wire, under the
dated name), and arrive at fakegraph as a document (uploaded from Drive, sent by media id with its file name and
caption), with the PNG chart the report asks for as an image, to a contact and to a group, and at faketwilio as
media to a contact (faketwilio fetching the stored file's signed link, which streams it from Drive): the same
bytes everywhere."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import httpx
import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests import gdrive_fake
from tests.integration.conftest import ACCESS_TOKEN, PHONE_NUMBER_ID, TWILIO_SENDER, OpenWindow
from tests.integration.test_storage_contract import gdrive_url
from tests.support import eventually, running
from wahub import config
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.api.routes import media as media_routes
from wahub.automations.reports import ReportRunner
from wahub.automations.schedules import ScheduleFirer
from wahub.domain import ContactRef
from wahub.provider import base, meta, twilio
from wahub.provider.graph import GraphClient
from wahub.storage.base import content_key
from wahub.store import contacts, conversations, db, reports
from wahub.store.crypto import Vault
from wahub.store.models import Account, utcnow
from wahub.worker import ratelimit
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender

GROUP = "120363025246125486"
ADA, EVA = "14155550101", "14155550111"  # a contact on Meta's number, a contact on Twilio's
ZONE = "Europe/Madrid"
SALES = [("north", 120.5, 3), ("south", 80.0, 2), ("east", 42.25, 1)]
TOML = """\
[report_databases]
shop = "{url}"

[reports.sales]
source = "sql"
database = "shop"
query = "SELECT region, amount, orders FROM sales ORDER BY amount DESC"
file_name = "sales-{{date:%Y-%m-%d}}.xlsx"
tz = "{zone}"
to = ["+{ada}"]
groups = ["{group}"]
caption = "Sales this week"
image = true  # and a PNG chart
sender = "{sender}"  # two accounts: Meta's number
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def drive() -> AsyncIterator[tuple[gdrive_fake.Drive, str]]:
    """The fake of Google Drive on a loopback port: its state, and the ``gdrive://`` URL that points at it."""
    app = gdrive_fake.create_app()
    async with running(app) as url:
        yield app.state.drive, gdrive_url(url)


@pytest.fixture
def home(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder wahub runs in, with its ``wahub.toml`` (read from the working directory)."""
    (tmp_path / "wahub.toml").write_text(
        TOML.format(url=database_url, zone=ZONE, ada=ADA, group=GROUP, sender=PHONE_NUMBER_ID)
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def ctx(
    database_url: str,
    engine: AsyncEngine,
    events_engine: AsyncEngine,
    vault: Vault,
    home: Path,
    drive: tuple[gdrive_fake.Drive, str],
) -> AppContext:
    settings = config.load(data_dir=home / "data", database_url=database_url, storage_url=drive[1])
    assert "sales" in settings.reports  # read from wahub.toml
    return AppContext.build(settings, engine, events_engine, vault)


@pytest.fixture
async def base_url(ctx: AppContext, account: Account, twilio_account: Account) -> AsyncIterator[str]:
    async with running(create_app(ctx)) as url:
        yield url


@pytest.fixture
async def senders(
    ctx: AppContext, base_url: str, graph_url: str, twilio_url: str, pair_pacer: ratelimit.PairPacer
) -> AsyncIterator[None]:
    """The worker's sender through both providers, as ``wahub serve`` wires it, reading files from Drive."""
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:

        def link(media_id: int) -> str:
            return base_url + media_routes.content_path(ctx.vault, media_id, 600)

        providers = base.by_provider(
            {
                "meta": meta.providers(GraphClient(http, graph_url, "v25.0")),
                "twilio": twilio.providers(twilio.TwilioClient(http, twilio_url, timeout=10), base_url, link),
            }
        )
        sender = Sender(
            ctx.sessions, providers, ctx.vault, send_rate=80, pairs=pair_pacer, storage=ctx.storage, tally=ctx.tally
        )
        task = asyncio.create_task(Worker(ctx.notifier, sender=sender).run(stop))
        yield
        stop.set()
        await task


async def _sales_table(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with db.transaction(sessions) as session:
        await session.execute(sa.text("CREATE TABLE sales (region TEXT, amount NUMERIC(10,2), orders INTEGER)"))
        for region, amount, orders in SALES:
            await session.execute(
                sa.text("INSERT INTO sales VALUES (:r, :a, :o)"), {"r": region, "a": amount, "o": orders}
            )


async def _twilio_contact_wrote(sessions: async_sessionmaker[AsyncSession], twilio_account: Account) -> None:
    async with db.transaction(sessions) as session:
        contact = await contacts.upsert_contact(session, twilio_account.id, ContactRef(wa_id=EVA))
        conversation = await conversations.get_or_create(session, twilio_account.id, contact.id)
        await conversations.record_inbound(session, conversation, utcnow())


async def _wahub(home: Path, database_url: str, *args: str) -> str:
    """``wahub ARGS`` run as a user runs it, in the folder of ``wahub.toml``; its standard output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # the wahub these tests import, not another
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wahub", *args, "--data-dir", str(home / "data"), "--database-url", database_url,
        cwd=home, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


def _book(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


async def test_scheduled_reports_fire_on_time_store_in_google_drive_and_reach_meta_and_twilio_chats(
    ctx: AppContext,
    home: Path,
    database_url: str,
    client: httpx.AsyncClient,
    drive: tuple[gdrive_fake.Drive, str],
    open_window: OpenWindow,
    twilio_account: Account,
    senders: None,
    graph_url: str,
    twilio_url: str,
    tmp_path: Path,
) -> None:
    fake_drive = drive[0]
    await _sales_table(ctx.sessions)
    await open_window(ADA)
    await _twilio_contact_wrote(ctx.sessions, twilio_account)

    # wahub.toml's report, scheduled from the command line; another made and scheduled through the API
    cli_id = int(await _wahub(home, database_url, "report", "schedule", "sales", "--cron", "0 9 * * *", "--tz", ZONE))
    orders = tmp_path / "orders.csv"
    orders.write_text("item,qty,price\napples,3,1.5\npears,5,2\nfigs,7,0.25\n")
    definition = {"source": "csv", "path": str(orders), "file_name": "orders-{date:%Y-%m-%d}.xlsx", "tz": ZONE}
    definition |= {"to": [f"+{EVA}"], "sender": TWILIO_SENDER, "caption": "Orders"}
    assert (await client.post("/api/v1/reports", json={"name": "orders", **definition})).status_code == 201
    made = await client.post("/api/v1/reports/orders/schedules", json={"cron": "0 9 * * *", "tz": ZONE})
    assert made.status_code == 201, made.text
    listed = {s["id"]: s for s in (await client.get("/api/v1/schedules")).json()}
    assert listed[cli_id]["message"] == {"report": "sales"} and set(listed) == {cli_id, made.json()["id"]}

    due = datetime.fromisoformat(made.json()["next_run_at"]).replace(tzinfo=UTC)
    assert due.astimezone(ZoneInfo(ZONE)).hour == 9 and due > utcnow() - timedelta(minutes=1)
    assert datetime.fromisoformat(listed[cli_id]["next_run_at"]).replace(tzinfo=UTC) == due
    clock = Clock(due - timedelta(seconds=1))
    firer = ScheduleFirer(ctx.sessions, clock=clock)
    runner = ReportRunner(ctx.sessions, ctx.storage, ctx.settings, clock=clock)
    assert await firer.run_once() == 0 and await runner.run_once() == 0  # a second early: nothing
    clock.now = due + timedelta(seconds=1)
    assert await firer.run_once() == 2
    assert await runner.run_once() == 1 and await runner.run_once() == 1 and await runner.run_once() == 0

    day = due.astimezone(ZoneInfo(ZONE)).date().isoformat()
    async with ctx.sessions() as session:
        (sales_run,) = await reports.runs(session, "sales")
        (orders_run,) = await reports.runs(session, "orders")
    stored: dict[str, bytes] = {}
    for run, file_name in ((sales_run, f"sales-{day}.xlsx"), (orders_run, f"orders-{day}.xlsx")):
        assert run.trigger == "schedule" and run.state == "done" and run.error is None, run.error
        assert run.storage_key == f"reports/{run.report}/{file_name}"
        in_drive = fake_drive.path(f"wahub/media/{run.storage_key}")  # the file, in the folders of its key
        assert in_drive is not None and in_drive.name == file_name and len(in_drive.content) == run.size
        stored[run.report] = in_drive.content
        # and under its content's hash, where its messages read it (as an uploaded file's)
        sent = fake_drive.path(f"wahub/media/{content_key(hashlib.sha256(in_drive.content).hexdigest())}")
        assert sent is not None and sent.content == in_drive.content

    sales = _book(stored["sales"])
    assert [[c.value for c in row] for row in sales["Data"].iter_rows()] == [
        ["region", "amount", "orders"],
        *[[r, pytest.approx(a), o] for r, a, o in SALES],
    ]
    totals = {row[0].value: row[1].value for row in sales["Summary"].iter_rows(min_row=7) if row[0].value}
    assert totals["amount"] == pytest.approx(242.75) and totals["orders"] == 6
    assert len(sales["Summary"]._charts) == 1
    orders_book = _book(stored["orders"])
    assert [c.value for c in orders_book["Data"]["B"]] == ["qty", 3, 5, 7]
    assert len(orders_book["Summary"]._charts) == 1

    # Meta: the document and the chart, uploaded from Drive, sent by media id to the contact and to the group
    bearer = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    async with httpx.AsyncClient(base_url=graph_url) as graph:

        async def all_four() -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = (await graph.get("/_fake/messages")).json()["data"]
            return rows if len(rows) == 4 else []

        arrived = await eventually(all_four, timeout=30)
        sent = [m for m in arrived if m["type"] == "document"]
        images = [m for m in arrived if m["type"] == "image"]
        assert sorted(m["recipient_type"] for m in images) == ["group", "individual"]
        png = fake_drive.path(f"wahub/media/reports/sales/sales-{day}.png")  # the chart, beside the workbook
        assert png is not None and png.content.startswith(b"\x89PNG")
        for image in images:
            got = await graph.get(f"/v25.0/{image['payload']['image']['id']}", headers=bearer)
            assert got.json()["sha256"] == hashlib.sha256(png.content).hexdigest()
        by_type = {m["recipient_type"]: m for m in sent}
        assert by_type["individual"]["wa_id"] == ADA and by_type["group"]["to"] == GROUP
        for message in sent:
            document = message["payload"]["document"]
            assert document["filename"] == f"sales-{day}.xlsx" and document["caption"] == "Sales this week"
            uploaded = await graph.get(f"/v25.0/{document['id']}", headers=bearer)
            assert uploaded.status_code == 200, uploaded.text
            assert uploaded.json()["sha256"] == hashlib.sha256(stored["sales"]).hexdigest()
            assert int(uploaded.json()["file_size"]) == len(stored["sales"])

    # Twilio: the caption as a text, then the file by its signed link, which faketwilio fetched from wahub
    async with httpx.AsyncClient(base_url=twilio_url) as fake_twilio:

        async def fetched() -> list[dict[str, Any]]:
            rows = (await fake_twilio.get("/_fake/messages")).json()["data"]
            return [m for m in rows if m.get("media_fetches")]

        (message,) = await eventually(fetched, timeout=30)
        bodies = [m["params"].get("Body") for m in (await fake_twilio.get("/_fake/messages")).json()["data"]]
    assert message["params"]["To"] == f"whatsapp:+{EVA}" and "Orders" in bodies
    (fetch,) = message["media_fetches"]
    assert "/api/v1/media/" in fetch["url"] and fetch["http_status"] == 200
    assert fetch["sha256"] == hashlib.sha256(stored["orders"]).hexdigest() and fetch["size"] == len(stored["orders"])
    assert len(orders_run.message_ids or []) == 2 and len(sales_run.message_ids or []) == 4
