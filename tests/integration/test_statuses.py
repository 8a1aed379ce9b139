"""Statuses only move forward, each reached status keeps its time, and early statuses wait for their message."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import domain
from wahub.domain import ContactRef, MessageStatus
from wahub.store import db, messages, outbound, statuses, subscriber_webhooks
from wahub.store.models import Account, Message, MessageWamid

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def status(
    wamid: str, value: str, second: int, *, errors: tuple[domain.ProviderErrorInfo, ...] = ()
) -> domain.StatusUpdate:
    return domain.StatusUpdate(
        phone_number_id="1122334455667",
        provider_id=wamid,
        status=MessageStatus(value),
        timestamp=T0.replace(second=second),
        recipient=ContactRef(wa_id="14155550101"),
        raw={},
        errors=errors,
    )


async def queued(sessions: async_sessionmaker[AsyncSession], account: Account, wamid: str | None) -> int:
    async with db.transaction(sessions) as session:
        message, _contact = await outbound.queue_message(
            session,
            account,
            ContactRef(wa_id="14155550101"),
            domain.MessageType.TEMPLATE,
            {"template": {"name": "hello_world", "language": {"code": "en_US"}}},
            free_form=False,  # a template: no open window needed
        )
        if wamid:
            await messages.record_accepted(session, [(message.id, wamid)])
        return message.id


async def load(sessions: async_sessionmaker[AsyncSession], message_id: int) -> Message:
    async with db.transaction(sessions) as session:
        return await messages.get(session, message_id)


async def apply(sessions: async_sessionmaker[AsyncSession], account: Account, *updates: domain.StatusUpdate) -> None:
    for update in updates:
        async with db.transaction(sessions) as session:
            await statuses.record_many(session, [(account.id, update)])


async def test_status_never_moves_backwards(sessions: async_sessionmaker[AsyncSession], account: Account) -> None:
    message_id = await queued(sessions, account, "wamid.A")
    await apply(
        sessions, account, status("wamid.A", "read", 3), status("wamid.A", "delivered", 2), status("wamid.A", "sent", 1)
    )
    message = await load(sessions, message_id)
    assert message.status == "read"
    # Each status reached still records its own time, even when it arrived late.
    assert (message.sent_at, message.delivered_at, message.read_at) == (
        T0.replace(second=1),
        T0.replace(second=2),
        T0.replace(second=3),
    )


async def test_repeated_status_keeps_its_first_time(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    message_id = await queued(sessions, account, "wamid.B")
    await apply(sessions, account, status("wamid.B", "delivered", 2), status("wamid.B", "delivered", 9))
    message = await load(sessions, message_id)
    assert message.status == "delivered" and message.delivered_at == T0.replace(second=2)


async def test_failed_status_carries_metas_error(sessions: async_sessionmaker[AsyncSession], account: Account) -> None:
    message_id = await queued(sessions, account, "wamid.C")
    error = domain.ProviderErrorInfo(code=131047, title="Re-engagement message", details="more than 24 hours")
    await apply(sessions, account, status("wamid.C", "sent", 1), status("wamid.C", "failed", 2, errors=(error,)))
    message = await load(sessions, message_id)
    assert (message.status, message.error_code, message.error_title) == ("failed", 131047, "Re-engagement message")
    assert message.failed_at == T0.replace(second=2)


async def test_status_before_its_message_is_applied_when_the_wamid_is_recorded(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    message_id = await queued(sessions, account, None)
    await apply(sessions, account, status("wamid.D", "delivered", 2), status("wamid.D", "sent", 1))
    assert (await load(sessions, message_id)).status == "queued"
    async with db.transaction(sessions) as session:
        await messages.record_accepted(session, [(message_id, "wamid.D")])
    message = await load(sessions, message_id)
    assert message.status == "delivered"
    assert message.sent_at == T0.replace(second=1) and message.delivered_at == T0.replace(second=2)


async def test_the_same_status_twice_is_recorded_once(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    message_id = await queued(sessions, account, "wamid.F")
    for _ in range(3):
        async with db.transaction(sessions) as session:
            await statuses.record_many(session, [(account.id, status("wamid.F", "delivered", 2))] * 2)
    async with db.transaction(sessions) as session:
        records = await statuses.for_message(session, message_id)
    assert [(r.status, r.wamid) for r in records] == [("delivered", "wamid.F")]


async def test_unattached_status_is_applied_by_the_sweep_when_the_race_hid_it(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    # The status was recorded while the send's result was committed elsewhere: neither saw the other.
    await apply(sessions, account, status("wamid.E", "delivered", 2))
    message_id = await queued(sessions, account, None)
    async with db.transaction(sessions) as session:
        (await messages.get(session, message_id)).wamid = "wamid.E"  # set without attach(), as the race does
    async with db.transaction(sessions) as session:
        assert await statuses.attach_waiting(session) == 1
    message = await load(sessions, message_id)
    assert message.status == "delivered" and message.delivered_at == T0.replace(second=2)
    async with db.transaction(sessions) as session:
        assert await statuses.attach_waiting(session) == 0


async def test_a_status_hidden_by_the_race_is_applied_when_a_later_status_arrives_before_the_sweep(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    # As above, and then "read" arrives before the sweep ran: it must apply "delivered" too, not just mark it
    # attached (which would hide it from the sweep for good, and lose its time).
    await apply(sessions, account, status("wamid.G", "delivered", 2))
    message_id = await queued(sessions, account, None)
    async with db.transaction(sessions) as session:
        (await messages.get(session, message_id)).wamid = "wamid.G"
    await apply(sessions, account, status("wamid.G", "read", 3))
    message = await load(sessions, message_id)
    assert message.status == "read"
    assert (message.delivered_at, message.read_at) == (T0.replace(second=2), T0.replace(second=3))
    async with db.transaction(sessions) as session:
        assert await statuses.attach_waiting(session) == 0
        assert [r.message_id for r in await statuses.for_message(session, message_id)] == [message_id] * 2


ORDERS = list(itertools.permutations(["sent", "delivered", "read", "played"]))


async def test_statuses_in_every_order_end_the_same_before_or_after_the_wamid_is_known(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    seconds = {"sent": 1, "delivered": 2, "read": 3, "played": 4}
    for n, order in enumerate(ORDERS):
        for early in (False, True):
            wamid = f"wamid.order{n}{early}"
            message_id = await queued(sessions, account, None if early else wamid)
            await apply(sessions, account, *(status(wamid, s, seconds[s]) for s in order))
            await apply(sessions, account, status(wamid, order[0], seconds[order[0]]))  # and one repeated
            if early:
                async with db.transaction(sessions) as session:
                    await messages.record_accepted(session, [(message_id, wamid)])
            message = await load(sessions, message_id)
            assert message.status == "played", (order, early)
            assert [message.sent_at, message.delivered_at, message.read_at, message.played_at] == [
                T0.replace(second=s) for s in (1, 2, 3, 4)
            ], (order, early)
            async with db.transaction(sessions) as session:
                assert len(await statuses.for_message(session, message_id)) == 4


async def test_late_sent_does_not_overwrite_failed(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    message_id = await queued(sessions, account, "wamid.G")
    error = domain.ProviderErrorInfo(code=131026, title="Message undeliverable", details=None)
    await apply(sessions, account, status("wamid.G", "failed", 2, errors=(error,)), status("wamid.G", "sent", 1))
    message = await load(sessions, message_id)
    assert (message.status, message.error_code, message.sent_at) == ("failed", 131026, T0.replace(second=1))


async def test_a_message_accepted_twice_keeps_both_wamids_and_either_copys_statuses_move_it(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    # A sender lost its lease while the send was on the wire; the next holder sent the message again. Each
    # copy got a wamid, in either order, and Meta reports statuses for both, some before either result.
    for first_result in ("wamid.copy1", "wamid.copy2"):
        one, two = f"{first_result}.a", f"{first_result}.b"
        message_id = await queued(sessions, account, None)
        await apply(sessions, account, status(two, "sent", 1))  # overtakes both results
        async with db.transaction(sessions) as session:
            await messages.record_accepted(session, [(message_id, one)])
        async with db.transaction(sessions) as session:
            await messages.record_accepted(session, [(message_id, two)])
            await messages.record_accepted(session, [(message_id, two)])  # recorded again: harmless
        await apply(sessions, account, status(one, "delivered", 2), status(two, "read", 3))
        message = await load(sessions, message_id)
        assert message.wamid == one  # the first result recorded stays the message's wamid
        assert message.status == "read"
        assert (message.sent_at, message.delivered_at, message.read_at) == tuple(
            T0.replace(second=s) for s in (1, 2, 3)
        )
        async with db.transaction(sessions) as session:
            records = await statuses.for_message(session, message_id)
            assert await statuses.attach_waiting(session) == 0  # nothing left unattached
        async with db.transaction(sessions) as session:  # a reaction or reply to either copy finds it too
            named = await messages.by_wamids(session, {(account.id, one), (account.id, two)})
        assert {key: m.id for key, m in named.items()} == {(account.id, one): message_id, (account.id, two): message_id}
        assert sorted((r.wamid, r.status) for r in records) == sorted(
            [(two, "sent"), (one, "delivered"), (two, "read")]
        )


async def test_a_batch_of_results_sets_each_wamid_once_keeps_a_second_copy_and_applies_early_statuses(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    first, fresh, early = [await queued(sessions, account, None) for _ in range(3)]
    async with db.transaction(sessions) as session:
        await messages.record_accepted(session, [(first, "wamid.B1")])
    await apply(sessions, account, status("wamid.B3", "sent", 1))  # overtakes its result
    engine = db.engine_of(sessions)
    updates: list[bool] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.startswith("UPDATE messages"):
            updates.append(executemany)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with db.transaction(sessions) as session:
            out = subscriber_webhooks.Collector({1: frozenset()})  # one subscription, for every event
            await messages.record_accepted(
                session, [(first, "wamid.B1x"), (fresh, "wamid.B2"), (early, "wamid.B3")], out
            )
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)
    loaded = [await load(sessions, m) for m in (first, fresh, early)]
    assert [(m.wamid, m.status) for m in loaded] == [
        ("wamid.B1", "accepted"),  # its first wamid stays; the second send is a copy
        ("wamid.B2", "accepted"),
        ("wamid.B3", "sent"),
    ]
    async with db.transaction(sessions) as session:
        copies = (await session.execute(sa.select(MessageWamid.wamid, MessageWamid.message_id))).all()
        assert await statuses.attach_waiting(session) == 0
    assert [tuple(c) for c in copies] == [("wamid.B1x", first)]
    reported = [data for event in out.events if isinstance(event, tuple) for data in event[1:]]
    assert sorted((data["message_id"], data["status"]) for data in reported) == [
        (fresh, "accepted"),
        (early, "accepted"),
        (early, "sent"),
    ]
    if engine.dialect.name == "postgresql":
        assert updates[0] is False  # the batch's wamids in one UPDATE … FROM, not one per row


async def test_the_sweep_attaches_a_second_copys_status_the_race_hid(
    sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    message_id = await queued(sessions, account, "wamid.H1")
    await apply(sessions, account, status("wamid.H2", "delivered", 2))
    async with db.transaction(sessions) as session:
        # The copy's wamid written without attach_to(), as a concurrent transaction would leave it.
        session.add(MessageWamid(account_id=account.id, wamid="wamid.H2", message_id=message_id))
    async with db.transaction(sessions) as session:
        assert await statuses.attach_waiting(session) == 1
    assert (await load(sessions, message_id)).status == "delivered"
