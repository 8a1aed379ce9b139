"""Sent at most once where Meta can confirm it (``OutboxJob.confirm``, what campaigns ask for): a send whose worker
died before its answer was recorded is not sent again at once, as other messages are, but waits for the message's
status, which names it by wahub's reference (``biz_opaque_callback_data``); only if none comes within the grace
is it sent again, flagged as a possible duplicate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support import eventually
from wahub import domain
from wahub.api.context import AppContext
from wahub.provider import base, meta
from wahub.provider.graph import GraphClient
from wahub.store import db, events, outbound, outbox
from wahub.store.models import Account, Message, OutboxJob
from wahub.worker import numbers, ratelimit
from wahub.worker.processor import Processor
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender

TO = "14155550101"
TEMPLATE = {"template": {"name": "hello_world", "language": {"code": "en_US"}}}
DEAD = "a-worker-that-was-killed"


@asynccontextmanager
async def _running(ctx: AppContext, graph_url: str, grace: timedelta, *, process: bool = True) -> AsyncIterator[None]:
    """The sender (and, with ``process``, the processor of the webhooks fakegraph posts) of one worker."""
    stop = asyncio.Event()
    async with aiohttp.ClientSession() as http:
        providers = meta.providers(GraphClient(http, graph_url, "v25.0"))
        sender = Sender(
            ctx.sessions,
            providers,
            ctx.vault,
            send_rate=80,
            pairs=ratelimit.PairPacer(interval=0.001, burst=1_000_000),
            confirm_grace=grace,
            events=db.sessionmaker(ctx.events),
        )
        processor = Processor(ctx.sessions, db.sessionmaker(ctx.events)) if process else None
        task = asyncio.create_task(Worker(ctx.notifier, processor=processor, sender=sender).run(stop))
        try:
            yield
        finally:
            stop.set()
            await task


async def _queued(sessions: async_sessionmaker[AsyncSession], account: Account, *, confirm: bool) -> int:
    async with db.transaction(sessions) as session:
        item = outbound.QueuedSend(
            account,
            domain.ContactRef(wa_id=TO),
            domain.MessageType.TEMPLATE,
            TEMPLATE,
            free_form=False,
            confirm=confirm,
        )
        ((message, _),) = await outbound.queue_many(session, [item])
        return message.id


async def _claimed_by_a_worker_that_dies(sessions: async_sessionmaker[AsyncSession], account: Account) -> int:
    async with db.transaction(sessions) as session:
        (job,) = await outbox.claim(session, account.id, DEAD, 10, timedelta(minutes=2))
    return job.message_id


async def _sent_by_the_dead_worker(ctx: AppContext, graph_url: str, account: Account, message_id: int) -> str:
    """The send the killed worker had on the wire: it reaches Meta, but no one records Meta's answer."""
    async with aiohttp.ClientSession() as http:
        provider = meta.providers(GraphClient(http, graph_url, "v25.0"))(numbers.provider_account(account, ctx.vault))
        outgoing = base.Outbound(
            base.Recipient(wa_id=TO), "template", TEMPLATE, reference=domain.send_reference(message_id)
        )
        return (await provider.send(outgoing)).id


async def _sends(graph_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=graph_url) as fake:
        rows: list[dict[str, Any]] = (await fake.get("/_fake/requests?path_contains=/messages")).json()["data"]
    return rows


async def _job_and_message(sessions: async_sessionmaker[AsyncSession], message_id: int) -> tuple[OutboxJob, Message]:
    async with sessions() as session:
        job = (await session.scalars(sa.select(OutboxJob).where(OutboxJob.message_id == message_id))).one()
        message = await session.get(Message, message_id)
        assert message is not None
        return job, message


async def test_a_send_cut_off_by_a_dead_worker_is_settled_by_its_status_not_sent_again(
    ctx: AppContext, account: Account, graph_url: str
) -> None:
    message_id = await _queued(ctx.sessions, account, confirm=True)
    assert await _claimed_by_a_worker_that_dies(ctx.sessions, account) == message_id
    async with _running(ctx, graph_url, timedelta(minutes=5)):

        async def waiting() -> bool:
            job, _ = await _job_and_message(ctx.sessions, message_id)
            return job.state == "pending" and job.last_error == outbox.AWAITING_STATUS

        await eventually(waiting, timeout=45)  # the new holder took the number over: the send waits for its status
        _, message = await _job_and_message(ctx.sessions, message_id)
        assert message.possible_duplicate and message.wamid is None
        wamid = await _sent_by_the_dead_worker(ctx, graph_url, account, message_id)  # late, on the wire

        async def settled() -> tuple[OutboxJob, Message] | None:
            job, message = await _job_and_message(ctx.sessions, message_id)
            return (job, message) if job.state == "done" and message.status == "read" else None

        _, message = await eventually(settled, timeout=45)
    assert message.wamid == wamid
    assert not message.possible_duplicate  # it reached Meta once, and was not sent again
    sends = await _sends(graph_url)
    assert len(sends) == 1
    assert sends[0]["body"]["biz_opaque_callback_data"] == domain.send_reference(message_id)


async def test_a_status_that_came_before_the_takeover_leaves_nothing_to_send(
    ctx: AppContext, account: Account, graph_url: str
) -> None:
    message_id = await _queued(ctx.sessions, account, confirm=True)
    await _claimed_by_a_worker_that_dies(ctx.sessions, account)
    wamid = await _sent_by_the_dead_worker(ctx, graph_url, account, message_id)
    async with _running(ctx, graph_url, timedelta(minutes=5)):

        async def settled() -> tuple[OutboxJob, Message] | None:
            job, message = await _job_and_message(ctx.sessions, message_id)
            return (job, message) if job.state == "done" and message.status == "read" else None

        _, message = await eventually(settled, timeout=45)
    assert message.wamid == wamid and not message.possible_duplicate
    assert len(await _sends(graph_url)) == 1


async def test_a_status_waiting_in_the_processors_backlog_holds_the_send_past_its_grace(
    ctx: AppContext, account: Account, graph_url: str
) -> None:
    """The grace counts for a status that never came, not for one received and not yet processed: under load the
    processor may be further behind than the grace (the acceptance test of a campaign crash sent some recipients
    twice so on a loaded machine)."""
    message_id = await _queued(ctx.sessions, account, confirm=True)
    await _claimed_by_a_worker_that_dies(ctx.sessions, account)
    await _sent_by_the_dead_worker(ctx, graph_url, account, message_id)  # its statuses reach wahub's intake

    async def journaled() -> bool:
        async with db.sessionmaker(ctx.events)() as session:
            return await events.backlog(session) >= 1

    await eventually(journaled, timeout=30)
    async with _running(ctx, graph_url, timedelta(seconds=1), process=False):  # the processor far behind

        async def waiting() -> bool:
            job, _ = await _job_and_message(ctx.sessions, message_id)
            return job.state == "pending" and job.awaits_status

        await eventually(waiting, timeout=45)
        await asyncio.sleep(3)  # the grace is long over; the status is still in the backlog
        job, message = await _job_and_message(ctx.sessions, message_id)
        assert job.state == "pending" and message.wamid is None
        assert len(await _sends(graph_url)) == 1, "sent again while its status waited to be processed"
    async with _running(ctx, graph_url, timedelta(seconds=1)):  # the processor catches up

        async def settled() -> Message | None:
            job, message = await _job_and_message(ctx.sessions, message_id)
            return message if job.state == "done" and message.wamid is not None else None

        message = await eventually(settled, timeout=45)
    assert not message.possible_duplicate
    assert len(await _sends(graph_url)) == 1


async def test_without_a_status_within_the_grace_it_is_sent_again_flagged(
    ctx: AppContext, account: Account, graph_url: str
) -> None:
    message_id = await _queued(ctx.sessions, account, confirm=True)
    await _claimed_by_a_worker_that_dies(ctx.sessions, account)  # killed before its send left
    async with _running(ctx, graph_url, timedelta(seconds=1)):

        async def sent() -> Message | None:
            _, message = await _job_and_message(ctx.sessions, message_id)
            return message if message.wamid is not None else None

        message = await eventually(sent, timeout=45)
    assert message.possible_duplicate
    assert len(await _sends(graph_url)) == 1


async def test_a_message_not_asking_to_be_confirmed_is_sent_again_at_once(
    ctx: AppContext, account: Account, graph_url: str
) -> None:
    """The rule for every other message (SPEC: re-sent, flagged): a grace of an hour does not hold it."""
    message_id = await _queued(ctx.sessions, account, confirm=False)
    await _claimed_by_a_worker_that_dies(ctx.sessions, account)
    async with _running(ctx, graph_url, timedelta(hours=1)):

        async def sent() -> Message | None:
            _, message = await _job_and_message(ctx.sessions, message_id)
            return message if message.wamid is not None else None

        message = await eventually(sent, timeout=45)
    assert message.possible_duplicate
    sends = await _sends(graph_url)
    assert len(sends) == 1 and "biz_opaque_callback_data" not in sends[0]["body"]
