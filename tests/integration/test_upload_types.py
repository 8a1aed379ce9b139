"""A file uploaded without a useful type (none, or the generic ``application/octet-stream`` that browsers, curl
and S3 give unknown files) gets the type its name says, as ``wahub send --file`` does; a type the client did
declare is kept, and checked against Meta's list."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.integration.conftest import OpenWindow
from tests.support import running
from wahub.api.context import AppContext

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET = b"PK\x03\x04" + bytes(range(256)) * 8


async def test_an_octet_stream_upload_takes_the_type_of_its_name(client: httpx.AsyncClient) -> None:
    up = await client.post("/api/v1/media", files={"file": ("report.xlsx", SHEET, "application/octet-stream")})
    assert up.status_code == 201, up.text
    assert up.json()["mime_type"] == XLSX
    no_type = await client.post(
        "/api/v1/media",
        content=b'--b\r\nContent-Disposition: form-data; name="file"; filename="q3.pdf"\r\n\r\n%PDF-1.4 x\r\n--b--\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert no_type.status_code == 201, no_type.text
    assert no_type.json()["mime_type"] == "application/pdf"


async def test_a_declared_type_or_a_name_meta_does_not_take_is_still_refused(client: httpx.AsyncClient) -> None:
    declared = await client.post("/api/v1/media", files={"file": ("report.xlsx", SHEET, "text/html")})
    assert declared.status_code == 422 and "'text/html'" in declared.text
    exe = await client.post("/api/v1/media", files={"file": ("tool.exe", b"MZ", "application/octet-stream")})
    assert exe.status_code == 422
    nameless = await client.post("/api/v1/media", files={"file": ("blob", SHEET, "application/octet-stream")})
    assert nameless.status_code == 422 and "application/octet-stream" in nameless.text


@pytest.fixture
async def bucket() -> AsyncIterator[str]:
    """A web server that serves every file as application/octet-stream, as S3 does files uploaded without one."""

    async def sheet(_request: Request) -> Response:
        return Response(SHEET, media_type="application/octet-stream")

    async with running(Starlette(routes=[Route("/exports/report.xlsx", sheet)])) as url:
        yield url


async def test_a_file_fetched_as_octet_stream_takes_the_type_of_its_name(
    client: httpx.AsyncClient, bucket: str, ctx: AppContext
) -> None:
    ctx.settings.allow_private_urls = True  # the test's server is on loopback
    fetched = await client.post("/api/v1/media/from-url", json={"url": f"{bucket}/exports/report.xlsx"})
    assert fetched.status_code == 201, fetched.text
    assert fetched.json()["mime_type"] == XLSX


async def test_a_message_sending_an_uploaded_file_names_it_as_its_media(
    client: httpx.AsyncClient, open_window: OpenWindow
) -> None:
    await open_window("14155550101")
    uploaded = (await client.post("/api/v1/media", files={"file": ("q3.pdf", b"%PDF-1.4 x", "application/pdf")})).json()
    document = {"wahub_media_id": uploaded["id"], "filename": "q3.pdf"}
    sent = await client.post("/api/v1/messages", json={"to": "+14155550101", "type": "document", "document": document})
    assert sent.status_code == 202, sent.text
    assert sent.json()["media_id"] == uploaded["id"]
    assert (await client.get(f"/api/v1/messages/{sent.json()['id']}")).json()["media_id"] == uploaded["id"]
    by_link = {"link": "https://example.com/q3.pdf", "filename": "q3.pdf"}
    linked = await client.post("/api/v1/messages", json={"to": "+14155550101", "type": "document", "document": by_link})
    assert linked.json()["media_id"] is None  # a file wahub never had
