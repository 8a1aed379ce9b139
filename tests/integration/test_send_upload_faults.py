"""Sending a file uploaded to wahub when the storage fails in the middle of handing it over: the S3 connection
(moto's server behind a TCP proxy that cuts it) breaks while the sender streams the file up to Meta. Nothing
was sent, so the message is retried soon, is not flagged a possible duplicate, and reaches Meta once the
storage answers again."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import BUCKET, OpenWindow
from tests.support import eventually
from wahub.api.context import AppContext
from wahub.storage import opendal_store
from wahub.store import db
from wahub.store.models import OutboxJob

TO = "14155550101"
CUT_AFTER = 64 * 1024  # bytes of S3's answers on one connection before the proxy cuts it


class CuttingProxy:
    """A TCP proxy to ``target``; while ``cutting``, a connection is closed after CUT_AFTER bytes came back."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.cutting = False
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, cut: bool) -> None:
            passed = 0
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await r.read(16 * 1024):
                    if cut and self.cutting and passed + len(data) > CUT_AFTER:
                        w.write(data[: CUT_AFTER - passed])
                        self.cuts += 1
                        break
                    passed += len(data)
                    w.write(data)
                    await w.drain()
            for writer in (client_w, server_w):
                writer.close()

        tasks = [
            asyncio.create_task(pipe(client_r, server_w, False)),
            asyncio.create_task(pipe(server_r, client_w, True)),
        ]
        self._tasks.update(tasks)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.difference_update(tasks)


@pytest.fixture
async def flaky_s3(ctx: AppContext, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[CuttingProxy]:
    """The app's storage is S3 (moto's server) reached through a proxy that can cut its connections."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    host, port = moto_url.removeprefix("http://").split(":")
    proxy = CuttingProxy(host, int(port))
    url = await proxy.start()
    ctx.storage = opendal_store.from_url(f"s3://{BUCKET}/flaky?endpoint={url}&region=us-east-1")
    yield proxy
    await proxy.stop()


async def test_a_storage_failure_mid_upload_is_retried_soon_and_not_flagged_a_duplicate(
    flaky_s3: CuttingProxy,
    client: httpx.AsyncClient,
    worker: None,
    graph_url: str,
    open_window: OpenWindow,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await open_window(TO)
    data = b"%PDF-1.4\n" + hashlib.sha512(b"seed").digest() * 8192  # 512 KiB: longer than the cut
    up = await client.post("/api/v1/media", files={"file": ("big.pdf", data, "application/pdf")})
    assert up.status_code == 201, up.text
    flaky_s3.cutting = True
    document = {"wahub_media_id": up.json()["id"], "filename": "big.pdf"}
    sent = await client.post("/api/v1/messages", json={"to": f"+{TO}", "type": "document", "document": document})
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["id"]

    async def retried() -> dict[str, Any] | None:
        async with db.transaction(sessions) as session:
            job = (await session.execute(sa.select(OutboxJob).where(OutboxJob.message_id == message_id))).scalar_one()
            if job.state == "pending" and job.last_error and "storage" in job.last_error:
                return {"attempts": job.attempts, "error": job.last_error, "locked_by": job.locked_by}
        return None

    # The cut is seen as the storage's failure at once: the job is back in the queue with that reason, long
    # before its 2-minute claim would run out.
    waiting = await eventually(retried, timeout=10)
    assert flaky_s3.cuts >= 1
    assert waiting["locked_by"] is None
    message = (await client.get(f"/api/v1/messages/{message_id}")).json()
    assert message["status"] == "queued" and message["possible_duplicate"] is False

    flaky_s3.cutting = False

    async def accepted() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/v1/messages/{message_id}")).json()
        return body if body["status"] in ("sent", "delivered", "read") else None

    done = await eventually(accepted, timeout=30)
    assert done["possible_duplicate"] is False
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        sends = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
    assert len(sends) == 1 and "id" in sends[0]["body"]["document"]
