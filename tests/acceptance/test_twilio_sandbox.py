"""``wahub serve --sandbox twilio`` as a user runs it: a subprocess on a free port, nothing configured, faketwilio
playing Twilio. The acceptance scenarios of issue 16 on the Twilio path: text, media, a Content SID template,
statuses reaching read, a failure with its mapped reason, an inbound reply with an image stored and verified,
and every callback delivered twice stored once."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.test_sandbox import Wahub
from tests.support import free_port

SENDER = "whatsapp:+14155238886"
EVA = "14155550111"
STRANGER = "14155550177"  # never wrote: their window is closed
HELLO = {"content_sid": "HX" + "1" * 32, "content_variables": {"1": "Ana"}}


@pytest.fixture
def wahub(tmp_path: Path) -> Iterator[Wahub]:
    process = Wahub(tmp_path, free_port(), args=("--sandbox", "twilio"))
    yield process
    process.stop()


def started(process: Wahub) -> tuple[str, str]:
    """Wait for the banner: the sandbox API key and faketwilio's URL."""
    fake = process.wait_for(r"faketwilio \(a fake of Twilio's Messaging API at (http://\S+)\)").group(1)
    key = process.wait_for(r"sandbox API key: (\S+)").group(1)
    process.wait_for(r"Press Ctrl-C to stop")
    return key, fake


def until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {timeout}s; last: {last!r}")


def test_the_twilio_sandbox_sends_receives_and_stores_every_callback_once(wahub: Wahub) -> None:
    key, fake = started(wahub)
    api = httpx.Client(base_url=wahub.url, headers={"Authorization": f"Bearer {key}"})
    # Twilio, faked, delivers every callback (statuses and inbound messages) twice from now on.
    assert httpx.post(f"{fake}/_fake/faults", json={"duplicate_webhook_rate": 1.0}).is_success

    def message(message_id: int, stamps: tuple[str, ...] = ()) -> Any:
        body = api.get(f"/api/v1/messages/{message_id}").json()
        return body if all(body.get(s) for s in stamps) else None

    # A text to a simulated contact (they wrote first at start), asking for a photo: read, then answered.
    text = {"from": SENDER, "to": f"+{EVA}", "type": "text", "text": {"body": "Can you send a photo?"}}
    sent = api.post("/api/v1/messages", json=text)
    assert sent.status_code == 202, sent.text
    read = until(lambda: message(sent.json()["id"], ("sent_at", "delivered_at", "read_at")), "the text read")
    assert read["provider"] == "twilio" and read["status"] == "read" and read["wamid"].startswith("SM")

    def answer() -> Any:
        page = api.get("/api/v1/messages", params={"direction": "inbound", "limit": 50}).json()["items"]
        return next((m for m in page if m["reply_to"] == read["wamid"]), None)

    reply = until(answer, "the contact's answer")
    assert reply["type"] == "image" and reply["provider"] == "twilio"
    media = until(lambda: (m := api.get(f"/api/v1/media/{reply['media_id']}").json())["state"] == "stored" and m,
                  "the image stored")  # fmt: skip
    served = api.get(media["download_url"])
    assert served.status_code == 200 and hashlib.sha256(served.content).hexdigest() == media["sha256"]
    assert served.content.startswith(b"\x89PNG")

    # An uploaded file, by a signed link of wahub's that faketwilio fetches.
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 20
    uploaded = api.post("/api/v1/media", files={"file": ("q3.pdf", pdf, "application/pdf")}, data={"from": SENDER})
    document = {
        "from": SENDER,
        "to": f"+{EVA}",
        "type": "document",
        "document": {"wahub_media_id": uploaded.json()["id"]},
    }
    doc = api.post("/api/v1/messages", json=document)
    assert doc.status_code == 202, doc.text
    until(lambda: message(doc.json()["id"], ("read_at",)), "the document read")
    sid = api.get(f"/api/v1/messages/{doc.json()['id']}").json()["wamid"]
    (twilio_side,) = httpx.get(f"{fake}/_fake/messages", params={"sid": sid}).json()["data"]
    assert twilio_side["media_fetches"][0]["sha256"] == hashlib.sha256(pdf).hexdigest()

    # Outside the window: free text is refused before sending, a Content SID template reaches read.
    closed = api.post("/api/v1/messages", json={**text, "to": f"+{STRANGER}"})
    assert closed.status_code == 422 and closed.json()["error"]["code"] == "window_closed"
    template = api.post("/api/v1/messages", json={"from": SENDER, "to": f"+{STRANGER}", "type": "template",
                                                  "template": HELLO})  # fmt: skip
    assert template.status_code == 202, template.text
    until(lambda: message(template.json()["id"], ("read_at",)), "the template read")

    # Undeliverable: failed, with Twilio's code and wahub's reason for it.
    assert httpx.post(f"{fake}/_fake/config", json={"unreachable_numbers": [EVA]}).is_success
    doomed = api.post("/api/v1/messages", json={**text, "text": {"body": "anyone?"}}).json()
    failed = until(lambda: message(doomed["id"], ("failed_at",)), "the failure")
    assert failed["status"] == "failed" and failed["error"]["code"] == 63024
    assert "cannot receive WhatsApp" in failed["error"]["title"]

    # Every callback came twice; each status and each message is stored once.
    delivered = httpx.get(f"{fake}/_fake/webhooks", params={"sid": read["wamid"], "status": "read"}).json()["data"]
    assert len(delivered) == 2 and all(w["result"] == "delivered" for w in delivered)
    replies = httpx.get(f"{fake}/_fake/webhooks", params={"sid": reply["wamid"], "kind": "message"}).json()["data"]
    assert len(replies) == 2
    page = api.get("/api/v1/messages", params={"limit": 200}).json()["items"]
    assert len([m for m in page if m["wamid"] == reply["wamid"]]) == 1
    assert re.fullmatch(r"SM[0-9a-f]{32}", read["wamid"])
    stats = api.get("/api/v1/stats").json()
    assert stats["by_provider"] == {"twilio": stats["total"]}
    assert stats["outbound"]["by_status"].get("failed") == 1
