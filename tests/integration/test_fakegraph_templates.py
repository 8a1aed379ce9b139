"""fakegraph's template management: create (PENDING, then reviewed after a delay scaled by `speed`), the
`message_template_status_update` webhook shaped like Meta's real one, delete by name or by name and hsm_id."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.integration import test_fakegraph as fg
from tests.integration.test_fakegraph import WABA_ID, Graph, Receiver, assert_meta_error
from tests.support import payload

# test_fakegraph's fixtures: a receiver of signed webhooks and fakegraph posting to it, 50x faster than life.
receiver, start_graph, graph = fg.receiver, fg.start_graph, fg.graph

TEMPLATES = f"/v25.0/{WABA_ID}/message_templates"
NEW: dict[str, Any] = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Hi {{1}}, it ships.", "example": {"body_text": [["Ana"]]}}],
}


async def listed(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    return (await client.get(TEMPLATES, params={"name": name})).json()["data"]  # type: ignore[no-any-return]


async def test_a_created_template_is_pending_then_approved_with_meta_s_webhook(
    graph: Graph, receiver: Receiver
) -> None:
    created = await graph.client.post(TEMPLATES, json=NEW)
    assert created.status_code == 200, created.text
    answer = created.json()
    assert answer["status"] == "PENDING" and answer["category"] == "UTILITY" and answer["id"].isdigit()
    assert [t["status"] for t in await listed(graph.client, "order_update")] == ["PENDING"]
    await receiver.wait_for(lambda: bool(receiver.hooks))
    (hook,) = receiver.hooks
    assert hook.valid_signature
    change = hook.payload["entry"][0]["changes"][0]
    real = payload("template_status_update", "approved")
    assert change["field"] == real["entry"][0]["changes"][0]["field"]
    assert sorted(change["value"]) == sorted(real["entry"][0]["changes"][0]["value"])
    assert change["value"]["event"] == "APPROVED" and change["value"]["message_template_id"] == int(answer["id"])
    assert hook.payload["entry"][0]["id"] == WABA_ID
    assert [t["status"] for t in await listed(graph.client, "order_update")] == ["APPROVED"]


async def test_a_reject_name_is_rejected_with_a_reason(graph: Graph, receiver: Receiver) -> None:
    assert (await graph.client.post(TEMPLATES, json={**NEW, "name": "reject_me"})).status_code == 200
    await receiver.wait_for(lambda: bool(receiver.hooks))
    value = receiver.hooks[0].value
    assert (value["event"], value["reason"]) == ("REJECTED", "INVALID_FORMAT")


async def test_create_refuses_a_duplicate_a_bad_name_and_a_missing_body(graph: Graph) -> None:
    assert (await graph.client.post(TEMPLATES, json=NEW)).status_code == 200
    error = assert_meta_error(await graph.client.post(TEMPLATES, json=NEW), 400, 100)
    assert error["error_subcode"] == 2388024
    assert_meta_error(await graph.client.post(TEMPLATES, json={**NEW, "name": "Bad-Name"}), 400, 100)
    no_body = copy.deepcopy(NEW) | {"name": "other", "components": [{"type": "FOOTER", "text": "x"}]}
    assert_meta_error(await graph.client.post(TEMPLATES, json=no_body), 400, 100)


async def test_delete_by_name_and_hsm_id_then_by_name(graph: Graph) -> None:
    (spanish,) = [t for t in await listed(graph.client, "order_shipped") if t["language"] == "es"]
    one = await graph.client.delete(TEMPLATES, params={"name": "order_shipped", "hsm_id": spanish["id"]})
    assert one.json() == {"success": True}
    assert [t["language"] for t in await listed(graph.client, "order_shipped")] == ["en_US"]
    assert (await graph.client.delete(TEMPLATES, params={"name": "order_shipped"})).json() == {"success": True}
    assert await listed(graph.client, "order_shipped") == []
    assert_meta_error(await graph.client.delete(TEMPLATES, params={"name": "order_shipped"}), 400, 100)
    # Each app keeps its own copy: a reset brings the built-in templates back.
    assert (await graph.client.post("/_fake/reset")).status_code == 200
    assert len(await listed(graph.client, "order_shipped")) == 2
