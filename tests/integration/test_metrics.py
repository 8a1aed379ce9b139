"""``/metrics``: the counters and histograms of SPEC §6 (webhook requests and events by result, what the events
held, ingest lag, sends by type, result and Meta's error code, send latency, storage errors), kept in the
database so that every process's work shows and survives restarts."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from tests.integration.test_webhooks import signed
from tests.support import eventually, free_port, payload, prometheus_samples
from wahub.api.context import AppContext
from wahub.storage import opendal_store
from wahub.store import counters, db
from wahub.store.models import Message

TO = "14155550101"


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return prometheus_samples(response.text)


async def test_counts_add_up_across_flushes_and_processes(sessions: async_sessionmaker[AsyncSession]) -> None:
    first, second = counters.Tally(), counters.Tally()  # two processes' tallies
    first.count("wahub_sends_total", {"type": "text", "result": "accepted", "code": ""}, 3)
    second.count("wahub_sends_total", {"result": "accepted", "code": "", "type": "text"})  # same set, other order
    second.count("wahub_sends_total", {"type": "image", "result": "failed", "code": "131053"})
    await counters.Flusher(sessions, first).flush()
    await counters.Flusher(sessions, second).flush()
    first.count("wahub_sends_total", {"type": "text", "result": "accepted", "code": ""}, 2)
    await counters.Flusher(sessions, first).flush()
    assert not first and not second  # what was written is not written again
    async with db.transaction(sessions) as session:
        stored = await counters.stored(session)
    assert stored == {
        ("wahub_sends_total", 'code="",result="accepted",type="text"'): 6.0,
        ("wahub_sends_total", 'code="131053",result="failed",type="image"'): 1.0,
    }


async def test_a_failed_flush_keeps_the_counts_for_the_next(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'not-migrated.db'}")  # no metric_counts table
    tally = counters.Tally()
    tally.count("wahub_media_downloads_total", {"result": "stored"})
    try:
        with pytest.raises(sa.exc.OperationalError):
            await counters.Flusher(db.sessionmaker(engine), tally).flush()
    finally:
        await engine.dispose()
    assert tally.take() == {("wahub_media_downloads_total", 'result="stored"'): 1.0}


@pytest.mark.usefixtures("worker")
async def test_metrics_count_webhooks_sends_and_their_latency_as_they_happen(
    client: httpx.AsyncClient,
    anon: httpx.AsyncClient,
    graph_url: str,
    open_window: OpenWindow,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # One forged webhook and one real inbound message.
    body = json.dumps(payload("message", "text")).encode()
    assert (await anon.post("/webhooks/meta", content=body, headers=signed(body, "forged"))).status_code == 401
    assert (await anon.post("/webhooks/meta", content=body, headers=signed(body))).status_code == 200
    # Three texts; Meta refuses the first it receives for good (131026: the recipient cannot receive it).
    await open_window(TO)
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        assert (await fake.post("/_fake/faults", json={"fail_next": 1, "error_code": 131026})).status_code == 200
    for n in range(3):
        sent = await client.post("/api/v1/messages", json={"to": f"+{TO}", "type": "text", "text": {"body": f"{n}"}})
        assert sent.status_code == 202

    async def settled() -> dict[tuple[str, str], float] | None:
        async with db.transaction(sessions) as session:
            rows = (
                await session.execute(
                    sa.select(Message.status, Message.delivered_at).where(Message.direction == "outbound")
                )
            ).all()
        found = await scrape(client)
        # fakegraph reports sent, delivered and read for each accepted message, in as many webhooks as it
        # batches them into (a webhook it had to retry comes twice); every acked one must be processed.
        final = sorted(status for status, _ in rows) == ["failed", "read", "read"]
        delivered = sum(at is not None for _, at in rows) == 2
        accepted = found.get(("wahub_webhook_requests_total", 'provider="meta",result="accepted"'), 0)
        processed = found.get(("wahub_webhook_events_total", 'result="processed"'), 0)
        idle = found.get(("wahub_webhook_events_waiting", "")) == 0
        return found if final and delivered and idle and processed == accepted >= 2 else None

    found = await eventually(settled, timeout=30)
    acked = found["wahub_webhook_requests_total", 'provider="meta",result="accepted"']
    assert found["wahub_webhook_requests_total", 'provider="meta",result="bad_signature"'] == 1
    assert found["wahub_webhook_items_total", 'item="message",result="stored"'] == 1
    assert found["wahub_webhook_items_total", 'item="status",result="stored"'] >= 6  # sent, delivered, read x 2
    assert found["wahub_webhook_ingest_lag_seconds_count", ""] == acked  # every acked event, once
    assert found["wahub_webhook_ingest_lag_seconds_bucket", 'le="+Inf"'] == acked
    assert found["wahub_webhook_oldest_waiting_seconds", ""] == 0

    assert found["wahub_sends_total", 'code="",result="accepted",type="text"'] == 2
    assert found["wahub_sends_total", 'code="131026",result="failed",type="text"'] == 1
    # Every answer from Meta, refusals included, is timed; buckets are cumulative and end with +Inf.
    assert found["wahub_send_latency_seconds_count", 'type="text"'] == 3
    buckets = [
        (float(labels.split('le="')[1].split('"')[0]), value)
        for (name, labels), value in found.items()
        if name == "wahub_send_latency_seconds_bucket"
    ]
    assert [v for _, v in sorted(buckets)] == sorted(v for _, v in buckets)
    assert max(buckets) == (float("inf"), 3)
    assert 0 < found["wahub_send_latency_seconds_sum", 'type="text"'] < 30


async def test_a_storage_outage_answers_503_and_is_counted(
    client: httpx.AsyncClient, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    ctx.storage = opendal_store.from_url(f"s3://media/x?endpoint=http://127.0.0.1:{free_port()}&region=us-east-1")
    files = {"file": ("report.pdf", b"%PDF-1.4 not much of a report", "application/pdf")}
    response = await client.post("/api/v1/media", files=files)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert response.headers["retry-after"] == "5"
    found = await scrape(client)
    assert found["wahub_storage_errors_total", 'error="StorageError",operation="api"'] == 1
