"""Send leases shared out among senders (``store/leases.py``, ``worker/sender.py``): a second sender gets its
share of the numbers with work, the first hands them over once their sends are recorded, and no number is ever
sent for by two senders in one window; every message goes once."""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import domain, errors
from wahub.provider import base
from wahub.store import accounts, db, leases, outbound, outbox
from wahub.store.crypto import Vault
from wahub.store.models import Account, utcnow
from wahub.worker import ratelimit
from wahub.worker import sender as sender_module
from wahub.worker.sender import Sender

NUMBERS = 4
PER_NUMBER = 500
RATE = 100
TTL = timedelta(seconds=10)


async def add_accounts(sessions: async_sessionmaker[AsyncSession], vault: Vault, n: int) -> list[Account]:
    async with db.transaction(sessions) as session:
        return [
            await accounts.upsert_meta(
                session,
                vault,
                name=f"n{i}",
                phone_number_id=f"30000000000000{i}",
                waba_id="400000000000001",
                credentials=accounts.Credentials("token", "secret", "verify"),
            )
            for i in range(n)
        ]


async def test_a_sender_takes_at_most_its_fair_share_of_free_leases(
    sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    ids = [a.id for a in await add_accounts(sessions, vault, 5)]
    now = utcnow()
    async with db.transaction(sessions) as session:
        assert await leases.fair_share(session, "a", ids, TTL, now) == 5  # alone: every number
        assert await leases.fair_share(session, "b", ids, TTL, now) == 3  # two alive: rounded up
        won = await leases.acquire(session, "a", ids, TTL, now, most_new=3)
        assert [w.account_id for w in won] == ids[:3]
        # Its own are renewed whatever the cap; the other's are never taken while valid.
        again = await leases.acquire(session, "a", ids, TTL, now, most_new=0)
        assert [(w.account_id, w.new) for w in again] == [(i, False) for i in ids[:3]]
        assert [w.account_id for w in await leases.acquire(session, "b", ids, TTL, now, most_new=3)] == ids[3:]
        # A sender gone quiet for longer than its ttl no longer counts; one that left, at once.
        assert await leases.fair_share(session, "a", ids, TTL, now + TTL + timedelta(seconds=1)) == 5
        await leases.leave(session, "b")
        assert await leases.fair_share(session, "a", ids, TTL, now) == 5


class Recording:
    """A provider that takes every message after a short latency and notes which sender sent it, and when."""

    keeps_uploads = timedelta(days=1)
    uploads_files = True

    def __init__(self, number: str, who: str, log: list[tuple[str, str, str, float]]) -> None:
        self.number, self.who, self.log = number, who, log

    async def send(self, message: base.Outbound) -> base.Sent:
        self.log.append((self.number, self.who, message.recipient.key, time.monotonic()))
        await asyncio.sleep(0.02)
        return base.Sent(f"wamid.{self.number}.{message.recipient.key}")

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        pass

    async def upload(self, chunks: AsyncIterator[bytes], mime_type: str, filename: str) -> str:
        raise errors.PermanentProviderError("no uploads here")

    async def media_info(self, media_id: str) -> base.MediaInfo:
        raise errors.PermanentProviderError("no media here")

    async def download(self, url: str) -> AsyncIterator[bytes]:
        yield b""

    async def check_account(self) -> dict[str, Any]:
        return {}


async def test_a_second_sender_gets_its_share_and_no_number_has_two_senders_at_once(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sender_module, "RENEW_EVERY", 0.5)  # the handover in seconds rather than tens
    numbers = await add_accounts(sessions, vault, NUMBERS)
    async with db.transaction(sessions) as session:
        for account in numbers:
            account.send_rate = RATE
            session.add(account)
            everyone = [domain.ContactRef(wa_id=f"1555{account.id:03d}{i:04d}") for i in range(PER_NUMBER)]
            await outbound.queue_broadcast(
                session, account, everyone, domain.MessageType.TEMPLATE, {"template": {"name": "t"}}
            )
    sent: list[tuple[str, str, str, float]] = []

    def sender(who: str) -> Sender:
        def providers(account: base.Account) -> base.Provider:
            return Recording(account.number, who, sent)

        return Sender(sessions, providers, vault, send_rate=RATE, pairs=ratelimit.PairPacer(interval=0.001))

    stop = asyncio.Event()

    async def run(s: Sender) -> None:
        while not stop.is_set():
            if await s.run_once() == 0:
                await asyncio.sleep(0.05)
        await s.close()

    first = asyncio.create_task(run(sender("a")))
    await asyncio.sleep(0.7)
    second = asyncio.create_task(run(sender("b")))

    async def finished() -> bool:
        async with db.transaction(sessions) as session:
            return await outbox.depth(session) == 0

    deadline = time.monotonic() + 60
    while not await finished():
        assert time.monotonic() < deadline, "not every message was sent"
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(first, second)

    assert collections.Counter((number, to) for number, _, to, _ in sent).most_common(1)[0][1] == 1
    assert len(sent) == NUMBERS * PER_NUMBER
    by_number: dict[str, list[tuple[float, str]]] = collections.defaultdict(list)
    for number, who, _, at in sent:
        by_number[number].append((at, who))
    handed = 0
    for times in by_number.values():
        times.sort()
        # One holder after the other, never interleaved, a window and more apart.
        changes = [(a, b) for a, b in itertools.pairwise(times) if a[1] != b[1]]
        assert len(changes) <= 1
        for (before, _), (after, _) in changes:
            assert after - before >= 1.0 + ratelimit.WINDOW_GUARD
        handed += len(changes)
        stamps = [at for at, _ in times]
        assert max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps) <= RATE
    assert handed == NUMBERS // 2  # the first sender held all four and handed two over


async def test_a_sender_that_stalled_past_its_leases_takes_its_share_again(
    sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    numbers = await add_accounts(sessions, vault, 2)
    async with db.transaction(sessions) as session:
        for account in numbers:
            await outbound.queue_broadcast(
                session, account, [domain.ContactRef(wa_id="15550000001")], domain.MessageType.TEMPLATE, {}
            )
    sent: list[tuple[str, str, str, float]] = []

    def providers(account: base.Account) -> base.Provider:
        return Recording(account.number, "a", sent)

    stalled = Sender(sessions, providers, vault, send_rate=RATE, pairs=ratelimit.PairPacer(interval=0.001))
    await stalled._renew()
    assert all(n.may_send() for n in stalled._numbers.values())
    # It stalls past its leases: another sender took the first number (the second is still its own).
    async with db.transaction(sessions) as session:
        await leases.fair_share(session, "other", [], TTL)
        await leases.acquire(session, "other", [numbers[0].id], TTL, utcnow() + TTL)
    for number in stalled._numbers.values():
        number.deadline = time.monotonic() - 1
    await stalled._renew()
    # The lost number does not count towards its share, so it keeps sending for the second.
    assert not stalled._numbers[numbers[0].id].may_send()
    assert stalled._numbers[numbers[1].id].may_send()
    await stalled.close()
