"""Liveness and readiness."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from wahub import errors
from wahub.api import prometheus
from wahub.api.deps import Ctx
from wahub.store import counters, db, monitor, subscriber_webhooks, tokens
from wahub.store.models import Account

router = APIRouter(tags=["health"])
STORAGE_CHECK_SECONDS = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(ctx: Ctx) -> Response:
    """Prometheus metrics of every wahub process, read from the database. Gauges: media by state (count and
    bytes), outbox jobs, outbound messages by status, webhook events waiting and the oldest one's wait, accounts
    paused. Counters: webhook requests, events and items by result, sends by type, result and Meta's error
    code, media downloads and bytes, storage errors. Histograms: ingest lag, send latency."""
    # This process's own counts first, so what it just did shows; other processes add theirs every few seconds.
    await counters.Flusher(ctx.sessions, ctx.tally).flush()
    async with ctx.readers() as session, session.begin(), db.sessionmaker(ctx.events, readonly=True)() as events:
        gauges = await monitor.gauges(session, events)
        counted = await counters.stored(session)
    return Response(prometheus.exposition(gauges, counted), media_type=prometheus.CONTENT_TYPE)


@router.get("/readyz")
async def readyz(ctx: Ctx) -> JSONResponse:
    """The process can serve: its database answers. Still ready, it lists accounts whose sending is paused
    (``sending_paused``: why) and ``warnings``: access tokens that lapse within seven days, or have lapsed."""
    checks: dict[str, str] = {}
    try:
        async with ctx.readers() as session:
            await session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if ready:
        # The process still serves when an account cannot send; say so, and why.
        async with ctx.readers() as session:
            rows = await session.execute(
                sa.select(Account.phone_number_id, Account.sending_paused).where(Account.sending_paused.is_not(None))
            )
            paused = {str(number): str(reason) for number, reason in rows}
            now = ctx.clock()
            lapsing = await tokens.warnings(session, now)
        if paused:
            body["sending_paused"] = paused
        if lapsing:
            body["warnings"] = [
                {
                    "account": w.phone_number_id,
                    "code": "access_token_expired" if w.lapsed else "access_token_expiring",
                    "expires_at": subscriber_webhooks.timestamp(w.expires_at),
                    "message": w.message(now),
                }
                for w in lapsing
            ]
    # Storage is reported, not required: webhooks and sends go on during an outage, and media waits.
    try:
        await asyncio.wait_for(ctx.storage.check(), STORAGE_CHECK_SECONDS)
        body["storage"] = "ok"
    except TimeoutError:
        body["storage"] = f"unavailable: {ctx.storage.label} did not answer within {STORAGE_CHECK_SECONDS:g} s"
    except errors.StorageError as exc:
        body["storage"] = f"unavailable: {exc.message}"
    return JSONResponse(body, status_code=200 if ready else 503)
