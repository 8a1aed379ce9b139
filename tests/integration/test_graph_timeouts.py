"""The Graph client's two timeouts, against fakegraph: an answer that does not come in time leaves the outcome
unknown (Meta may have taken the message: its retry is a possible duplicate), while a request that never got a
connection in time was never sent (a plain transient failure, retried without the flag). No database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from fakegraph import FakeGraphConfig, create_app
from tests.support import eventually, running
from wahub import errors
from wahub.provider.graph import GraphClient

TOKEN = "graph-timeouts-token"
PHONE_ID = "100000000000001"
TEXT = {"to": "14155550101", "type": "text", "text": {"body": "hi"}}


@pytest.fixture
async def hanging_graph() -> AsyncIterator[str]:
    """fakegraph holding every send for 2 s before answering 504 (and taking nothing)."""
    config = FakeGraphConfig(access_token=TOKEN, phone_number_id=PHONE_ID, reply=False, speed=50)
    async with running(create_app(config)) as url:
        async with httpx.AsyncClient(base_url=url) as control:
            faults = {"timeout_rate": 1.0, "timeout_hang_s": 2.0}
            assert (await control.post("/_fake/faults", json=faults)).status_code == 200
        yield url


async def sends_logged(url: str) -> int:
    async with httpx.AsyncClient(base_url=url) as control:
        logged = (await control.get("/_fake/requests")).json()["data"]
    return sum(1 for r in logged if r["path"].endswith("/messages"))


async def test_an_answer_that_does_not_come_in_time_leaves_the_outcome_unknown(hanging_graph: str) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(errors.OutcomeUnknown):
            await GraphClient(http, hanging_graph, "v25.0", timeout=0.3).send_message(PHONE_ID, TOKEN, TEXT)
    # fakegraph logs a request when it answers: here once its hang notices the client left (polled every 50 ms,
    # at most the fixture's 2 s), which a loaded machine may not have done the moment the client gave up.
    assert await eventually(lambda: sends_logged(hanging_graph), timeout=5) == 1


async def test_a_send_that_never_got_a_connection_in_time_was_not_sent_and_is_no_possible_duplicate(
    hanging_graph: str,
) -> None:
    # One connection in the pool, held by a send fakegraph keeps waiting; the next send queues for it.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
        patient = GraphClient(http, hanging_graph, "v25.0", timeout=10)
        hasty = GraphClient(http, hanging_graph, "v25.0", timeout=0.3)
        holding = asyncio.create_task(patient.send_message(PHONE_ID, TOKEN, TEXT))
        await asyncio.sleep(0.2)  # the patient send has the connection
        with pytest.raises(errors.TransientProviderError) as queued:
            await hasty.send_message(PHONE_ID, TOKEN, TEXT)
        assert not isinstance(queued.value, errors.OutcomeUnknown), queued.value
        with pytest.raises(errors.TransientProviderError):  # fakegraph's 504 after its hang
            await holding
    assert await sends_logged(hanging_graph) == 1  # only the patient send reached "Meta"
