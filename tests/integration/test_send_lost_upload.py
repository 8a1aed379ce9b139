"""A file wahub uploaded to Meta and keeps sending by Meta's id (for 29 days) can be gone from Meta sooner: Meta
deleted or expired it, or the sandbox's fakegraph restarted. Meta then refuses the send with code 100 ("not a
valid whatsapp business account media attachment ID"); the sender uploads the file again, once, and sends it
with the new id. A file Meta refuses right after its upload is a plain failure: no upload loop."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import ACCESS_TOKEN, OpenWindow
from tests.support import eventually

TO = "14155550101"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 20


@pytest.fixture(autouse=True)
async def _window_open(open_window: OpenWindow) -> None:
    await open_window(TO)


async def send_document(client: httpx.AsyncClient, media_id: int) -> int:
    body = {"to": f"+{TO}", "type": "document", "document": {"wahub_media_id": media_id, "filename": "q3.pdf"}}
    sent = await client.post("/api/v1/messages", json=body)
    assert sent.status_code == 202, sent.text
    message_id: int = sent.json()["id"]
    return message_id


async def settled(client: httpx.AsyncClient, message_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/v1/messages/{message_id}")).json()
        return body if body["wamid"] or body["status"] == "failed" else None

    result: dict[str, Any] = await eventually(done, timeout=20)
    return result


async def uploads_and_sends(fake: httpx.AsyncClient) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    uploads = [
        u for u in (await fake.get("/_fake/requests?path_contains=/media")).json()["data"] if u["method"] == "POST"
    ]
    sends = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
    return uploads, sends


async def test_a_file_meta_no_longer_has_is_uploaded_again_and_sent(
    client: httpx.AsyncClient, worker: None, graph_url: str
) -> None:
    media_id = (await client.post("/api/v1/media", files={"file": ("q3.pdf", PDF, "application/pdf")})).json()["id"]
    first = await settled(client, await send_document(client, media_id))
    assert first["status"] != "failed", first
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        _, sends = await uploads_and_sends(fake)
        old_id = sends[0]["body"]["document"]["id"]
        # Meta deletes the file (or its 30 days ran out): the id wahub keeps is no longer valid.
        gone = await fake.delete(f"/v25.0/{old_id}", headers={"Authorization": f"Bearer {ACCESS_TOKEN}"})
        assert gone.status_code == 200
        second = await settled(client, await send_document(client, media_id))
        uploads, sends = await uploads_and_sends(fake)
    assert second["status"] != "failed" and second["wamid"], second
    assert not second["possible_duplicate"]
    assert len(uploads) == 2
    ids = [s["body"]["document"]["id"] for s in sends]
    assert [s["status"] for s in sends] == [200, 400, 200] and ids[:2] == [old_id, old_id] and ids[2] != old_id


async def test_a_file_meta_refuses_again_after_a_new_upload_fails_after_one_new_upload(
    client: httpx.AsyncClient, worker: None, graph_url: str
) -> None:
    media_id = (await client.post("/api/v1/media", files={"file": ("q3.pdf", PDF, "application/pdf")})).json()["id"]
    await settled(client, await send_document(client, media_id))
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        _, sends = await uploads_and_sends(fake)
        old_id = sends[0]["body"]["document"]["id"]
        await fake.delete(f"/v25.0/{old_id}", headers={"Authorization": f"Bearer {ACCESS_TOKEN}"})
        assert (await fake.post("/_fake/faults", json={"forget_uploads": 1.0})).status_code == 200
        failed = await settled(client, await send_document(client, media_id))
        uploads, sends = await uploads_and_sends(fake)
    assert failed["status"] == "failed" and failed["error"]["code"] == 100, failed
    assert "media attachment ID" in failed["error"]["details"]
    assert len(uploads) == 2 and len(sends) == 3
