"""fakegraph speaks Meta's Cloud API: wire format, signed webhooks, simulated people, injected faults.

Servers run for real on loopback sockets (uvicorn in the test's event loop); a small receiver app
records every webhook and checks its X-Hub-Signature-256 over the raw body, as wahub must.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fakegraph import FakeGraphConfig, SimulatedContact, create_app
from fakegraph.server import build_parser, config_from_args
from fakegraph.state import FakeState
from tests.support import eventually, running

SECRET = "test-app-secret"
TOKEN = "test-access-token"
PHONE_ID = "100000000000001"
WABA_ID = "200000000000001"
ANA = "14155550101"  # a default simulated contact
STRANGER = "15559870000"  # not a simulated contact
SPEED = 50.0
MESSAGES = f"/v25.0/{PHONE_ID}/messages"


def text_body(to: str, body: str) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    }


async def send_text(client: httpx.AsyncClient, to: str, body: str) -> str:
    """Send a text through fakegraph's Graph API; returns the wamid."""
    response = await client.post(MESSAGES, json=text_body(to, body))
    assert response.status_code == 200, response.text
    return response.json()["messages"][0]["id"]  # type: ignore[no-any-return]


@dataclass
class Hook:
    """One webhook as the receiver saw it."""

    valid_signature: bool
    raw: bytes
    payload: dict[str, Any]

    @property
    def value(self) -> dict[str, Any]:
        return self.payload["entry"][0]["changes"][0]["value"]  # type: ignore[no-any-return]

    @property
    def status(self) -> dict[str, Any] | None:
        return self.value["statuses"][0] if "statuses" in self.value else None

    @property
    def message(self) -> dict[str, Any] | None:
        return self.value["messages"][0] if "messages" in self.value else None


@dataclass
class Receiver:
    """Stands in for wahub's /webhooks/meta: checks signatures, can be told to fail."""

    secret: str = SECRET
    url: str = ""
    hooks: list[Hook] = field(default_factory=list)
    fail_next: int = 0
    always_fail: bool = False

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        expected = "sha256=" + hmac.new(self.secret.encode(), raw, hashlib.sha256).hexdigest()
        valid = hmac.compare_digest(request.headers.get("x-hub-signature-256", ""), expected)
        if self.always_fail or self.fail_next > 0:
            self.fail_next -= 1
            return Response("boom", status_code=500)
        self.hooks.append(Hook(valid, raw, json.loads(raw)))
        return Response("ok")

    def statuses(self, wamid: str) -> list[str]:
        return [h.status["status"] for h in self.hooks if h.status and h.status["id"] == wamid]

    def replies_to(self, wamid: str) -> list[Hook]:
        return [h for h in self.hooks if h.message and h.message.get("context", {}).get("id") == wamid]

    async def wait_for(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; webhooks so far: {[h.payload for h in self.hooks]}")
            await asyncio.sleep(0.01)


async def life_played(wamid: str) -> None:
    """Wait until fakegraph has played the whole life of the sent message `wamid`: its statuses and, when one
    was due, its contact's reply. Whatever has not come by then never will."""
    for task in asyncio.all_tasks():
        if task.get_name() == f"timeline-{wamid}":
            await asyncio.wait_for(task, 10)


async def arrivals(client: httpx.AsyncClient) -> list[float]:
    """When each `POST /messages` reached fakegraph, before any latency or fault."""
    return (await client.get("/_fake/arrivals")).json()["data"]  # type: ignore[no-any-return]


@dataclass
class Graph:
    """A running fakegraph: an HTTP client pointed at it (token included) and its state."""

    client: httpx.AsyncClient
    state: FakeState
    url: str


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = Starlette(routes=[Route("/webhooks/meta", rec.handle, methods=["POST"])])
    async with running(app) as url:
        rec.url = url + "/webhooks/meta"
        yield rec


@pytest.fixture
async def start_graph(receiver: Receiver) -> AsyncIterator[Callable[..., Awaitable[Graph]]]:
    """Start fakegraph (webhooks to `receiver`) with config overrides; stops them all at the end."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> Graph:
            settings: dict[str, Any] = {
                "callback_url": receiver.url,
                "app_secret": SECRET,
                "access_token": TOKEN,
                "speed": SPEED,
                "seed": 7,
            }
            settings.update(overrides)
            app = create_app(FakeGraphConfig(**settings))
            url = await stack.enter_async_context(running(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            )
            return Graph(client, app.state.fake, url)

        yield start


@pytest.fixture
async def graph(start_graph: Callable[..., Awaitable[Graph]]) -> Graph:
    return await start_graph()


@pytest.fixture
async def asgi_client() -> AsyncIterator[httpx.AsyncClient]:
    """fakegraph in-process, no webhooks: for pure request/response checks."""
    app = create_app(FakeGraphConfig(callback_url=None, access_token=TOKEN, speed=SPEED, seed=1))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://fakegraph.test", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


def assert_meta_error(response: httpx.Response, status: int, code: int, *, transient: bool = False) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] in ("OAuthException", "GraphMethodException")
    assert error["is_transient"] is transient
    assert error["fbtrace_id"].startswith("A") and len(error["fbtrace_id"]) == 23
    return error  # type: ignore[no-any-return]


# --- sending --------------------------------------------------------------------------------------------


async def test_send_text_returns_wamid_in_meta_shape(asgi_client: httpx.AsyncClient) -> None:
    response = await asgi_client.post(MESSAGES, json=text_body("+1 (415) 555-0101", "hello"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"messaging_product", "contacts", "messages"}
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+1 (415) 555-0101", "wa_id": ANA}]
    (message,) = body["messages"]
    assert set(message) == {"id"}
    assert message["id"].startswith("wamid.HBgL")
    base64.b64decode(message["id"].removeprefix("wamid."), validate=True)
    again = await asgi_client.post(MESSAGES, json=text_body(ANA, "hello"))
    assert again.json()["messages"][0]["id"] != message["id"]


async def test_template_send_is_accepted_with_message_status(asgi_client: httpx.AsyncClient) -> None:
    body = {
        "messaging_product": "whatsapp",
        "to": ANA,
        "type": "template",
        "template": {
            "name": "seasonal_promotion",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "text", "text": "Summer Sale"}]},
                {"type": "body", "parameters": [{"type": "text", "text": t} for t in ("May", "X1", "5%")]},
            ],
        },
    }
    response = await asgi_client.post(MESSAGES, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["messages"][0]["message_status"] == "accepted"


@pytest.mark.parametrize(
    ("name", "components", "code"),
    [
        ("no_such_template", [], 132001),
        ("seasonal_promotion", [{"type": "body", "parameters": [{"type": "text", "text": "only one"}]}], 132000),
        ("order_shipped", [{"type": "body", "parameters": [{"type": "text", "text": t} for t in "abc"]}], 132012),
        ("feedback_survey", [], 132015),
    ],
)
async def test_template_send_errors_match_meta(
    asgi_client: httpx.AsyncClient, name: str, components: list[dict[str, Any]], code: int
) -> None:
    body = {
        "messaging_product": "whatsapp",
        "to": ANA,
        "type": "template",
        "template": {"name": name, "language": {"code": "en_US"}, "components": components},
    }
    error = assert_meta_error(await asgi_client.post(MESSAGES, json=body), 400, code)
    assert error["error_data"]["details"]


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"to": ANA, "type": "text", "text": {"body": "hi"}}, "messaging_product"),
        ({"messaging_product": "sms", "to": ANA, "type": "text", "text": {"body": "hi"}}, "messaging_product"),
        ({"messaging_product": "whatsapp", "type": "text", "text": {"body": "hi"}}, "to"),
        ({"messaging_product": "whatsapp", "to": ANA, "type": "fax", "fax": {}}, "type"),
        ({"messaging_product": "whatsapp", "to": ANA, "type": "text", "text": {}}, "text['body']"),
        ({"messaging_product": "whatsapp", "to": ANA, "type": "text", "text": {"body": "x" * 4097}}, "4096"),
        ({"messaging_product": "whatsapp", "to": ANA, "type": "image", "image": {"id": "404"}}, "media"),
        (
            {
                "messaging_product": "whatsapp",
                "to": ANA,
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "pick"},
                    "action": {
                        "buttons": [{"type": "reply", "reply": {"id": str(i), "title": f"b{i}"}} for i in range(4)]
                    },
                },
            },
            "buttons",
        ),
    ],
)
async def test_invalid_send_bodies_answer_code_100_with_details(
    asgi_client: httpx.AsyncClient, body: dict[str, Any], mentions: str
) -> None:
    error = assert_meta_error(await asgi_client.post(MESSAGES, json=body), 400, 100)
    assert mentions in error["error_data"]["details"]
    assert error["error_data"]["messaging_product"] == "whatsapp"


async def test_unknown_phone_number_id_gives_meta_error_100_33(asgi_client: httpx.AsyncClient) -> None:
    response = await asgi_client.post("/v25.0/999999999999999/messages", json=text_body(ANA, "hi"))
    error = assert_meta_error(response, 400, 100)
    assert error["error_subcode"] == 33
    assert "999999999999999" in error["message"]


async def test_more_phone_numbers_take_sends_and_their_arrivals_are_told_apart(
    start_graph: Callable[..., Awaitable[Graph]],
) -> None:
    graph = await start_graph(more_phone_number_ids=["100000000000002"], reply=False)
    await send_text(graph.client, ANA, "from the first")
    other = await graph.client.post("/v25.0/100000000000002/messages", json=text_body(ANA, "from the second"))
    assert other.status_code == 200, other.text
    await graph.client.post("/v25.0/100000000000002/messages", json=text_body(ANA, "again"))
    assert_meta_error(await graph.client.post("/v25.0/100000000000003/messages", json=text_body(ANA, "x")), 400, 100)
    seen = (await graph.client.get("/_fake/arrivals")).json()
    assert len(seen["data"]) == 4  # the refused one arrived too: Meta counts what reaches it
    assert {n: v["count"] for n, v in seen["by_number"].items()} == {
        PHONE_ID: 1,
        "100000000000002": 2,
        "100000000000003": 1,
    }
    second = (await graph.client.get("/_fake/arrivals", params={"phone_number_id": "100000000000002"})).json()
    assert len(second["data"]) == 2 and second["max_per_second"] == 2


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-the-token"}])
async def test_wrong_token_gives_190(asgi_client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    asgi_client.headers.pop("Authorization")
    response = await asgi_client.post(MESSAGES, json=text_body(ANA, "hi"), headers=headers)
    error = assert_meta_error(response, 401, 190)
    assert error["type"] == "OAuthException"


async def test_mark_as_read_with_typing_indicator_returns_success(asgi_client: httpx.AsyncClient) -> None:
    inbound = (await asgi_client.post("/_fake/inbound", json={"from": ANA, "text": "hi"})).json()
    body = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": inbound["wamid"],
        "typing_indicator": {"type": "text"},
    }
    response = await asgi_client.post(MESSAGES, json=body)
    assert response.status_code == 200
    assert response.json() == {"success": True}
    log = (await asgi_client.get("/_fake/inbound_log")).json()["data"]
    assert log[0]["read_by_business"] is True


async def test_unknown_path_and_bad_version_answer_graph_errors(asgi_client: httpx.AsyncClient) -> None:
    assert_meta_error(await asgi_client.post(f"/latest/{PHONE_ID}/messages", json={}), 400, 2500)
    assert_meta_error(await asgi_client.get(f"/v25.0/{PHONE_ID}/nothing/here"), 400, 2500)


async def test_phone_number_object_honours_fields(asgi_client: httpx.AsyncClient) -> None:
    response = await asgi_client.get(f"/v25.0/{PHONE_ID}", params={"fields": "verified_name,quality_rating"})
    assert response.json() == {"verified_name": "Fakegraph Sandbox", "quality_rating": "GREEN", "id": PHONE_ID}


# --- templates ------------------------------------------------------------------------------------------


async def test_templates_are_paged(asgi_client: httpx.AsyncClient) -> None:
    path = f"/v25.0/{WABA_ID}/message_templates"
    first = (await asgi_client.get(path, params={"limit": 3})).json()
    assert len(first["data"]) == 3
    assert first["paging"]["cursors"]["before"] == "MAZDZD"  # Graph's base64 of "0"
    seen = [t["name"] + "/" + t["language"] for t in first["data"]]
    page = first
    while "next" in page["paging"]:
        page = (await asgi_client.get(path, params={"limit": 3, "after": page["paging"]["cursors"]["after"]})).json()
        seen += [t["name"] + "/" + t["language"] for t in page["data"]]
    everything = (await asgi_client.get(path)).json()["data"]
    assert seen == [t["name"] + "/" + t["language"] for t in everything]
    assert len(set(seen)) == len(seen) >= 6
    hello = next(t for t in everything if t["name"] == "hello_world")
    assert (hello["language"], hello["category"], hello["status"]) == ("en_US", "UTILITY", "APPROVED")
    assert {c["type"] for c in hello["components"]} == {"HEADER", "BODY", "FOOTER"}
    assert any(c.get("format") == "IMAGE" for t in everything for c in t["components"])
    assert any(t["category"] == "MARKETING" and "{{1}}" in json.dumps(t["components"]) for t in everything)


async def test_templates_of_unknown_waba_give_100_33(asgi_client: httpx.AsyncClient) -> None:
    error = assert_meta_error(await asgi_client.get("/v25.0/123/message_templates"), 400, 100)
    assert error["error_subcode"] == 33


# --- media ----------------------------------------------------------------------------------------------


async def test_media_upload_retrieve_download_delete(graph: Graph) -> None:
    data = b"%PDF-1.4 fakegraph test document\n" * 100
    upload = await graph.client.post(
        f"/v25.0/{PHONE_ID}/media",
        data={"messaging_product": "whatsapp", "type": "application/pdf"},
        files={"file": ("report.pdf", data, "application/pdf")},
    )
    assert upload.status_code == 200, upload.text
    media_id = upload.json()["id"]
    assert set(upload.json()) == {"id"} and media_id.isdigit()

    info = (await graph.client.get(f"/v25.0/{media_id}")).json()
    assert info == {
        "messaging_product": "whatsapp",
        "url": info["url"],
        "mime_type": "application/pdf",
        "sha256": hashlib.sha256(data).hexdigest(),
        "file_size": len(data),
        "id": media_id,
    }

    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(info["url"])).status_code == 401
    download = await graph.client.get(info["url"])
    assert download.status_code == 200
    assert download.content == data
    assert download.headers["content-type"].startswith("application/pdf")

    sent = await graph.client.post(
        MESSAGES,
        json={
            "messaging_product": "whatsapp",
            "to": ANA,
            "type": "document",
            "document": {"id": media_id, "filename": "report.pdf"},
        },
    )
    assert sent.status_code == 200, sent.text

    assert (await graph.client.delete(f"/v25.0/{media_id}")).json() == {"success": True}
    assert_meta_error(await graph.client.get(f"/v25.0/{media_id}"), 400, 100)
    assert (await graph.client.get(info["url"])).status_code == 404


async def test_media_upload_refuses_unsupported_type_with_131053(asgi_client: httpx.AsyncClient) -> None:
    response = await asgi_client.post(
        f"/v25.0/{PHONE_ID}/media",
        data={"messaging_product": "whatsapp"},
        files={"file": ("x.exe", b"MZ", "application/x-msdownload")},
    )
    assert_meta_error(response, 400, 131053)


# --- webhooks -------------------------------------------------------------------------------------------


async def test_status_webhooks_are_signed_and_reach_read(graph: Graph, receiver: Receiver) -> None:
    wamid = await send_text(graph.client, STRANGER, "hello")
    await receiver.wait_for(lambda: receiver.statuses(wamid) == ["sent", "delivered", "read"])
    hooks = [h for h in receiver.hooks if h.status]
    assert all(h.valid_signature for h in hooks)
    first = hooks[0].payload
    assert first["object"] == "whatsapp_business_account"
    (entry,) = first["entry"]
    assert entry["id"] == WABA_ID
    (change,) = entry["changes"]
    assert change["field"] == "messages"
    assert change["value"]["messaging_product"] == "whatsapp"
    assert change["value"]["metadata"] == {"display_phone_number": "15550000001", "phone_number_id": PHONE_ID}
    sent = hooks[0].status
    assert sent is not None
    assert sent["recipient_id"] == STRANGER and sent["timestamp"].isdigit()
    assert set(sent["conversation"]) == {"id", "expiration_timestamp", "origin"}
    assert sent["pricing"]["category"] == "service" and sent["pricing"]["billable"] is False
    messages = (await graph.client.get("/_fake/messages")).json()["data"]
    assert [s["status"] for s in messages[0]["statuses"]] == ["sent", "delivered", "read"]
    await life_played(wamid)
    assert receiver.replies_to(wamid) == []  # strangers never answer


async def test_webhook_bytes_escape_like_meta_so_only_raw_body_signatures_verify(
    graph: Graph, receiver: Receiver
) -> None:
    response = await graph.client.post("/_fake/inbound", json={"from": ANA, "text": "café / ok"})
    assert response.json()["delivered"] is True
    (hook,) = receiver.hooks
    assert hook.valid_signature
    assert b"caf\\u00e9 \\/ ok" in hook.raw
    reserialized = json.dumps(hook.payload).encode()
    assert (
        hmac.new(SECRET.encode(), reserialized, hashlib.sha256).digest()
        != hmac.new(SECRET.encode(), hook.raw, hashlib.sha256).digest()
    )


async def test_inbound_control_posts_message_in_meta_shape(graph: Graph, receiver: Receiver) -> None:
    wamid = (await graph.client.post("/_fake/inbound", json={"from": ANA, "text": "Body Text"})).json()["wamid"]
    (hook,) = receiver.hooks
    value = hook.value
    assert value["contacts"] == [{"profile": {"name": "Ana Souza"}, "wa_id": ANA, "user_id": "US.1000000000000000001"}]
    assert value["messages"] == [
        {
            "from": ANA,
            "id": wamid,
            "timestamp": value["messages"][0]["timestamp"],
            "type": "text",
            "text": {"body": "Body Text"},
        }
    ]


async def test_inbound_image_references_downloadable_media(graph: Graph, receiver: Receiver) -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    await graph.client.post(
        "/_fake/inbound",
        json={"from": ANA, "type": "image", "content_base64": png, "mime_type": "image/png", "caption": "look"},
    )
    image = receiver.hooks[0].message["image"]  # type: ignore[index]
    assert image["caption"] == "look"
    assert base64.b64decode(image["sha256"]) == hashlib.sha256(b"\x89PNG fake").digest()
    info = (await graph.client.get(f"/v25.0/{image['id']}")).json()
    assert (await graph.client.get(info["url"])).content == b"\x89PNG fake"


async def test_simulated_contact_replies_with_context(graph: Graph, receiver: Receiver) -> None:
    wamid = await send_text(graph.client, ANA, "Are you free tomorrow?")
    await receiver.wait_for(lambda: bool(receiver.replies_to(wamid)))
    (reply,) = receiver.replies_to(wamid)
    assert reply.valid_signature
    message = reply.message
    assert message is not None
    assert message["from"] == ANA and message["type"] == "text" and message["text"]["body"]
    assert message["context"] == {"from": "15550000001", "id": wamid}
    assert reply.value["contacts"][0]["profile"]["name"] == "Ana Souza"
    read = next(h for h in receiver.hooks if h.status and h.status["id"] == wamid and h.status["status"] == "read")
    assert receiver.hooks.index(read) < receiver.hooks.index(reply)


async def test_contacts_do_not_reply_when_reply_is_off(
    start_graph: Callable[..., Awaitable[Graph]], receiver: Receiver
) -> None:
    graph = await start_graph(reply=False)
    wamid = await send_text(graph.client, ANA, "anyone?")
    await receiver.wait_for(lambda: "read" in receiver.statuses(wamid))
    await life_played(wamid)  # a question: with replies on, Ana answers it before her part ends
    assert receiver.replies_to(wamid) == []


async def test_webhook_retried_until_receiver_accepts(graph: Graph, receiver: Receiver) -> None:
    receiver.fail_next = 2
    wamid = (await graph.client.post("/_fake/inbound", json={"from": ANA, "text": "retry me"})).json()["wamid"]
    await receiver.wait_for(lambda: any(h.message and h.message["id"] == wamid for h in receiver.hooks))
    log = (await graph.client.get("/_fake/webhooks", params={"wamid": wamid})).json()["data"]
    assert log[0]["result"] == "delivered"
    assert log[0]["attempts"] == 3
    assert [r.get("http_status") for r in log[0]["results"]] == [500, 500, 200]


async def test_webhook_given_up_after_max_attempts_is_logged(
    start_graph: Callable[..., Awaitable[Graph]], receiver: Receiver
) -> None:
    graph = await start_graph(webhook_max_attempts=3)
    receiver.always_fail = True
    wamid = (await graph.client.post("/_fake/inbound", json={"from": ANA, "text": "lost"})).json()["wamid"]

    async def result() -> dict[str, Any]:
        return (await graph.client.get("/_fake/webhooks", params={"wamid": wamid})).json()["data"][0]  # type: ignore[no-any-return]

    async def settled() -> dict[str, Any] | None:
        entry = await result()
        return entry if entry["result"] != "pending" else None

    entry = await eventually(settled, timeout=5)
    assert entry["result"] == "failed"
    assert entry["attempts"] == 3


async def test_runtime_config_moves_webhooks_to_new_secret(graph: Graph, receiver: Receiver) -> None:
    response = await graph.client.post("/_fake/config", json={"app_secret": "rotated"})
    assert response.json()["app_secret"] == "rotated"
    await graph.client.post("/_fake/inbound", json={"from": ANA, "text": "hi"})
    assert receiver.hooks[0].valid_signature is False
    receiver.secret = "rotated"
    await graph.client.post("/_fake/inbound", json={"from": ANA, "text": "hi again"})
    assert receiver.hooks[1].valid_signature is True
    bad = await graph.client.post("/_fake/config", json={"phone_number_id": "1"})
    assert bad.status_code == 400


# --- faults ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        (130429, 400, True),
        (131056, 400, True),
        (131000, 500, True),
        (131026, 400, False),
        (190, 401, False),
    ],
)
async def test_injected_errors_answer_meta_bodies(
    asgi_client: httpx.AsyncClient, code: int, status: int, transient: bool
) -> None:
    await asgi_client.post("/_fake/faults", json={"fail_next": 1, "error_code": code})
    assert_meta_error(await asgi_client.post(MESSAGES, json=text_body(ANA, "hi")), status, code, transient=transient)
    assert (await asgi_client.post(MESSAGES, json=text_body(ANA, "hi"))).status_code == 200


async def test_injected_130429_is_transient(asgi_client: httpx.AsyncClient) -> None:
    await asgi_client.post("/_fake/faults", json={"error_rate": 1.0, "error_code": 130429})
    error = assert_meta_error(await asgi_client.post(MESSAGES, json=text_body(ANA, "hi")), 400, 130429, transient=True)
    assert error["message"] == "(#130429) Rate limit hit"
    assert error["error_data"] == {
        "messaging_product": "whatsapp",
        "details": "Cloud API message throughput has been reached.",
    }
    await asgi_client.post("/_fake/faults", json={"error_rate": 1.0, "error_code": 130429, "throttle_http_status": 429})
    assert (await asgi_client.post(MESSAGES, json=text_body(ANA, "hi"))).status_code == 429
    await asgi_client.delete("/_fake/faults")
    assert (await asgi_client.post(MESSAGES, json=text_body(ANA, "hi"))).status_code == 200


async def test_throughput_and_pair_limits_answer_130429_and_131056(asgi_client: httpx.AsyncClient) -> None:
    await asgi_client.post("/_fake/faults", json={"pair_limit": 2})
    codes = [(await asgi_client.post(MESSAGES, json=text_body(ANA, "x"))).status_code for _ in range(3)]
    assert codes == [200, 200, 400]
    assert (await asgi_client.post(MESSAGES, json=text_body(STRANGER, "x"))).status_code == 200
    await asgi_client.post("/_fake/faults", json={"max_mps": 3})
    responses = [await asgi_client.post(MESSAGES, json=text_body(f"1555000{i:04d}", "x")) for i in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 400]
    assert responses[-1].json()["error"]["code"] == 130429


async def test_http_5xx_fault_answers_transient_meta_error(asgi_client: httpx.AsyncClient) -> None:
    await asgi_client.post("/_fake/faults", json={"http_5xx_rate": 1.0})
    for _ in range(4):
        response = await asgi_client.post(MESSAGES, json=text_body(ANA, "hi"))
        assert response.status_code in (500, 503)
        assert response.json()["error"]["is_transient"] is True
    assert (await asgi_client.get("/_fake/messages")).json()["data"] == []


async def test_latency_fault_delays_graph_calls_not_control_calls(asgi_client: httpx.AsyncClient) -> None:
    await asgi_client.post("/_fake/faults", json={"latency_ms": 600_000})
    send = asyncio.create_task(asgi_client.post(MESSAGES, json=text_body(ANA, "hi")))
    async with asyncio.timeout(10):  # control calls answer whatever the latency
        await eventually(lambda: arrivals(asgi_client))  # the send is inside fakegraph
        control = await asgi_client.get("/_fake/faults")  # and this one, made after it, is answered first
    assert control.json()["latency_ms"] == 600_000
    assert not send.done()
    assert (await asgi_client.get("/_fake/messages")).json()["data"] == []
    send.cancel()


async def test_timeout_fault_hangs_until_client_gives_up(graph: Graph) -> None:
    await graph.client.post("/_fake/faults", json={"timeout_rate": 1.0})
    with pytest.raises(httpx.ReadTimeout):
        await graph.client.post(MESSAGES, json=text_body(ANA, "hi"), timeout=0.3)
    assert len(await arrivals(graph.client)) == 1  # it reached fakegraph, which never answered it

    async def hang_ended() -> list[dict[str, Any]]:  # fakegraph noticed the client leave (not after 120 s)
        return [r for r in (await graph.client.get("/_fake/requests")).json()["data"] if r["status"] == 504]

    await eventually(hang_ended)
    await graph.client.delete("/_fake/faults")
    assert (await graph.client.post(MESSAGES, json=text_body(ANA, "hi"))).status_code == 200


async def test_bad_fault_keys_are_refused(asgi_client: httpx.AsyncClient) -> None:
    response = await asgi_client.post("/_fake/faults", json={"eror_rate": 0.5})
    assert response.status_code == 400
    assert "eror_rate" in response.json()["error"]["message"]
    assert (await asgi_client.post("/_fake/faults", json={"error_rate": 2})).status_code == 400


async def test_failed_status_webhook_carries_meta_error(graph: Graph, receiver: Receiver) -> None:
    await graph.client.post("/_fake/faults", json={"failed_status_rate": 1.0, "failed_status_code": 131047})
    wamid = await send_text(graph.client, ANA, "hello?")
    await receiver.wait_for(lambda: "failed" in receiver.statuses(wamid))
    await life_played(wamid)
    assert receiver.statuses(wamid) == ["failed"]
    failed = next(h for h in receiver.hooks if h.status and h.status["id"] == wamid)
    assert failed.valid_signature
    (error,) = failed.status["errors"]  # type: ignore[index]
    assert error["code"] == 131047
    assert error["title"] == "Re-engagement message"
    assert "24 hours" in error["error_data"]["details"]
    assert error["href"].startswith("https://developers.facebook.com/")
    assert "pricing" not in failed.status  # type: ignore[operator]
    assert receiver.replies_to(wamid) == []


async def test_unreachable_numbers_and_closed_window_fail_like_meta(
    start_graph: Callable[..., Awaitable[Graph]], receiver: Receiver
) -> None:
    graph = await start_graph(unreachable_numbers=[STRANGER], enforce_window=True)
    lost = await send_text(graph.client, STRANGER, "hi")
    closed = await send_text(graph.client, ANA, "hi")
    await graph.client.post("/_fake/inbound", json={"from": ANA, "text": "hello!"})
    opened = await send_text(graph.client, ANA, "welcome")
    await receiver.wait_for(
        lambda: (
            "read" in receiver.statuses(opened)
            and "failed" in receiver.statuses(closed)
            and "failed" in receiver.statuses(lost)
        )
    )
    codes = {
        h.status["id"]: h.status["errors"][0]["code"]
        for h in receiver.hooks
        if h.status and h.status["status"] == "failed"
    }
    assert codes == {lost: 131026, closed: 131047}


async def test_duplicate_webhooks_arrive_twice_with_same_bytes(graph: Graph, receiver: Receiver) -> None:
    await graph.client.post("/_fake/faults", json={"duplicate_webhook_rate": 1.0})
    wamid = await send_text(graph.client, STRANGER, "hi")
    await receiver.wait_for(lambda: len(receiver.statuses(wamid)) == 6)
    assert receiver.statuses(wamid) == ["sent", "sent", "delivered", "delivered", "read", "read"]
    sent = [h.raw for h in receiver.hooks if h.status and h.status["status"] == "sent"]
    assert sent[0] == sent[1]
    log = (await graph.client.get("/_fake/webhooks", params={"wamid": wamid})).json()["data"]
    assert sum(1 for w in log if w["duplicate_of"] is not None) == 3


async def test_reordered_webhooks_post_read_before_sent(graph: Graph, receiver: Receiver) -> None:
    await graph.client.post("/_fake/faults", json={"reorder_webhooks": True})
    wamid = await send_text(graph.client, STRANGER, "hi")
    await receiver.wait_for(lambda: len(receiver.statuses(wamid)) == 3)
    assert receiver.statuses(wamid) == ["read", "delivered", "sent"]


async def test_seeded_instances_inject_the_same_faults() -> None:
    outcomes = []
    for _ in range(2):
        app = create_app(FakeGraphConfig(seed=42, reply=False))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://f.test") as client:
            await client.post("/_fake/faults", json={"error_rate": 0.5, "error_code": 131056})
            outcomes.append([(await client.post(MESSAGES, json=text_body(ANA, "x"))).status_code for _ in range(20)])
    assert outcomes[0] == outcomes[1]
    assert 200 in outcomes[0] and 400 in outcomes[0]


# --- control API ----------------------------------------------------------------------------------------


async def test_request_log_records_graph_calls_and_clears(asgi_client: httpx.AsyncClient) -> None:
    await asgi_client.post(MESSAGES, json=text_body(ANA, "logged"))
    await asgi_client.post(
        f"/v25.0/{PHONE_ID}/media",
        data={"messaging_product": "whatsapp"},
        files={"file": ("a.png", b"\x89PNG", "image/png")},
    )
    log = (await asgi_client.get("/_fake/requests")).json()["data"]
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", MESSAGES, 200),
        ("POST", f"/v25.0/{PHONE_ID}/media", 200),
    ]
    assert log[0]["body"]["text"] == {"body": "logged"}
    assert log[1]["body"]["file"] == {"filename": "a.png", "content_type": "image/png", "size": 4}
    await asgi_client.delete("/_fake/requests")
    assert (await asgi_client.get("/_fake/requests")).json()["data"] == []


async def test_contacts_and_reset(asgi_client: httpx.AsyncClient) -> None:
    contacts = (await asgi_client.get("/_fake/contacts")).json()["data"]
    assert 3 <= len(contacts) <= 4 and all(c["wa_id"].isdigit() and c["name"] for c in contacts)
    await asgi_client.post(MESSAGES, json=text_body(ANA, "hi"))
    await asgi_client.post("/_fake/faults", json={"latency_ms": 5})
    assert (await asgi_client.post("/_fake/reset")).json() == {"success": True}
    assert (await asgi_client.get("/_fake/messages")).json()["data"] == []
    assert (await asgi_client.get("/_fake/faults")).json()["latency_ms"] == 0


async def test_custom_contacts_are_the_ones_that_answer(
    start_graph: Callable[..., Awaitable[Graph]], receiver: Receiver
) -> None:
    graph = await start_graph(contacts=[SimulatedContact("4915112345678", "Jonas")])
    wamid = (await graph.client.post(MESSAGES, json=text_body("+49 151 12345678", "Wie geht's?"))).json()
    wamid = wamid["messages"][0]["id"]
    await receiver.wait_for(lambda: bool(receiver.replies_to(wamid)))
    assert receiver.replies_to(wamid)[0].value["contacts"][0] == {
        "profile": {"name": "Jonas"},
        "wa_id": "4915112345678",
    }


def test_command_line_builds_config() -> None:
    args = build_parser().parse_args(
        [
            "--port",
            "9000",
            "--callback",
            "http://127.0.0.1:1/webhooks/meta",
            "--app-secret",
            "s",
            "--speed",
            "5",
            "--seed",
            "3",
            "--more-phone-number-id",
            "100000000000002",
        ]
    )
    config = config_from_args(args)
    assert config.more_phone_number_ids == ["100000000000002"]
    assert (args.port, config.callback_url, config.app_secret, config.speed, config.seed) == (
        9000,
        "http://127.0.0.1:1/webhooks/meta",
        "s",
        5.0,
        3,
    )


async def test_batched_status_webhooks_carry_several_statuses(
    start_graph: Callable[..., Awaitable[Graph]], receiver: Receiver
) -> None:
    graph = await start_graph(webhook_batch_max=10, webhook_batch_window_ms=30)
    wamids = await asyncio.gather(*(send_text(graph.client, f"1555987{i:04d}", "hi") for i in range(6)))
    await receiver.wait_for(
        lambda: all(
            [s["status"] for h in receiver.hooks for s in h.value.get("statuses", []) if s["id"] == w]
            == ["sent", "delivered", "read"]
            for w in wamids
        )
    )
    assert all(h.valid_signature for h in receiver.hooks)
    assert max(len(h.value["statuses"]) for h in receiver.hooks) > 1
    log = (await graph.client.get("/_fake/webhooks", params={"wamid": wamids[-1]})).json()["data"]
    assert {w["status"] for w in log} <= {"sent", "delivered", "read"} and log
