"""Request bodies before authentication (api/bodies.py): refused by size up front and while streaming (413),
by pace (408, connection closed), and beyond the memory budget all connections share (503 with Retry-After),
on the webhook intake and on the API alike. Raw sockets, so that a body can be declared and never sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.conftest import APP_SECRET
from tests.support import eventually, prometheus_samples, running
from wahub.api import bodies
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.store.models import Account
from wahub.webhook.signature import meta_signature

ANSWER_WITHIN = 10.0  # seconds a test waits for an answer before calling the server hung

# Short pace and a small budget, so that the tests neither wait nor send megabytes.
SHORT = bodies.Limits(budget=64 * 1024, floor=0.3, rate=64 * 1024, check_every=0.05)


@contextlib.asynccontextmanager
async def serve(ctx: AppContext, limits: bodies.Limits | None = None) -> AsyncIterator[tuple[str, bodies.Bodies]]:
    reader = bodies.Bodies(limits or bodies.Limits())
    async with running(create_app(ctx, body_reader=reader)) as url:
        yield url, reader


class Raw:
    """One HTTP/1.1 connection written by hand, on a bare socket: what the server sent stays readable after it
    reset the connection (an asyncio stream drops it once a write fails)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = b""

    @classmethod
    async def open(cls, url: str) -> Raw:
        host, port = url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        return cls(sock)

    async def head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
        await self.body(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def body(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    def answered(self) -> bool:
        """The server has sent something (an early answer: stop sending, as RFC 9112 §9.3 asks)."""
        return bool(select.select([self.sock], [], [], 0)[0])

    async def _more(self) -> bytes:
        data = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), ANSWER_WITHIN)
        if not data:
            raise AssertionError(f"the server closed the connection after {self.buffer[:200]!r}")
        return data

    async def answer(self) -> tuple[int, dict[str, str], dict[str, object]]:
        """The status, headers and JSON body of the answer (waiting at most ANSWER_WITHIN)."""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += await self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self.buffer += await self._more()
        payload, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, json.loads(payload) if payload else {}

    async def closed_by_server(self) -> bool:
        try:
            return await asyncio.wait_for(self.loop.sock_recv(self.sock, 1), ANSWER_WITHIN) == b""
        except ConnectionResetError:
            return True

    async def close(self) -> None:
        self.sock.close()


def signed_headers(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "X-Hub-Signature-256": meta_signature(APP_SECRET, body),
    }


async def webhook_requests(url: str, api_key: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {api_key}"}) as http:
        text = (await http.get("/metrics")).text
    return {
        labels: value
        for (name, labels), value in prometheus_samples(text).items()
        if name == "wahub_webhook_requests_total"
    }


@pytest.mark.parametrize(
    ("path", "content_type", "declared"),
    [
        ("/api/v1/messages", "application/json", 200 * 1024 * 1024),
        ("/api/v1/media", "multipart/form-data; boundary=x", 300 * 1024 * 1024),
    ],
)
async def test_api_body_declared_over_its_limit_is_413_before_a_byte_is_read(
    ctx: AppContext, account: Account, api_key: str, path: str, content_type: str, declared: int
) -> None:
    async with serve(ctx) as (url, _reader):
        conn = await Raw.open(url)
        try:
            headers = {"Authorization": f"Bearer {api_key}", "Content-Type": content_type}
            await conn.head("POST", path, {**headers, "Content-Length": str(declared)})
            status, response_headers, payload = await conn.answer()
            assert status == 413
            assert payload["error"]["code"] == "too_large"  # type: ignore[index]
            assert response_headers["connection"] == "close"
            assert await conn.closed_by_server()
        finally:
            await conn.close()


@pytest.mark.parametrize("authorization", [None, "Bearer wahub_00000000_wrong"])
async def test_an_upload_without_a_valid_key_is_401_before_its_file_is_read(
    ctx: AppContext, account: Account, authorization: str | None
) -> None:
    # 50 MB declared (under the upload limit), 1 KB sent: the answer must not wait for the rest. Read before
    # the key, the form would wait for the file until the pace rule answered 408.
    async with serve(ctx) as (url, _reader):
        conn = await Raw.open(url)
        try:
            headers = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(50 * 1024 * 1024)}
            if authorization is not None:
                headers["Authorization"] = authorization
            await conn.head("POST", "/api/v1/media", headers)
            part = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n'
            await conn.body(part + b"%PDF" + b"\0" * 1024)
            status, _headers, payload = await conn.answer()
            assert (status, payload["error"]["code"]) == (401, "unauthorized")  # type: ignore[index]
        finally:
            await conn.close()


async def test_chunked_json_body_is_413_once_its_bytes_pass_the_limit(
    ctx: AppContext, account: Account, api_key: str
) -> None:
    piece = b"a" * (64 * 1024)
    async with serve(ctx) as (url, _reader):
        conn = await Raw.open(url)
        try:
            headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
            await conn.head("POST", "/api/v1/messages", {**headers, "Transfer-Encoding": "chunked"})
            sent = 0
            with contextlib.suppress(OSError):  # the server closes the connection once it has answered
                while sent < 3 * 1024 * 1024 and not conn.answered():  # 3 MB, declared nowhere
                    await conn.body(b"%x\r\n%s\r\n" % (len(piece), piece))
                    sent += len(piece)
            status, _headers, payload = await conn.answer()
        finally:
            await conn.close()
    assert status == 413
    assert payload["error"]["code"] == "too_large"  # type: ignore[index]


@pytest.mark.parametrize("path", ["/webhooks/meta", "/api/v1/messages"])
async def test_a_body_slower_than_the_pace_is_408_and_its_connection_closed(
    ctx: AppContext, account: Account, api_key: str, path: str
) -> None:
    async with serve(ctx, SHORT) as (url, reader):
        conn = await Raw.open(url)
        try:
            headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
            await conn.head("POST", path, {**headers, "Content-Length": "1000"})
            await conn.body(b'{"to": "')  # and nothing more
            status, response_headers, payload = await conn.answer()
            assert status == 408
            assert payload["error"]["code"] == "too_slow"  # type: ignore[index]
            assert response_headers["connection"] == "close"
            assert await conn.closed_by_server()
        finally:
            await conn.close()
        await eventually(lambda: _async(reader.held == 0))
        if path == "/webhooks/meta":
            counted = await webhook_requests(url, api_key)
            assert counted['provider="meta",result="too_slow"'] == 1


@pytest.mark.parametrize("path", ["/webhooks/meta", "/api/v1/messages"])
async def test_bodies_beyond_the_shared_budget_are_refused_503_until_room_is_freed(
    ctx: AppContext, account: Account, api_key: str, path: str
) -> None:
    limits = bodies.Limits(budget=64 * 1024, floor=30.0)
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    async with serve(ctx, limits) as (url, reader):
        holder = await Raw.open(url)
        await holder.head("POST", path, {**headers, "Content-Length": str(60_000)})
        await holder.body(b" " * 50_000)  # and it waits, holding 50 KB of the 64 KB budget
        await eventually(lambda: _async(reader.held >= 50_000))

        body = json.dumps({"object": "whatsapp_business_account", "entry": [], "pad": " " * 20_000}).encode()
        second = await Raw.open(url)
        try:
            await second.head("POST", path, {**headers, **signed_headers(body)})
            await second.body(body)
            status, response_headers, payload = await second.answer()
        finally:
            await second.close()
        assert status == 503
        assert payload["error"]["code"] == "busy"  # type: ignore[index]
        assert int(response_headers["retry-after"]) >= 1

        await holder.close()  # the first body goes away, and its room with it
        await eventually(lambda: _async(reader.held == 0))
        third = await Raw.open(url)
        try:
            await third.head("POST", path, {**headers, **signed_headers(body)})
            await third.body(body)
            status, _headers, _payload = await third.answer()
        finally:
            await third.close()
        assert status != 503
        if path == "/webhooks/meta":
            assert status == 200
            counted = await webhook_requests(url, api_key)
            assert counted['provider="meta",result="busy"'] == 1
            assert counted['provider="meta",result="accepted"'] == 1


async def _async(value: bool) -> bool:
    return value
