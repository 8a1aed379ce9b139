"""Ids no row can have (beyond PostgreSQL's INTEGER, or SQLite's 64 bits) and numbers too long to be numbers
are answered 404 or 422, never 500: in paths, filters, bodies, paging cursors and byte ranges."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from wahub.api.app import create_app
from wahub.api.context import AppContext

# Past PostgreSQL's INTEGER, past SQLite's 64-bit integer, and a number no database holds.
BEYOND = [2**31, 2**63, 10**40]
TO = "+14155550101"


def _operations_with_path_ids(ctx: AppContext) -> list[tuple[str, str]]:
    spec = create_app(ctx).api.openapi()
    return [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if any(p["in"] == "path" and _is_id(p["name"]) for p in operation.get("parameters", []))
    ]


def _is_id(name: str) -> bool:
    """A path parameter that is a row's id (a template's ``{name}`` is a name, answered as names are)."""
    return name == "id" or name.endswith("_id")


async def test_every_path_id_beyond_the_column_is_404(
    client: httpx.AsyncClient, ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    operations = _operations_with_path_ids(ctx)
    assert len(operations) >= 15  # messages, conversations, contacts, events, media, webhooks
    for method, template in operations:
        for value in [*BEYOND, -1, 0, "abc"]:
            path = re.sub(r"\{[a-z_]*id\}", str(value), template)
            response = await client.request(method, path, json={"entity_type": "invoice", "entity_id": "1"})
            assert response.status_code == 404, (method, path, response.text)
            assert response.json()["error"]["code"] == "not_found"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/messages", "contact_id"),
        ("/api/v1/messages", "conversation_id"),
        ("/api/v1/conversations", "contact_id"),
        ("/api/v1/contacts", "account_id"),
        ("/api/v1/events", "account_id"),
    ],
)
async def test_an_id_filter_beyond_the_column_is_422_naming_it(client: httpx.AsyncClient, path: str, name: str) -> None:
    for value in BEYOND:
        response = await client.get(path, params={name: value})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_input" and error["message"].startswith(f"{name}:"), error
        assert error["details"]["errors"][0]["field"] == name


async def test_replay_ids_beyond_the_column_are_422(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert created.status_code == 201, created.text
    for value in BEYOND:
        response = await client.post(f"/api/v1/webhooks/{created.json()['id']}/replay", json={"ids": [1, value]})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"].startswith("ids.1:")


@pytest.mark.parametrize("kind", ["document", "image", "audio", "video", "sticker"])
async def test_a_wahub_media_id_beyond_the_column_is_422_naming_it(client: httpx.AsyncClient, kind: str) -> None:
    for value in BEYOND:
        body = {"to": TO, "type": kind, kind: {"wahub_media_id": value}}
        response = await client.post("/api/v1/messages", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["message"].startswith(f"{kind}.wahub_media_id:")


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/api/v1/messages", "m"), ("/api/v1/conversations", "v"), ("/api/v1/contacts", "c"), ("/api/v1/events", "e")],
)
async def test_a_crafted_cursor_beyond_the_column_is_422(client: httpx.AsyncClient, path: str, kind: str) -> None:
    for value in [*BEYOND, -5, 0]:
        response = await client.get(path, params={"cursor": _cursor(f"{kind}:{value}")})
        assert response.status_code == 422, (value, response.text)
        assert response.json()["error"]["details"]["field"] == "cursor"
    # A cursor the API gave still works.
    assert (await client.get(path, params={"cursor": _cursor(f"{kind}:5")})).status_code == 200


async def test_a_deliveries_cursor_beyond_the_column_is_422(client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})).json()
    for value in BEYOND:
        response = await client.get(
            f"/api/v1/webhooks/{created['id']}/deliveries", params={"cursor": _cursor(f"d:{value}")}
        )
        assert response.status_code == 422, response.text


async def _stored_link(client: httpx.AsyncClient) -> tuple[str, int]:
    data = b"%PDF-1.4\n" + bytes(range(256)) * 4
    up = await client.post("/api/v1/media", files={"file": ("report.pdf", data, "application/pdf")})
    assert up.status_code == 201, up.text
    return str(up.json()["download_url"]), len(data)


async def test_a_range_of_thousands_of_digits_is_416_or_ignored_never_500(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    link, size = await _stored_link(client)
    digits = "9" * 5000
    for header in (f"bytes={digits}-", f"bytes=-{digits}", f"bytes=0-{digits}", f"bytes={digits}-{digits}"):
        response = await anon.get(link, headers={"Range": header})
        assert response.status_code in (200, 206, 416), (header[:40], response.status_code, response.text[:200])
    # A last position past the end means "to the end" (RFC 9110 §14.1.2), however long it is written.
    whole = await anon.get(link, headers={"Range": f"bytes=0-{digits}"})
    assert whole.status_code == 206 and len(whole.content) == size
    assert whole.headers["content-range"] == f"bytes 0-{size - 1}/{size}"
    # The last N bytes, N past the size: the whole file.
    tail = await anon.get(link, headers={"Range": f"bytes=-{digits}"})
    assert tail.status_code == 206 and len(tail.content) == size
    # A first position past the end: nothing to serve.
    assert (await anon.get(link, headers={"Range": f"bytes={digits}-"})).status_code == 416


async def test_a_link_signature_of_other_characters_is_401_never_500(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    link, _size = await _stored_link(client)
    forged = link.split("sig=")[0] + "sig=%C3%A3%F0%AD%8B%9E"  # found by the schemathesis run
    response = await anon.get(forged)
    assert response.status_code == 401, response.text
