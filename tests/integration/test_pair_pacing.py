"""Meta's pair limit (about one message every 6 s to one customer, 131056): the sender paces each recipient on
its own, putting off only that recipient's messages, and never trips the limit fakegraph enforces."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import OpenWindow
from tests.support import eventually
from wahub import domain
from wahub.domain import ContactRef
from wahub.store import db, outbound
from wahub.store.models import Account
from wahub.worker import ratelimit

ADA, BO = "14155550101", "14155550102"


@pytest.fixture
def pair_pacer() -> ratelimit.PairPacer:
    # Scaled down for the test: a burst of 2, then one per second; fakegraph allows 4 per second.
    return ratelimit.PairPacer(interval=1.0, burst=2)


@pytest.fixture(autouse=True)
async def _windows(open_window: OpenWindow) -> None:
    await open_window(ADA, BO)


def _text(account: Account, wa_id: str, body: str) -> outbound.QueuedSend:
    return outbound.QueuedSend(account, ContactRef(wa_id=wa_id), domain.MessageType.TEXT, {"text": {"body": body}})


async def test_a_busy_recipient_waits_alone_and_meta_never_answers_131056(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    worker: None,
    graph_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        faults = {"pair_limit": 4, "pair_window_s": 1.0}
        assert (await fake.post("/_fake/faults", json=faults)).status_code == 200
        # Queued in one transaction, so the sender sees them together whatever the machine's speed (seven API
        # calls one after another took more than the pair's second on a slow CI machine: Ada's third was due).
        async with db.transaction(sessions) as session:
            queued = await outbound.queue_many(
                session, [_text(account, ADA, f"m{i}") for i in range(6)] + [_text(account, BO, "hi")]
            )
        ids = [r[0].id for r in queued if not isinstance(r, Exception)]
        to_ada, to_bo = ids[:6], ids[6]

        async def accepted(message_id: int) -> dict[str, Any] | None:
            body: dict[str, Any] = (await client.get(f"/api/v1/messages/{message_id}")).json()
            return body if body["wamid"] else None

        bo = await eventually(lambda: accepted(to_bo), timeout=10)
        for message_id in to_ada:
            await eventually(lambda m=message_id: accepted(m), timeout=20)
        requests = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
    assert bo["error"] is None
    # Bo was queued last, yet went out before Ada's third message, which her pair pace put off for a second.
    recipients = [r["body"]["to"].lstrip("+") for r in requests]
    assert recipients.index(BO) < [i for i, to in enumerate(recipients) if to == ADA][2], (
        "the other recipient was held back"
    )
    # fakegraph allows 4 per second to one recipient: all six at once would have met 131056.
    assert [r["status"] for r in requests] == [200] * 7, "fakegraph refused a send (131056)"
