"""A file fetched from a URL a user gave: stored and checked like an upload, sent to Meta by media id; private
and loopback addresses refused unless allowed; Meta's types and sizes enforced."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from yarl import URL

from tests.integration.conftest import OpenWindow
from tests.support import eventually, running
from wahub import errors
from wahub.api.context import AppContext
from wahub.storage import remote

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 50


@pytest.fixture
async def files() -> AsyncIterator[str]:
    """A web server on 127.0.0.1 with a few files (a loopback address: refused unless allowed)."""

    async def report(_request: Request) -> Response:
        return Response(PDF, media_type="application/pdf")

    async def tool(_request: Request) -> Response:
        return Response(b"MZ", media_type="application/x-msdownload")

    async def big(_request: Request) -> Response:
        return Response(b"\0" * (5 * 1024 * 1024 + 1), media_type="image/png")

    async def hop(request: Request) -> Response:
        return RedirectResponse(str(request.url_for("report")), status_code=302)

    app = Starlette(
        routes=[
            Route("/report.pdf", report, name="report"),
            Route("/tool.exe", tool),
            Route("/big.png", big),
            Route("/hop", hop),
        ]
    )
    async with running(app) as url:
        yield url


async def from_url(client: httpx.AsyncClient, url: str, **extra: Any) -> httpx.Response:
    return await client.post("/api/v1/media/from-url", json={"url": url, **extra})


async def test_loopback_and_private_urls_are_refused_by_default(client: httpx.AsyncClient, files: str) -> None:
    for url in (f"{files}/report.pdf", "http://10.1.2.3/x.pdf", "http://[::1]/x.pdf", "http://localhost:1/x.pdf"):
        refused = await from_url(client, url)
        assert refused.status_code == 422, (url, refused.text)
        assert "private, loopback or reserved" in refused.text, url
    assert (await from_url(client, "ftp://example.com/x.pdf")).status_code == 422


async def test_ipv6_forms_of_inside_addresses_are_refused(client: httpx.AsyncClient, files: str) -> None:
    # Python's is_global lets these through: IPv6 addresses that carry an IPv4 one (IPv4-compatible, 6to4,
    # NAT64) and multicast. The test's file server listens on 127.0.0.1, which each of the first three names.
    port = URL(files).port
    for host in ("[::127.0.0.1]", "[2002:7f00:1::]", "[64:ff9b::7f00:1]", "[ff02::1]", "224.0.0.1"):
        refused = await from_url(client, f"http://{host}:{port}/report.pdf")
        assert refused.status_code == 422, (host, refused.text)
        assert refused.json()["error"]["details"]["field"] == "url", host
        assert "private, loopback or reserved" in refused.json()["error"]["message"], host


@pytest.mark.parametrize(
    ("url", "public"),
    [("http://8.8.8.8/a.pdf", True), ("http://192.168.1.1/a.pdf", False), ("http://169.254.169.254/", False)],
)
def test_each_redirect_hop_written_as_an_address_is_checked(url: str, public: bool) -> None:
    # aiohttp does not resolve an address written in a URL: each hop's is checked before it is followed.
    if public:
        remote._check_literal(URL(url), allow_private=False)
    else:
        with pytest.raises(errors.InvalidInput, match="private, loopback or reserved"):
            remote._check_literal(URL(url), allow_private=False)


async def test_a_fetched_file_is_stored_checked_and_reaches_meta_by_media_id(
    client: httpx.AsyncClient, ctx: AppContext, files: str, worker: None, graph_url: str, open_window: OpenWindow
) -> None:
    ctx.settings.allow_private_urls = True  # the test's file server is on loopback
    fetched = await from_url(client, f"{files}/hop", filename="Q3.pdf")  # through a redirect
    assert fetched.status_code == 201, fetched.text
    item = fetched.json()
    assert (item["state"], item["size"], item["filename"], item["mime_type"]) == (
        "stored",
        len(PDF),
        "Q3.pdf",
        "application/pdf",
    )
    assert item["sha256"] == hashlib.sha256(PDF).hexdigest()

    too_big = await from_url(client, f"{files}/big.png")
    assert too_big.status_code == 422 and "5,242,880 bytes" in too_big.text
    exe = await from_url(client, f"{files}/tool.exe")
    assert exe.status_code == 422 and "does not take" in exe.text
    missing = await from_url(client, f"{files}/nothing.pdf")
    assert missing.status_code == 422 and "answered 404" in missing.text

    await open_window("14155550101")
    document = {"wahub_media_id": item["id"], "filename": "Q3.pdf"}
    sent = await client.post("/api/v1/messages", json={"to": "+14155550101", "type": "document", "document": document})
    assert sent.status_code == 202, sent.text
    async with httpx.AsyncClient(base_url=graph_url) as fake:

        async def received() -> list[dict[str, Any]] | None:
            rows = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
            return [r["body"] for r in rows] or None

        bodies = await eventually(received, timeout=20)
    assert set(bodies[0]["document"]) == {"id", "filename"} and bodies[0]["document"]["filename"] == "Q3.pdf"
