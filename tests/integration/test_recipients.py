"""Who a message may go to: a number ``phonenumbers`` takes as valid, or one Meta itself gave as a contact's
``wa_id`` (Meta knows numbers before the library's metadata does); any other string is refused, naming ``to``."""

from __future__ import annotations

import httpx

from tests.integration.test_read_api import deliver, text_from
from wahub.api.context import AppContext

KNOWN = "447700900123"  # phonenumbers calls it invalid; Meta wrote it as a contact's wa_id
UNKNOWN = "19995550101"  # as invalid, and nobody by that number ever wrote


def text(to: str) -> dict[str, object]:
    return {"to": to, "type": "text", "text": {"body": "Thanks, we are on it"}}


async def test_a_reply_to_a_wa_id_meta_gave_is_queued_even_if_phonenumbers_doubts_it(
    anon: httpx.AsyncClient, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await deliver(anon, ctx, text_from("wamid.known1", wa_id=KNOWN, user_id=None, name="Pat"))
    for to in (f"+{KNOWN}", KNOWN):
        sent = await client.post("/api/v1/messages", json=text(to))
        assert sent.status_code == 202, sent.text
        assert sent.json()["contact"]["wa_id"] == KNOWN


async def test_an_invalid_number_nobody_wrote_from_is_refused_naming_to(client: httpx.AsyncClient) -> None:
    for to in (f"+{UNKNOWN}", UNKNOWN, "12", "not a number"):
        refused = await client.post("/api/v1/messages", json=text(to))
        assert refused.status_code == 422, (to, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "invalid_input" and error["message"].startswith("to"), error
        assert "valid phone number" in error["message"] or "not a phone number" in error["message"], error
    assert (await client.get("/api/v1/messages")).json()["items"] == []
