"""fakegraph's Groups API: a group created answers a request id and its `group_lifecycle_update` brings the
id and invite link; users join through the link (or ask to, with approval on); Meta's limits and errors; the
group webhooks signed; a message to the group gets a delivered and a read status per participant."""

from __future__ import annotations

from typing import Any

from tests.integration import test_fakegraph as fg
from tests.integration.test_fakegraph import ANA, MESSAGES, PHONE_ID, Graph, Receiver, assert_meta_error

receiver, start_graph, graph = fg.receiver, fg.start_graph, fg.graph

GROUPS = f"/v25.0/{PHONE_ID}/groups"
BEN = "14155550102"


def group_items(receiver: Receiver, field: str) -> list[dict[str, Any]]:
    return [
        item
        for hook in receiver.hooks
        for change in hook.payload["entry"][0]["changes"]
        if change["field"] == field
        for item in change["value"]["groups"]
    ]


async def created_group(graph: Graph, receiver: Receiver, **body: Any) -> dict[str, Any]:
    answer = await graph.client.post(GROUPS, json={"messaging_product": "whatsapp", "subject": "Ops", **body})
    assert answer.status_code == 200, answer.text
    request_id = answer.json()["request_id"]
    await receiver.wait_for(
        lambda: any(i.get("request_id") == request_id for i in group_items(receiver, "group_lifecycle_update"))
    )
    (item,) = [i for i in group_items(receiver, "group_lifecycle_update") if i["request_id"] == request_id]
    return item


async def join(graph: Graph, link: str, wa_id: str) -> dict[str, Any]:
    response = await graph.client.post("/_fake/groups/join", json={"invite_link": link, "wa_id": wa_id})
    return {"status": response.status_code, **response.json()}


async def test_a_group_is_created_by_webhook_and_a_user_joins_through_its_link(
    graph: Graph, receiver: Receiver
) -> None:
    item = await created_group(graph, receiver, description="Daily ops")
    assert item["type"] == "group_create" and item["invite_link"].startswith("https://chat.whatsapp.com/")
    assert all(h.valid_signature for h in receiver.hooks)
    group_id = item["group_id"]
    info = (await graph.client.get(f"/v25.0/{group_id}")).json()
    assert (info["subject"], info["description"], info["total_participant_count"]) == ("Ops", "Daily ops", 0)
    link = (await graph.client.get(f"/v25.0/{group_id}/invite_link")).json()["invite_link"]
    assert link == item["invite_link"]
    assert (await join(graph, link, ANA))["joined"] is True
    await receiver.wait_for(lambda: bool(group_items(receiver, "group_participants_update")))
    (added,) = group_items(receiver, "group_participants_update")
    assert (added["type"], added["reason"], added["added_participants"]) == (
        "group_participants_add",
        "invite_link",
        [{"wa_id": ANA}],
    )
    info = (await graph.client.get(f"/v25.0/{group_id}", params={"fields": "participants"})).json()
    assert info == {"id": group_id, "participants": [{"wa_id": ANA}]}
    listed = (await graph.client.get(GROUPS)).json()["data"]["groups"]
    assert [g["id"] for g in listed] == [group_id]
    # A reset link replaces the old one: nobody joins through the old one any more.
    new = (await graph.client.post(f"/v25.0/{group_id}/invite_link", json={"messaging_product": "whatsapp"})).json()
    assert new["invite_link"] != link
    assert (await join(graph, link, BEN))["error"]["code"] == 131041


async def test_a_group_message_gets_a_delivered_and_a_read_per_participant(graph: Graph, receiver: Receiver) -> None:
    item = await created_group(graph, receiver)
    group_id, link = item["group_id"], item["invite_link"]
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "group",
        "to": group_id,
        "type": "text",
        "text": {"body": "hi"},
    }
    assert_meta_error(await graph.client.post(MESSAGES, json=body), 400, 131020)  # nobody but the business yet
    await join(graph, link, ANA)
    await join(graph, link, BEN)
    interactive = {
        **body,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "x"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "A"}}]},
        },
    }
    assert_meta_error(await graph.client.post(MESSAGES, json=interactive), 400, 131009)
    sent = await graph.client.post(MESSAGES, json=body)
    assert sent.status_code == 200, sent.text
    wamid = sent.json()["messages"][0]["id"]
    await fg.life_played(wamid)

    def statuses() -> list[tuple[str, str | None]]:
        return sorted(
            (s["status"], s.get("recipient_participant_id"))
            for h in receiver.hooks
            for s in h.value.get("statuses", [])
            if s["id"] == wamid
        )

    await receiver.wait_for(lambda: len(statuses()) == 5)
    assert statuses() == [("delivered", ANA), ("delivered", BEN), ("read", ANA), ("read", BEN), ("sent", None)]


async def test_meta_s_group_limits_and_join_requests(start_graph: Any, receiver: Receiver) -> None:
    graph = await start_graph(max_groups=1)
    item = await created_group(graph, receiver, join_approval_mode="approval_required")
    group_id = item["group_id"]
    assert_meta_error(
        await graph.client.post(GROUPS, json={"messaging_product": "whatsapp", "subject": "2nd"}), 400, 131211
    )
    assert_meta_error(await graph.client.post(GROUPS.replace("groups", "x"), json={}), 400, 2500)
    assert_meta_error(
        await graph.client.post(GROUPS, json={"messaging_product": "whatsapp", "subject": "x" * 129}), 400, 100
    )
    requested = await join(graph, item["invite_link"], ANA)
    assert requested["joined"] is False
    open_ = (await graph.client.get(f"/v25.0/{group_id}/join_requests")).json()["data"]
    assert [(r["join_request_id"], r["wa_id"]) for r in open_] == [(requested["join_request_id"], ANA)]
    approve = {"messaging_product": "whatsapp", "join_requests": [requested["join_request_id"]]}
    approved = (await graph.client.post(f"/v25.0/{group_id}/join_requests", json=approve)).json()
    assert approved["approved_join_requests"] == [requested["join_request_id"]]
    for n in range(7):
        req = await join(graph, item["invite_link"], f"1415555020{n}")
        await graph.client.post(
            f"/v25.0/{group_id}/join_requests", json={**approve, "join_requests": [req["join_request_id"]]}
        )
    assert (await graph.client.get(f"/v25.0/{group_id}")).json()["total_participant_count"] == 8
    full = await join(graph, item["invite_link"], BEN)
    assert (full["status"], full["error"]["code"]) == (400, 131204)
    removed = await graph.client.request(
        "DELETE",
        f"/v25.0/{group_id}/participants",
        json={"messaging_product": "whatsapp", "participants": [{"user": ANA}]},
    )
    assert removed.status_code == 200
    update = {"messaging_product": "whatsapp", "subject": "Renamed"}
    assert (await graph.client.post(f"/v25.0/{group_id}", json=update)).json() == {"success": True}
    assert (await graph.client.delete(f"/v25.0/{group_id}")).json() == {"success": True}
    assert_meta_error(await graph.client.get(f"/v25.0/{group_id}"), 400, 100)  # no such object any more
    await receiver.wait_for(
        lambda: any(i["type"] == "group_delete" for i in group_items(receiver, "group_lifecycle_update"))
    )
    kinds = {i["type"] for i in group_items(receiver, "group_participants_update")}
    assert {"group_join_request_created", "group_participants_add", "group_participants_remove"} <= kinds
    (settings,) = group_items(receiver, "group_settings_update")
    assert settings["group_subject"] == {"text": "Renamed", "update_successful": True}
