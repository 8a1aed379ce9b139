"""The Graph client's Groups API calls against fakegraph: every call on Meta's path, and Meta's group errors
translated into wahub's classes with a reason a person can act on."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.integration import test_fakegraph as fg
from tests.integration.test_fakegraph import ANA, PHONE_ID, TOKEN, Graph, Receiver
from tests.integration.test_fakegraph_groups import group_items
from wahub import errors
from wahub.provider.graph import GraphClient

receiver, start_graph, graph = fg.receiver, fg.start_graph, fg.graph


async def test_a_group_s_whole_life_through_the_graph_client(start_graph: Any, receiver: Receiver) -> None:
    graph: Graph = await start_graph(max_groups=1)
    async with aiohttp.ClientSession() as http:
        client = GraphClient(http, graph.url, "v25.0")
        request_id = await client.create_group(PHONE_ID, TOKEN, "Ops", "Daily ops", "approval_required")
        await receiver.wait_for(lambda: bool(group_items(receiver, "group_lifecycle_update")))
        (created,) = group_items(receiver, "group_lifecycle_update")
        assert created["request_id"] == request_id
        group_id = created["group_id"]
        assert [g["id"] for g in await client.groups(PHONE_ID, TOKEN)] == [group_id]
        info = await client.group_info(group_id, TOKEN)
        assert (info["subject"], info["join_approval_mode"]) == ("Ops", "approval_required")
        link = await client.invite_link(group_id, TOKEN)
        assert link == created["invite_link"]
        new_link = await client.invite_link(group_id, TOKEN, reset=True)
        assert new_link != link
        asked = (await graph.client.post("/_fake/groups/join", json={"invite_link": new_link, "wa_id": ANA})).json()
        (open_,) = await client.join_requests(group_id, TOKEN)
        assert open_["join_request_id"] == asked["join_request_id"]
        answer = await client.answer_join_requests(group_id, TOKEN, [asked["join_request_id"]], approve=True)
        assert answer["approved_join_requests"] == [asked["join_request_id"]]
        assert (await client.group_info(group_id, TOKEN))["participants"] == [{"wa_id": ANA}]
        await client.update_group(group_id, TOKEN, "Renamed", None)
        await client.remove_participants(group_id, TOKEN, [ANA])
        assert (await client.group_info(group_id, TOKEN))["subject"] == "Renamed"

        with pytest.raises(errors.PermanentProviderError) as limit:
            await client.create_group(PHONE_ID, TOKEN, "Second", None, "auto_approve")
        assert limit.value.code == 131211 and "limit of groups" in limit.value.message
        await client.delete_group(group_id, TOKEN)
        with pytest.raises(errors.PermanentProviderError) as gone:
            await client.invite_link(group_id, TOKEN)
        assert gone.value.code == 131041 and "does not exist" in gone.value.message


async def test_a_full_group_refuses_an_approval_with_the_8_participant_reason(graph: Graph, receiver: Receiver) -> None:
    async with aiohttp.ClientSession() as http:
        client = GraphClient(http, graph.url, "v25.0")
        await client.create_group(PHONE_ID, TOKEN, "Ops", None, "approval_required")
        await receiver.wait_for(lambda: bool(group_items(receiver, "group_lifecycle_update")))
        (created,) = group_items(receiver, "group_lifecycle_update")
        group_id, link = created["group_id"], created["invite_link"]
        requests = []
        for n in range(9):
            joined = await graph.client.post(
                "/_fake/groups/join", json={"invite_link": link, "wa_id": f"1415555030{n}"}
            )
            requests.append(joined.json()["join_request_id"])
        await client.answer_join_requests(group_id, TOKEN, requests[:8], approve=True)
        with pytest.raises(errors.PermanentProviderError) as full:
            await client.answer_join_requests(group_id, TOKEN, requests[8:], approve=True)
        assert full.value.code == 131204 and "at most 8 participants" in full.value.message
        rejected = await client.answer_join_requests(group_id, TOKEN, requests[8:], approve=False)
        assert rejected["rejected_join_requests"] == requests[8:]
