"""A body the API cannot read is answered with what is wrong with it, in words a client's author can act on."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.conftest import OpenWindow

TEXT = {"to": "+14155550101", "type": "text", "text": {"body": "hi"}}


async def test_a_broken_json_body_names_the_character_where_it_breaks(client: httpx.AsyncClient) -> None:
    body = b'{"to": "+14155550101", "type": "text", oops}'
    response = await client.post("/api/v1/messages", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    error = response.json()["error"]
    position = body.index(b"oops")
    assert error["code"] == "invalid_input"
    assert error["message"] == f"body is not valid JSON at character {position}"
    assert error["details"]["errors"] == [
        {
            "field": "body",
            "problem": f"not valid JSON at character {position}: Expecting property name enclosed in double quotes",
            "position": position,
        }
    ]


async def test_a_json_body_without_a_content_type_says_the_header_is_missing(client: httpx.AsyncClient) -> None:
    # httpx sends no Content-Type for raw bytes.
    response = await client.post("/api/v1/messages", content=json.dumps(TEXT).encode())
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == "Content-Type: the header is missing; send the body as application/json"
    assert error["details"]["errors"][0]["field"] == "Content-Type"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_json_body_of_another_content_type_says_which_is_needed(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        "/api/v1/messages", content=json.dumps(TEXT).encode(), headers={"Content-Type": content_type}
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        f"Content-Type: the body is sent as {content_type}; send it as application/json"
    )


async def test_an_optional_json_body_without_a_content_type_says_the_header_is_missing(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"})).json()
    response = await client.post(f"/api/v1/webhooks/{created['id']}/replay", content=b'{"states": ["failed"]}')
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("Content-Type: the header is missing")


async def test_a_body_that_is_not_a_json_object_still_says_what_is_expected(client: httpx.AsyncClient) -> None:
    # A JSON array with the right Content-Type is a body of the wrong shape, not a header problem.
    response = await client.post("/api/v1/messages", json=[TEXT])
    assert response.status_code == 422
    assert not response.json()["error"]["message"].startswith("Content-Type")


async def test_a_nul_character_is_refused_with_422_where_the_database_cannot_store_it(
    client: httpx.AsyncClient, database_url: str, open_window: OpenWindow
) -> None:
    # PostgreSQL's text and JSONB refuse U+0000 (SQLite keeps it): never a 500.
    await open_window(TEXT["to"])
    requests = [
        ("GET", "/api/v1/contacts", {"params": {"q": "a\x00b"}}),
        ("GET", "/api/v1/events", {"params": {"field": "a\x00"}}),
        ("GET", "/api/v1/messages", {"params": {"status": "\x00"}}),
        ("POST", "/api/v1/webhooks", {"json": {"url": "http://127.0.0.1:9/hook", "description": "a\x00"}}),
        ("POST", "/api/v1/messages", {"json": {**TEXT, "text": {"body": "a\x00b"}}}),
    ]
    for method, path, kwargs in requests:
        response = await client.request(method, path, **kwargs)
        assert response.status_code < 500, (path, response.text)
        if database_url.startswith("postgresql"):
            assert response.status_code == 422, (path, response.text)
            assert "NUL" in response.json()["error"]["message"]
