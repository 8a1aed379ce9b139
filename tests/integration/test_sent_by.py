"""Who sent an outbound message is recorded on it (``messages.sent_by_user_id``, ``sent_by_api_key_id``) and shown
in its JSON as ``sent_by``; inbound messages have none."""

from __future__ import annotations

import httpx

from tests.integration.conftest import OpenWindow
from tests.integration.test_read_api import deliver, text_from
from wahub.api.context import AppContext


async def test_an_outbound_message_names_the_api_key_that_sent_it(
    client: httpx.AsyncClient, open_window: OpenWindow, anon: httpx.AsyncClient, ctx: AppContext
) -> None:
    await open_window("14155550101")
    response = await client.post(
        "/api/v1/messages", json={"to": "+14155550101", "type": "text", "text": {"body": "Hi"}}
    )
    assert response.status_code == 202, response.text
    sent_by = response.json()["sent_by"]
    assert sent_by["kind"] == "api_key" and sent_by["name"] == "tests" and isinstance(sent_by["id"], int)
    message_id = response.json()["id"]
    assert (await client.get(f"/api/v1/messages/{message_id}")).json()["sent_by"] == sent_by
    await deliver(anon, ctx, text_from("wamid.in1", wa_id="14155550101", user_id=None, name="Ada"))
    listed_by = {m["id"]: m["sent_by"] for m in (await client.get("/api/v1/messages")).json()["items"]}
    assert listed_by[message_id] == sent_by
    assert [who for mid, who in listed_by.items() if mid != message_id] == [None]  # the inbound one
