"""Templates (issue 17 item 1): sync from Meta (every page, on request, after a template webhook), the list with
its filters, create checked against Meta's rules, delete, preview, and template sends checked before queueing.
fakegraph plays Meta; the webhook is Meta's real ``message_template_status_update`` payload."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, WABA_ID
from tests.support import eventually, payload
from wahub.api.context import AppContext
from wahub.automations import template_sync
from wahub.provider.graph import GraphClient
from wahub.store import account_events, db, template_syncs, templates
from wahub.store.models import Account, Template, TemplateSync, utcnow
from wahub.webhook.signature import meta_signature
from wahub.worker.deliverer import Deliverer
from wahub.worker.processor import Processor
from wahub.worker.runner import Worker

FAKEGRAPH_TEMPLATES = 8  # fakegraph's built-in templates (src/fakegraph/templates.py)


@pytest.fixture
async def graph(ctx: AppContext, graph_url: str) -> AsyncIterator[GraphClient]:
    """The Graph client on fakegraph, 3 templates a page, given to the app for its template calls."""
    async with aiohttp.ClientSession() as http:
        client = GraphClient(http, graph_url, "v25.0")
        client.template_page = 3
        ctx.template_api = client
        yield client


@pytest.fixture
async def fake(graph_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """fakegraph itself: its control API and its Graph endpoints (with the account's token)."""
    headers = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    async with httpx.AsyncClient(base_url=graph_url, headers=headers) as c:
        yield c


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str], Template]:
    async with db.transaction(sessions) as session:
        return {(t.name, t.language): t for t in (await session.scalars(sa.select(Template))).all()}


async def graph_calls(fake: httpx.AsyncClient, method: str) -> list[dict[str, Any]]:
    log = (await fake.get("/_fake/requests")).json()
    entries = log["data"]
    return [e for e in entries if e["method"] == method and "message_templates" in e["path"]]


async def test_sync_reads_every_page_and_forgets_what_meta_no_longer_has(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], graph: GraphClient, fake: httpx.AsyncClient
) -> None:
    async with db.transaction(sessions) as session:
        await templates.upsert_many(session, WABA_ID, [{"name": "deleted_at_meta", "language": "en", "components": []}])
    answer = await client.post("/api/v1/templates/sync")
    assert answer.status_code == 200, answer.text
    (sync,) = answer.json()
    assert (sync["waba_id"], sync["synced"]) == (WABA_ID, FAKEGRAPH_TEMPLATES)
    assert sync["synced_at"] is not None and sync["reason"] == "daily"
    rows = await stored(sessions)
    assert len(rows) == FAKEGRAPH_TEMPLATES and ("deleted_at_meta", "en") not in rows
    assert rows["seasonal_promotion", "en_US"].components[0]["text"] == "Our {{1}} is on!"
    assert rows["spring_launch", "en_US"].status == "REJECTED"
    pages = await graph_calls(fake, "GET")
    assert len(pages) == 3  # 8 templates, 3 a page


async def test_list_filters_by_name_status_language_and_pages(client: httpx.AsyncClient, graph: GraphClient) -> None:
    assert (await client.post("/api/v1/templates/sync")).status_code == 200
    approved = (await client.get("/api/v1/templates", params={"status": "approved"})).json()["items"]
    assert len(approved) == 6 and all(t["status"] == "APPROVED" for t in approved)
    shipped = (await client.get("/api/v1/templates", params={"name": "order"})).json()["items"]
    assert sorted(t["language"] for t in shipped) == ["en_US", "es"]
    spanish = (await client.get("/api/v1/templates", params={"language": "es"})).json()["items"]
    assert [(t["name"], t["category"]) for t in spanish] == [("order_shipped", "UTILITY")]
    assert spanish[0]["components"][1]["type"] == "BODY" and spanish[0]["hsm_id"] == "1403547297061286"
    seen, cursor = [], None
    while True:
        page = (
            await client.get("/api/v1/templates", params={"limit": 3, **({"cursor": cursor} if cursor else {})})
        ).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == FAKEGRAPH_TEMPLATES


async def test_a_real_status_webhook_updates_the_template_and_makes_a_sync_due_at_once(
    anon: httpx.AsyncClient,
    ctx: AppContext,
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    account: Account,
    graph: GraphClient,
) -> None:
    await template_sync.sync(sessions, graph, ctx.vault, WABA_ID)
    async with db.transaction(sessions) as session:
        first = await template_syncs.get(session, WABA_ID)
        assert first is not None and first.synced_at is not None
        synced_at = first.synced_at
        # Meta's next daily sync is a day away: nothing is due.
        assert await template_syncs.claim(session) == []
    body = copy.deepcopy(payload("template_status_update", "rejected"))
    body["entry"][0]["id"] = WABA_ID  # Meta's sample is another account's; the rest is as Meta sent it
    value = body["entry"][0]["changes"][0]["value"]
    value["message_template_name"], value["message_template_language"] = "order_shipped", "es"
    raw = json.dumps(body).encode()
    headers = {"X-Hub-Signature-256": meta_signature(APP_SECRET, raw), "Content-Type": "application/json"}
    assert (await anon.post("/webhooks/meta", content=raw, headers=headers)).status_code == 200
    assert await Processor(sessions, event_sessions).run_once() == 1
    rows = await stored(sessions)
    assert (rows["order_shipped", "es"].status, rows["order_shipped", "es"].reason) == ("REJECTED", "INVALID_FORMAT")
    async with db.transaction(sessions) as session:
        due = await template_syncs.get(session, WABA_ID)
        assert due is not None and due.reason == "webhook" and due.run_at <= due.synced_at + template_syncs.DAILY
    syncer = template_sync.TemplateSyncer(sessions, graph, ctx.vault)
    assert await syncer.run_once() == 1  # the webhook's sync, now; Meta's list says the template is APPROVED
    rows = await stored(sessions)
    assert rows["order_shipped", "es"].status == "APPROVED"
    async with db.transaction(sessions) as session:
        after = await template_syncs.get(session, WABA_ID)
    assert after is not None and after.synced_at is not None and after.synced_at > synced_at
    assert after.reason == "daily"


async def test_a_webhook_arriving_while_a_sync_runs_makes_another_sync_due_after_it(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with db.transaction(sessions) as session:
        await template_syncs.request(session, [WABA_ID], template_syncs.START)
    async with db.transaction(sessions) as session:
        ((sync_id, waba_id, attempts),) = await template_syncs.claim(session)
    assert (waba_id, attempts) == (WABA_ID, 1)
    async with db.transaction(sessions) as session:  # the sync is reading Meta's list; a webhook comes
        await template_syncs.request(session, [WABA_ID], template_syncs.WEBHOOK)
        assert await template_syncs.claim(session) == []  # not while the first one holds it
    async with db.transaction(sessions) as session:
        await template_syncs.done(session, sync_id, 8)
    async with db.transaction(sessions) as session:
        again = await template_syncs.claim(session)
    assert [w for _, w, _ in again] == [WABA_ID]
    async with db.transaction(sessions) as session:
        await template_syncs.done(session, again[0][0], 8)
        assert await template_syncs.claim(session) == []  # then a day away: the daily sync
        tomorrow = utcnow() + template_syncs.DAILY + timedelta(seconds=1)
        assert [w for _, w, _ in await template_syncs.claim(session, now=tomorrow)] == [WABA_ID]


async def test_a_created_template_is_approved_by_webhook_and_synced_by_the_worker(
    client: httpx.AsyncClient, ctx: AppContext, sessions: async_sessionmaker[AsyncSession], graph: GraphClient
) -> None:
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        worker = Worker(
            ctx.notifier,
            processor=Processor(sessions, db.sessionmaker(ctx.events)),
            deliverer=Deliverer(sessions, http, ctx.vault),
            templates=template_sync.TemplateSyncer(sessions, graph, ctx.vault),
        )
        task = asyncio.create_task(worker.run(stop))
        try:
            created = await client.post("/api/v1/templates", json=VALID)
            assert created.status_code == 201, created.text
            assert (created.json()["status"], created.json()["name"]) == ("PENDING", "order_update")

            async def approved() -> bool:
                rows = await stored(sessions)
                row = rows.get(("order_update", "en_US"))
                async with db.transaction(sessions) as session:
                    sync = (await session.scalars(sa.select(TemplateSync))).one_or_none()
                # Synced after the approval: the webhook's sync (the start's ran before the template existed).
                return row is not None and row.status == "APPROVED" and sync is not None and sync.synced == 9

            await eventually(approved)
        finally:
            stop.set()
            await task


VALID: dict[str, Any] = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#1234"]}},
        {
            "type": "BODY",
            "text": "Hi {{1}}, your order {{2}} ships on {{3}}.",
            "example": {"body_text": [["Ana", "#1234", "Friday"]]},
        },
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Track",
                    "url": "https://example.com/t/{{1}}",
                    "example": ["https://example.com/t/1"],
                },
                {"type": "QUICK_REPLY", "text": "Thanks"},
            ],
        },
    ],
}


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_DROP = object()
BODY = VALID["components"][1]

REFUSED = [
    ("uppercase name", _with(("name",), "Order_Update"), "name"),
    ("name with a dash", _with(("name",), "order-update"), "name"),
    ("name over 512", _with(("name",), "a" * 513), "name"),
    ("no body", _with(("components",), [VALID["components"][0]]), "BODY component"),
    ("two footers", _with(("components",), VALID["components"] + [{"type": "FOOTER", "text": "x"}]), "at most one"),
    ("header over 60", _with(("components", 0, "text"), "x" * 61), "HEADER.text: at most 60"),
    ("two header variables", _with(("components", 0, "text"), "{{1}} and {{2}}"), "at most one variable"),
    ("body over 1024", _with(("components", 1, "text"), "Hi {{1}} " + "x" * 1020), "BODY.text: at most 1024"),
    ("variables out of order", _with(("components", 1, "text"), "Hi {{2}}, order {{1}} on {{3}}."), "in order"),
    ("a gap in the variables", _with(("components", 1, "text"), "Hi {{1}}, order {{3}} on {{4}}."), "in order"),
    ("named and numbered", _with(("components", 1, "text"), "Hi {{name}}, order {{1}} ok."), "not both"),
    ("example missing", _with(("components", 1, "example"), _DROP), "{{1}} has none"),
    ("an example short", _with(("components", 1, "example"), {"body_text": [["Ana", "#1"]]}), "{{3}} has none"),
    ("variable at the end", _with(("components", 1, "text"), "Hi {{1}}, order {{2}} ships on {{3}}"), "start or"),
    ("footer variable", _with(("components", 2, "text"), "Bye {{1}}"), "footer takes no variables"),
    ("button text over 25", _with(("components", 3, "buttons", 1, "text"), "x" * 26), "at most 25"),
    ("eleven buttons", _with(("components", 3, "buttons"), [{"type": "QUICK_REPLY", "text": "x"}] * 11), "at most 10"),
    ("url button without example", _with(("components", 3, "buttons", 0, "example"), _DROP), "example link"),
    ("unknown category", _with(("category",), "PROMOTIONS"), "category"),
]


@pytest.mark.parametrize(("case", "body", "named"), REFUSED, ids=[c[0] for c in REFUSED])
async def test_create_refuses_what_meta_would_refuse_and_sends_nothing(
    client: httpx.AsyncClient, graph: GraphClient, fake: httpx.AsyncClient, case: str, body: dict[str, Any], named: str
) -> None:
    answer = await client.post("/api/v1/templates", json=body)
    assert answer.status_code == 422, answer.text
    assert named in answer.json()["error"]["message"], answer.json()
    assert await graph_calls(fake, "POST") == []


async def test_create_named_variables_with_their_examples_passes(client: httpx.AsyncClient, graph: GraphClient) -> None:
    body = _with(
        ("components", 1),
        {
            "type": "BODY",
            "text": "Hi {{first_name}}, your code is {{code}}.",
            "example": {
                "body_text_named_params": [
                    {"param_name": "first_name", "example": "Ana"},
                    {"param_name": "code", "example": "42"},
                ]
            },
        },
    )
    body["parameter_format"] = "NAMED"
    body["components"] = body["components"][1:]
    answer = await client.post("/api/v1/templates", json=body)
    assert answer.status_code == 201, answer.text
    duplicate = await client.post("/api/v1/templates", json=body)
    assert duplicate.status_code == 422 and "already exists" in duplicate.json()["error"]["message"]


async def test_delete_one_language_then_every_language(
    client: httpx.AsyncClient, graph: GraphClient, fake: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert (await client.post("/api/v1/templates/sync")).status_code == 200
    one = await client.delete("/api/v1/templates/order_shipped", params={"language": "es"})
    assert one.status_code == 200 and one.json() == {"deleted": 1}
    rows = await stored(sessions)
    assert ("order_shipped", "es") not in rows and ("order_shipped", "en_US") in rows
    (call,) = await graph_calls(fake, "DELETE")
    assert call["query"] == {"name": "order_shipped", "hsm_id": "1403547297061286"}
    everything = await client.delete("/api/v1/templates/appointment_reminder")
    assert everything.json() == {"deleted": 1}
    assert (await client.delete("/api/v1/templates/appointment_reminder")).status_code == 422  # Meta: not found
    assert (await client.post("/api/v1/templates/sync")).json()[0]["synced"] == FAKEGRAPH_TEMPLATES - 2


async def test_preview_renders_the_template_as_the_recipient_reads_it(
    client: httpx.AsyncClient, graph: GraphClient
) -> None:
    assert (await client.post("/api/v1/templates/sync")).status_code == 200
    params = {
        "language": "en_US",
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "Winter Sale"}]},
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Sunday"},
                    {"type": "text", "text": "SNOW"},
                    {"type": "currency", "currency": {"fallback_value": "$10", "code": "USD", "amount_1000": 10000}},
                ],
            },
        ],
    }
    answer = await client.post("/api/v1/templates/seasonal_promotion/preview", json=params)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["header"] == "Our Winter Sale is on!"
    assert shown["body"] == "Shop now through Sunday and use code SNOW to get $10 off of all merchandise."
    assert shown["footer"] == "Not interested? Tap Stop promotions"
    assert shown["text"].splitlines()[-1] == "[Stop promotions]"
    params["components"][1]["parameters"].pop()
    short = await client.post("/api/v1/templates/seasonal_promotion/preview", json=params)
    assert short.status_code == 422 and "{{3}} is missing" in short.json()["error"]["message"]
    unknown = await client.post("/api/v1/templates/nope/preview", json={"language": "en_US"})
    assert unknown.status_code == 404


def _send(name: str, components: list[dict[str, Any]], language: str = "en_US") -> dict[str, Any]:
    template = {"name": name, "language": {"code": language}, "components": components}
    return {"to": "+14155550101", "type": "template", "template": template}


IMAGE = {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://example.com/a.jpg"}}]}
BODY3 = {"type": "body", "parameters": [{"type": "text", "text": v} for v in ("Ana", "#1", "Friday")]}
URL_BUTTON = {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "10234"}]}

SEND_REFUSED = [
    ("no image header", [BODY3, URL_BUTTON], "header needs a parameter of type image"),
    (
        "a video for an image",
        [{**IMAGE, "parameters": [{"type": "video", "video": {"id": "1"}}]}, BODY3, URL_BUTTON],
        "one image parameter, got video",
    ),
    (
        "two body parameters",
        [IMAGE, {"type": "body", "parameters": BODY3["parameters"][:2]}, URL_BUTTON],
        "{{3}} is missing",
    ),
    (
        "a body parameter of a wrong type",
        [
            IMAGE,
            {
                "type": "body",
                "parameters": [{"type": "image", "image": {"link": "https://x.io/a.png"}}, *BODY3["parameters"][1:]],
            },
            URL_BUTTON,
        ],
        "parameter 1 is of type 'image'",
    ),
    ("no url button parameter", [IMAGE, BODY3], "button 0 (“Track order”) needs a parameter"),
    ("a button index it lacks", [IMAGE, BODY3, URL_BUTTON, {**URL_BUTTON, "index": "3"}], "no button at index '3'"),
]


@pytest.mark.parametrize(("case", "components", "named"), SEND_REFUSED, ids=[c[0] for c in SEND_REFUSED])
async def test_a_template_send_is_checked_against_the_stored_template(
    client: httpx.AsyncClient, graph: GraphClient, case: str, components: list[dict[str, Any]], named: str
) -> None:
    assert (await client.post("/api/v1/templates/sync")).status_code == 200
    answer = await client.post("/api/v1/messages", json=_send("order_shipped", components))
    assert answer.status_code == 422, answer.text
    assert named in answer.json()["error"]["message"]
    ok = await client.post("/api/v1/messages", json=_send("order_shipped", [IMAGE, BODY3, URL_BUTTON]))
    assert ok.status_code == 202, ok.text


async def test_an_unknown_template_is_refused_only_once_a_sync_has_read_the_list(
    client: httpx.AsyncClient, graph: GraphClient
) -> None:
    before = await client.post("/api/v1/messages", json=_send("made_yesterday", []))
    assert before.status_code == 202, before.text  # never synced: wahub cannot know, Meta decides
    assert (await client.post("/api/v1/templates/sync")).status_code == 200
    after = await client.post("/api/v1/messages", json=_send("made_yesterday", []))
    assert after.status_code == 422
    assert "no template 'made_yesterday' in en_US" in after.json()["error"]["message"]
    paused = await client.post("/api/v1/messages", json=_send("feedback_survey", [BODY3]))
    assert paused.status_code == 422 and "PAUSED" in paused.json()["error"]["message"]


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_status_webhook_applied_while_the_new_template_is_uncommitted_makes_one_row_with_its_status(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The API writes the template Meta just created while the processor applies Meta's status webhook for it
    (before: the second insert hit the unique name and language: a 500 at the API, a replay at the processor)."""
    created = {"name": "night_shift", "language": "en_US", "status": "PENDING", "category": "UTILITY", "id": "991"}
    approved = account_events.NewEvent(
        field="message_template_status_update",
        waba_id=WABA_ID,
        phone_number_id=None,
        raw={"event": "APPROVED", "message_template_name": "night_shift", "message_template_language": "en_US"},
        occurred_at=None,
        account_id=None,
    )

    async def processor() -> None:
        async with db.transaction(sessions) as session:
            await account_events.record_many(session, [approved])

    async with db.transaction(sessions) as api:
        await templates.upsert_many(api, WABA_ID, [created])
        applying = asyncio.create_task(processor())
        await asyncio.sleep(0.5)  # the processor has looked for the template by now, or waits for it
    await applying
    async with sessions() as session:
        rows = list(await session.execute(sa.select(Template.name, Template.status, Template.provider_template_id)))
    assert [tuple(r) for r in rows] == [("night_shift", "APPROVED", "991")]
