"""``POST /api/v1/messages`` for every type Meta sends: the exact JSON Meta receives (checked against the request
examples of Meta's OpenAPI description), Meta's limits checked before queueing, the 24-hour window, and
``Idempotency-Key``."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, OpenWindow
from tests.support import DATA, eventually, payload
from wahub.api.context import AppContext
from wahub.provider import meta
from wahub.provider.graph import GraphClient
from wahub.storage.base import content_key
from wahub.store import apikeys, db, messages
from wahub.store.models import Contact, Message, OutboxJob
from wahub.webhook.signature import meta_signature
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender

EXAMPLES: dict[str, dict[str, Any]] = json.loads((DATA / "meta-openapi-send-examples.json").read_text())
SCHEMAS = json.loads((DATA / "meta-openapi-send-schemas.json").read_text())
DOCS: dict[str, Any] = json.loads((DATA / "meta-docs-webhooks.json").read_text())
TO = "14155550101"
# Not a message: the read receipt / typing indicator has its own endpoint. Meta's own example omits "type",
# which then defaults to text, so Meta would refuse it too (test below).
NOT_SENT_AS_IS = {"Send typing indicator and read receipt", "Send Reply to List Message"}
MEDIA = ("image", "audio", "video", "document", "sticker")
# Interactive kinds that Meta's messages reference documents but its OpenAPI description does not list yet
# (InteractiveObject.type's enum stops at button, call_permission_request, catalog_message, list, product,
# product_list and flow).
NOT_IN_METAS_DESCRIPTION = {"cta_url", "location request"}


def prepared(name: str) -> dict[str, Any]:
    """An example with its placeholders filled in: our recipient, and real URLs where Meta wrote
    '<http(s)://…>' (wahub checks that a media link is an http(s) URL), a language code where it wrote
    'language-and-locale-code', a header type where it wrote '<HEADER_TYPE>'."""
    body = copy.deepcopy(EXAMPLES[name])
    body["to"] = f"+{TO}"
    for kind in MEDIA:
        if kind in body and "link" in body[kind]:
            body[kind]["link"] = f"https://media.example.com/{kind}.bin"
    header = body.get("interactive", {}).get("header", {})
    if header.get("type") == "<HEADER_TYPE>":
        header["type"] = "text"
    language = body.get("template", {}).get("language", {})
    if language.get("code") == "language-and-locale-code":
        language["code"] = "en_US"
    return body


def schema_errors(body: dict[str, Any]) -> set[str]:
    """Where ``body`` departs from Meta's OpenAPI description: the envelope checked by ``BaseMessageProperties``,
    the content by its type's schema, and no top-level field that neither names.

    Each ``*Message`` schema is ``allOf: [BaseMessageProperties, {additionalProperties: false, …}]``, which under
    JSON Schema's rules refuses every body (the second part does not list the envelope's fields), Meta's own
    examples included; so the two parts are checked apart, with the meaning Meta intended."""
    schemas = SCHEMAS["components"]["schemas"]
    kind = body["type"]
    base_ref, own = schemas[schemas["Message"]["discriminator"]["mapping"][kind].split("/")[-1]]["allOf"]
    assert base_ref == {"$ref": "#/components/schemas/BaseMessageProperties"}
    found: set[str] = set()
    for instance, schema in ((body, schemas["BaseMessageProperties"]), (body[kind], own["properties"][kind])):
        # The components ride along in the root, so that the schemas' "#/components/…" references resolve.
        validator = Draft202012Validator({"components": SCHEMAS["components"], "allOf": [schema]})
        found |= {f"{list(e.absolute_path)}: {e.message[:100]}" for e in validator.iter_errors(instance)}
    known = set(schemas["BaseMessageProperties"]["properties"]) | set(own["properties"])
    found |= {f"unknown top-level field {extra!r}" for extra in set(body) - known}
    return found


def meta_receives(body: dict[str, Any]) -> dict[str, Any]:
    """What Meta must receive for a body sent to wahub: the same, with the recipient as E.164 digits and
    Meta's defaults written out."""
    expected = {"messaging_product": "whatsapp", "recipient_type": "individual", "type": "text", **body}
    expected["to"] = TO
    return expected


@pytest.fixture(autouse=True)
async def _window_open(open_window: OpenWindow) -> None:
    await open_window(TO)


async def test_every_openapi_send_example_reaches_fakegraph_exactly(
    client: httpx.AsyncClient, worker: None, graph_url: str
) -> None:
    names = [n for n in EXAMPLES if n not in NOT_SENT_AS_IS]
    assert len(names) == 48
    own = own_bodies()
    for name in names:
        response = await client.post("/api/v1/messages", json=prepared(name))
        assert response.status_code == 202, (name, response.text)
    for name, body in own.items():
        response = await client.post("/api/v1/messages", json=body)
        assert response.status_code == 202, (name, response.text)

    async with httpx.AsyncClient(base_url=graph_url) as fake:

        async def all_sent() -> list[dict[str, Any]] | None:
            rows: list[dict[str, Any]] = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
            return rows if len(rows) >= len(names) + len(own) else None

        requests = await eventually(all_sent, timeout=30)
    received = [r["body"] for r in requests]
    for name in names:
        expected = meta_receives(prepared(name))
        assert expected in received, (name, expected)
        # Meta's description contradicts some of its own examples (a required language 'policy', coordinates as
        # strings, template button index and sub_type spellings, order kinds missing from an enum): what wahub
        # sends may only depart from the schema where Meta's example itself does.
        assert schema_errors(expected) <= schema_errors(meta_receives({**EXAMPLES[name], "to": TO})), name
    disagreeing = {n for n in names if schema_errors(meta_receives({**EXAMPLES[n], "to": TO}))}
    assert len(disagreeing) == 14, sorted(disagreeing)
    for name, body in own.items():
        expected = meta_receives(body)
        assert expected in received, (name, expected)
        if name not in NOT_IN_METAS_DESCRIPTION:
            assert schema_errors(expected) == set(), name
    assert len(received) == len(names) + len(own)  # each sent once


async def test_metas_example_without_a_type_is_refused_as_a_text_without_text(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/messages", json=prepared("Send Reply to List Message"))
    assert response.status_code == 422
    assert "a text message needs a 'text' object" in response.text


TEXT = {"to": f"+{TO}", "type": "text", "text": {"body": "hi"}}
BUTTONS = {
    "type": "button",
    "body": {"text": "Pick one"},
    "action": {"buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": f"Option {i}"}} for i in range(3)]},
}
LIST = {
    "type": "list",
    "body": {"text": "Menu"},
    "action": {"button": "Open", "sections": [{"title": "All", "rows": [{"id": "r1", "title": "First"}]}]},
}


def with_(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``base`` with the value at a dotted path (list indexes as numbers) replaced."""
    body = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return body


def interactive(part: dict[str, Any]) -> dict[str, Any]:
    return {"to": f"+{TO}", "type": "interactive", "interactive": part}


def own_bodies() -> dict[str, dict[str, Any]]:
    """Bodies written for wahub, one per kind, each using what wahub checks; Meta's schema must accept them."""
    to = {"to": f"+{TO}"}
    return {
        "text with preview": {**to, "type": "text", "text": {"body": "see https://example.com", "preview_url": True}},
        "image by link": {**to, "type": "image", "image": {"link": "https://x.example/a.jpg", "caption": "A"}},
        "document by id": {**to, "type": "document", "document": {"id": "1234", "filename": "report.pdf"}},
        "reaction": {**to, "type": "reaction", "reaction": {"message_id": "wamid.ABC", "emoji": "👍"}},
        "buttons": interactive(BUTTONS),
        "list": interactive(LIST),
        "cta_url": interactive(
            {
                "type": "cta_url",
                "body": {"text": "Your order"},
                "action": {"name": "cta_url", "parameters": {"display_text": "Track", "url": "https://x.example/t"}},
            }
        ),
        "flow": interactive(
            {
                "type": "flow",
                "body": {"text": "Sign up"},
                "action": {
                    "name": "flow",
                    "parameters": {"flow_message_version": "3", "flow_id": "42", "flow_cta": "Start"},
                },
            }
        ),
        "location request": interactive(
            {"type": "location_request_message", "body": {"text": "Where?"}, "action": {"name": "send_location"}}
        ),
        "reply": {**to, "type": "text", "text": {"body": "yes"}, "context": {"message_id": "wamid.PREV"}},
    }


REFUSED = [
    ("text over 4,096", with_(TEXT, "text.body", "x" * 4097), "text.body", "4096"),
    ("empty text", with_(TEXT, "text.body", ""), "text.body", "at least 1"),
    ("unknown field in text", with_(TEXT, "text.bold", True), "text.bold", "not permitted"),
    (
        "caption over 1,024",
        {"to": TO, "type": "image", "image": {"link": "https://x.example/a.jpg", "caption": "c" * 1025}},
        "image.caption",
        "1024",
    ),
    ("media without id or link", {"to": TO, "type": "image", "image": {"caption": "c"}}, "image", "by one of 'id'"),
    (
        "media with both id and link",
        {"to": TO, "type": "video", "video": {"id": "1", "link": "https://x.example/v.mp4"}},
        "video",
        "by one of 'id'",
    ),
    ("media link not http", {"to": TO, "type": "audio", "audio": {"link": "file:///etc/passwd"}}, "audio.link", "http"),
    (
        "latitude out of range",
        {"to": TO, "type": "location", "location": {"latitude": 91, "longitude": 0}},
        "latitude",
        "90",
    ),
    ("type without its object", {"to": TO, "type": "image", "text": {"body": "x"}}, "body", "needs a 'image' object"),
    ("two contents", {**TEXT, "image": {"id": "1"}}, "body", "cannot also carry 'image'"),
    ("unknown type", {**TEXT, "type": "fax"}, "type", "text"),
    ("four buttons", interactive(with_(BUTTONS, "action.buttons", BUTTONS["action"]["buttons"] * 2)), "buttons", "3"),
    (
        "button title over 20",
        interactive(with_(BUTTONS, "action.buttons.0.reply.title", "t" * 21)),
        "reply.title",
        "20",
    ),
    (
        "two buttons with one id",
        interactive(with_(BUTTONS, "action.buttons.1.reply.id", "b0")),
        "interactive",
        "its own id",
    ),
    ("buttons without body", interactive({k: v for k, v in BUTTONS.items() if k != "body"}), "button.body", "required"),
    (
        "list row title over 24",
        interactive(with_(LIST, "action.sections.0.rows.0.title", "r" * 25)),
        "rows.0.title",
        "24",
    ),
    (
        "list with 11 rows",
        interactive(with_(LIST, "action.sections.0.rows", [{"id": f"r{i}", "title": f"Row {i}"} for i in range(11)])),
        "rows",
        "10",
    ),
    (
        "cta_url text over 20",
        interactive(
            {
                "type": "cta_url",
                "body": {"text": "b"},
                "action": {"name": "cta_url", "parameters": {"display_text": "d" * 21, "url": "https://x.example"}},
            }
        ),
        "parameters.display_text",
        "20",
    ),
    (
        "flow without flow id or name",
        interactive(
            {
                "type": "flow",
                "body": {"text": "b"},
                "action": {"name": "flow", "parameters": {"flow_message_version": "3", "flow_cta": "Go"}},
            }
        ),
        "interactive.flow.action.parameters",
        "flow_id or by flow_name",
    ),
    (
        "six contact cards",
        {"to": TO, "type": "contacts", "contacts": [{"name": {"formatted_name": f"C {i}"}} for i in range(6)]},
        "contacts",
        "5",
    ),
    ("template without language", {"to": TO, "type": "template", "template": {"name": "x"}}, "language", "required"),
    ("not a phone number", {**TEXT, "to": "12345"}, "to", "phone number"),
]


@pytest.mark.parametrize(("case", "body", "field", "limit"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_a_body_over_metas_limits_gets_422_naming_the_field_and_the_limit(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], case: str, body: Any, field: str, limit: str
) -> None:
    response = await client.post("/api/v1/messages", json=body)
    assert response.status_code == 422, (case, response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in json.dumps(error), (case, error)
    assert limit in json.dumps(error), (case, error)
    async with db.transaction(sessions) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


async def test_free_form_to_a_closed_window_is_refused_and_a_template_passes(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    stranger = "+14155550109"  # has never written
    refused = await client.post("/api/v1/messages", json={**TEXT, "to": stranger})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "window_closed"
    assert "template" in error["message"]
    template = {"to": stranger, "type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}
    assert (await client.post("/api/v1/messages", json=template)).status_code == 202
    async with db.transaction(sessions) as session:
        types = (await session.scalars(sa.select(Message.type))).all()
    assert types == ["template"]


async def test_the_same_idempotency_key_and_body_queue_one_message(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post("/api/v1/messages", json=TEXT, headers=headers)
    # The same body with its keys in another order is the same request.
    again = await client.post("/api/v1/messages", json=dict(reversed(list(TEXT.items()))), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    async with db.transaction(sessions) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(OutboxJob)) == 1


async def test_the_same_idempotency_key_with_another_body_is_409(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    headers = {"Idempotency-Key": "order-43"}
    assert (await client.post("/api/v1/messages", json=TEXT, headers=headers)).status_code == 202
    other = await client.post("/api/v1/messages", json=with_(TEXT, "text.body", "changed"), headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"
    assert "Idempotency-Key" in other.json()["error"]["message"]
    async with db.transaction(sessions) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


async def test_idempotency_keys_belong_to_their_api_key(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], base_url: str
) -> None:
    async with db.transaction(sessions) as session:
        _row, other_key = await apikeys.create(session, "other program")
    headers = {"Idempotency-Key": "shared-name"}
    first = await client.post("/api/v1/messages", json=TEXT, headers=headers)
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {other_key}"}) as other:
        second = await other.post("/api/v1/messages", json=TEXT, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] != second.json()["id"]


async def test_without_a_key_each_post_is_a_new_message(client: httpx.AsyncClient) -> None:
    ids = {(await client.post("/api/v1/messages", json=TEXT)).json()["id"] for _ in range(2)}
    assert len(ids) == 2


async def test_mark_read_with_typing_sends_metas_read_receipt_once_and_clears_unread(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, worker: None, graph_url: str
) -> None:
    inbound = payload("message", "text")
    raw = json.dumps(inbound).encode()
    headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, raw), "Content-Type": "application/json"}
    assert (await anon.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200

    async def stored() -> dict[str, Any] | None:
        items: list[dict[str, Any]] = (await client.get("/api/v1/messages?direction=inbound")).json()["items"]
        return items[0] if items else None

    message = await eventually(stored, timeout=10)
    conversations = (await client.get("/api/v1/conversations")).json()["items"]
    assert [c["unread_count"] for c in conversations if c["id"] == message["conversation_id"]] == [1]

    first = await client.post(f"/api/v1/messages/{message['id']}/read", json={"typing_indicator": True})
    again = await client.post(f"/api/v1/messages/{message['id']}/read")
    assert first.status_code == again.status_code == 202
    assert again.json()["typing_indicator"] is True

    async with httpx.AsyncClient(base_url=graph_url) as fake:

        async def receipt() -> list[dict[str, Any]] | None:
            rows: list[dict[str, Any]] = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
            return rows or None

        requests = await eventually(receipt, timeout=10)
    example = EXAMPLES["Send typing indicator and read receipt"]
    assert [r["body"] for r in requests] == [{**example, "message_id": message["wamid"]}]
    conversations = (await client.get("/api/v1/conversations")).json()["items"]
    assert [c["unread_count"] for c in conversations if c["id"] == message["conversation_id"]] == [0]


async def test_only_an_inbound_message_can_be_marked_read(client: httpx.AsyncClient) -> None:
    sent = (await client.post("/api/v1/messages", json=TEXT)).json()
    response = await client.post(f"/api/v1/messages/{sent['id']}/read")
    assert response.status_code == 422
    assert "inbound" in response.json()["error"]["message"]
    assert (await client.post("/api/v1/messages/999999/read")).status_code == 404


async def test_a_group_message_reaches_meta_with_the_group_as_recipient_and_has_its_own_conversation(
    client: httpx.AsyncClient, worker: None, graph_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    group = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD"  # the shape of Meta's group ids
    body = {"recipient_type": "group", "to": group, "type": "text", "text": {"body": "Standup at 10"}}
    sent = await client.post("/api/v1/messages", json=body)  # no window: groups have none
    assert sent.status_code == 202, sent.text
    async with httpx.AsyncClient(base_url=graph_url) as fake:

        async def received() -> list[dict[str, Any]] | None:
            rows = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
            return [r["body"] for r in rows] or None

        bodies = await eventually(received, timeout=20)
    assert bodies == [{"messaging_product": "whatsapp", **body}]
    async with db.transaction(sessions) as session:
        message = await messages.get(session, sent.json()["id"])
        contact = await session.get(Contact, message.contact_id)
    assert message.group_id == group
    assert contact is not None and contact.user_id == f"group:{group}"
    # Meta's Groups API sends text, media and templates; anything else is refused before queueing.
    location = {"type": "location", "location": {"latitude": 1.0, "longitude": 2.0}}
    refused = await client.post("/api/v1/messages", json={**location, "recipient_type": "group", "to": group})
    assert refused.status_code == 422 and "group message" in refused.text
    bad_id = await client.post("/api/v1/messages", json={**body, "to": "not a group!"})
    assert bad_id.status_code == 422 and "group id" in bad_id.text


async def test_a_members_message_in_a_group_sits_in_the_groups_conversation_with_the_business_replies(
    client: httpx.AsyncClient, anon: httpx.AsyncClient, worker: None, sessions: async_sessionmaker[AsyncSession]
) -> None:
    incoming = payload_with_our_number(DOCS["group_text_message"])  # Meta's reference example
    group = incoming["entry"][0]["changes"][0]["value"]["messages"][0]["group_id"]
    body = json.dumps(incoming).encode()
    headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, body), "Content-Type": "application/json"}
    assert (await anon.post("/webhooks/meta", content=body, headers=headers)).status_code == 200

    async def stored() -> dict[str, Any] | None:
        found = (await client.get("/api/v1/messages", params={"direction": "inbound"})).json()["items"]
        return found[0] if found else None

    inbound = await eventually(stored, timeout=20)
    reply = {"recipient_type": "group", "to": group, "type": "text", "text": {"body": "Yes, ready at 3"}}
    sent = (await client.post("/api/v1/messages", json=reply)).json()
    # One chat for the group, both ways; the member wrote it, and has no chat of their own for it.
    assert inbound["group_id"] == group and inbound["contact"]["wa_id"] == "16505551234"
    assert inbound["conversation_id"] == sent["conversation_id"]
    async with db.transaction(sessions) as session:
        member = (await session.scalars(sa.select(Contact).where(Contact.wa_id == "16505551234"))).one()
        chats = (await session.scalars(sa.select(Message.conversation_id).where(Message.contact_id == member.id))).all()
        group_chat = await session.get(Contact, sent["contact"]["id"])
    assert member.profile_name == "Sheena Nelson" and chats == [sent["conversation_id"]]
    assert group_chat is not None and group_chat.user_id == f"group:{group}"


def payload_with_our_number(webhook: dict[str, Any]) -> dict[str, Any]:
    """A reference payload addressed to the tests' account."""
    changed = copy.deepcopy(webhook)
    for entry in changed["entry"]:
        for change in entry["changes"]:
            change["value"]["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
    return changed


async def test_an_uploaded_document_reaches_meta_by_media_id_with_its_filename(
    client: httpx.AsyncClient, worker: None, graph_url: str
) -> None:
    data = b"%PDF-1.4\n" + bytes(range(256)) * 80
    up = await client.post("/api/v1/media", files={"file": ("report.pdf", data, "application/pdf")})
    assert up.status_code == 201, up.text
    uploaded = up.json()
    assert (uploaded["state"], uploaded["size"], uploaded["filename"]) == ("stored", len(data), "report.pdf")
    assert uploaded["sha256"] == hashlib.sha256(data).hexdigest()
    document = {"wahub_media_id": uploaded["id"], "filename": "Q3 report.pdf", "caption": "Q3"}
    for _ in range(2):
        sent = await client.post("/api/v1/messages", json={"to": f"+{TO}", "type": "document", "document": document})
        assert sent.status_code == 202, sent.text

    async with httpx.AsyncClient(base_url=graph_url) as fake:

        async def both_sent() -> list[dict[str, Any]] | None:
            rows = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
            return [r["body"] for r in rows] if len(rows) >= 2 else None

        bodies = await eventually(both_sent, timeout=20)
        uploads = (await fake.get("/_fake/requests?path_contains=/media")).json()["data"]
        meta_id = bodies[0]["document"]["id"]
        stored = (await fake.get(f"/v25.0/{meta_id}", headers={"Authorization": f"Bearer {ACCESS_TOKEN}"})).json()
    # Meta received the file once (the second send reuses Meta's id), under its name, and the message by id.
    assert [u["body"]["file"]["filename"] for u in uploads if u["method"] == "POST"] == ["report.pdf"]
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert all(b["document"] == {"id": meta_id, "filename": "Q3 report.pdf", "caption": "Q3"} for b in bodies)


async def test_sends_of_one_file_claimed_together_upload_it_to_meta_once(
    client: httpx.AsyncClient, graph_url: str, ctx: AppContext, pair_pacer: Any
) -> None:
    data = b"%PDF-1.4\n" + bytes(range(256)) * 40
    uploaded = (await client.post("/api/v1/media", files={"file": ("price list.pdf", data, "application/pdf")})).json()
    document = {"wahub_media_id": uploaded["id"], "filename": "price list.pdf"}
    for _ in range(3):  # queued before the sender runs: it claims them in one batch and sends them at once
        sent = await client.post("/api/v1/messages", json={"to": f"+{TO}", "type": "document", "document": document})
        assert sent.status_code == 202, sent.text
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        # Meta is slow to take the file: the three sends are all waiting for an upload at once.
        assert (await fake.post("/_fake/faults", json={"latency_ms": 300})).status_code == 200
        stop = asyncio.Event()
        async with aiohttp.ClientSession() as http:
            sender = Sender(
                ctx.sessions, meta.providers(GraphClient(http, graph_url, "v25.0")), ctx.vault, send_rate=80,
                pairs=pair_pacer,
                storage=ctx.storage,
            )  # fmt: skip
            task = asyncio.create_task(Worker(ctx.notifier, sender=sender).run(stop))

            async def all_sent() -> list[dict[str, Any]] | None:
                rows = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
                return rows if len(rows) >= 3 else None

            try:
                sends = await eventually(all_sent, timeout=20)
            finally:
                stop.set()
                await task
        uploads = [
            u for u in (await fake.get("/_fake/requests?path_contains=/media")).json()["data"] if u["method"] == "POST"
        ]
    assert len(uploads) == 1
    assert len({r["body"]["document"]["id"] for r in sends}) == 1


async def test_uploads_and_sends_of_uploads_are_checked_against_metas_types_and_limits(
    client: httpx.AsyncClient,
) -> None:
    exe = await client.post("/api/v1/media", files={"file": ("x.exe", b"MZ", "application/x-msdownload")})
    assert exe.status_code == 422 and "does not take" in exe.text
    big = await client.post("/api/v1/media", files={"file": ("big.png", b"\0" * (5 * 1024 * 1024 + 1), "image/png")})
    assert big.status_code == 422 and "5,242,880 bytes" in big.text
    empty = await client.post("/api/v1/media", files={"file": ("e.pdf", b"", "application/pdf")})
    assert empty.status_code == 422
    pdf = (await client.post("/api/v1/media", files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")})).json()
    as_image = await client.post(
        "/api/v1/messages", json={"to": f"+{TO}", "type": "image", "image": {"wahub_media_id": pdf["id"]}}
    )
    assert as_image.status_code == 422 and "cannot be sent as image" in as_image.text
    unknown = await client.post(
        "/api/v1/messages", json={"to": f"+{TO}", "type": "document", "document": {"wahub_media_id": 99999}}
    )
    assert unknown.status_code == 422 and "document.wahub_media_id" in unknown.text
    both = await client.post(
        "/api/v1/messages",
        json={"to": f"+{TO}", "type": "document", "document": {"wahub_media_id": pdf["id"], "id": "123"}},
    )
    assert both.status_code == 422


async def test_an_upload_whose_file_left_the_storage_fails_with_that_reason(
    client: httpx.AsyncClient, worker: None, ctx: AppContext
) -> None:
    data = b"%PDF-1.4\n" + bytes(range(256)) * 3
    uploaded = (await client.post("/api/v1/media", files={"file": ("gone.pdf", data, "application/pdf")})).json()
    await ctx.storage.delete(content_key(uploaded["sha256"]))  # someone emptied the bucket
    document = {"wahub_media_id": uploaded["id"], "filename": "gone.pdf"}
    sent = (
        await client.post("/api/v1/messages", json={"to": f"+{TO}", "type": "document", "document": document})
    ).json()

    async def failed() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/v1/messages/{sent['id']}")).json()
        return body if body["status"] == "failed" else None

    message = await eventually(failed, timeout=20)
    assert "gone from the storage" in message["error"]["title"]
