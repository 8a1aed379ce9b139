"""The sender: claims outbox jobs, sends them to the provider within the rate limits, records the result.

Only this module (with the processor) talks to both the store and the provider. A job is claimed with a
lease in one short transaction, sent outside any transaction, and its result recorded in another; a worker
killed in between leaves the job to be taken again when the lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.provider.graph import GraphClient
from wahub.store import accounts, db, messages, outbox
from wahub.store.crypto import Vault
from wahub.store.models import Contact, Message, OutboxJob, utcnow
from wahub.worker import ratelimit, retry

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
# How often to look for jobs whose worker died (their lease ran out); pending jobs are looked for every pass.
RECLAIM_EVERY = 10.0
PAIR_LIMIT_CODE = 131056
PAUSED_RECHECK = timedelta(seconds=30)  # how often the jobs of a paused account look again


@dataclass(frozen=True, slots=True)
class _Claimed:
    job_id: int
    message_id: int
    attempts: int
    kind: str = outbox.JobKind.SEND.value


@dataclass(frozen=True, slots=True)
class _Send:
    phone_number_id: str
    token: str
    payload: dict[str, Any]
    send_rate: int | None
    read_wamid: str | None = None  # a read receipt for this inbound message instead of a send


class Sender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        graph: GraphClient,
        vault: Vault,
        *,
        send_rate: int,
        batch_size: int = 200,
        concurrency: int = 256,
        pairs: ratelimit.PairPacer | None = None,
    ) -> None:
        self._sessions = sessions
        self._graph = graph
        self._vault = vault
        self._limits = ratelimit.Limits(send_rate)
        self._pairs = pairs or ratelimit.PairPacer()
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._reclaimed = 0.0

    async def run_once(self) -> int:
        """Claim and send one batch; returns how many jobs it took."""
        reclaim = time.monotonic() - self._reclaimed > RECLAIM_EVERY
        if reclaim:
            self._reclaimed = time.monotonic()
        async with db.transaction(self._sessions) as session:
            jobs = await outbox.claim(session, self._batch_size, LEASE, reclaim_expired=reclaim)
            claimed = [_Claimed(j.id, j.message_id, j.attempts, j.kind) for j in jobs]
        if claimed:
            await asyncio.gather(*(self._run(job) for job in claimed))
        return len(claimed)

    async def _run(self, job: _Claimed) -> None:
        async with self._slots:
            try:
                await self._send(job)
            except Exception:
                # A bug here must not kill the loop; the lease brings the job back for another try.
                log.exception("sending failed unexpectedly", extra={"job_id": job.job_id})

    async def _send(self, job: _Claimed) -> None:
        async with db.transaction(self._sessions) as session:
            send = await self._prepare(session, job)
        if send is None:
            return
        if send.read_wamid is None and await self._paced(job, send):
            return
        await self._limits.bucket(send.phone_number_id, send.send_rate).take()
        if send.read_wamid is not None:
            await self._mark_read(job, send)
            return
        try:
            result = await self._graph.send_message(send.phone_number_id, send.token, send.payload)
        except errors.ProviderError as exc:
            if exc.code == PAIR_LIMIT_CODE:
                self._pairs.penalize(send.phone_number_id, _recipient(send.payload))
            await self._record_error(job, exc)
            return
        async with db.transaction(self._sessions) as session:
            message = await messages.get(session, job.message_id)
            await messages.record_accepted(session, message, result.wamid)
            outbox.complete(await _job(session, job.job_id))

    async def _pause(self, session: AsyncSession, job: _Claimed, exc: errors.ProviderError) -> None:
        message = await messages.get(session, job.message_id)
        account = await accounts.get(session, message.account_id)
        if not account.sending_paused:
            log.error(
                "Meta refused the access token (190); sending from this account is paused until it is replaced",
                extra={"account_id": account.id, "phone_number_id": account.phone_number_id},
            )
        account.sending_paused = (
            f"Meta refused the access token ({exc.code}: {exc.message}); replace it (WAHUB_ACCESS_TOKEN, then "
            "restart) and sending resumes; queued messages wait"
        )

    async def _paced(self, job: _Claimed, send: _Send) -> bool:
        """True when the recipient has had its share (Meta's pair limit): this one message is put off, and the
        sender goes on with everyone else's."""
        wait = self._pairs.delay(send.phone_number_id, _recipient(send.payload))
        if wait <= 0:
            return False
        async with db.transaction(self._sessions) as session:
            outbox.defer(await _job(session, job.job_id), utcnow() + timedelta(seconds=wait))
        return True

    async def _mark_read(self, job: _Claimed, send: _Send) -> None:
        assert send.read_wamid is not None
        typing = job.kind == outbox.JobKind.READ_TYPING.value
        try:
            await self._graph.mark_read(send.phone_number_id, send.token, send.read_wamid, typing=typing)
        except errors.ProviderError as exc:
            await self._record_error(job, exc)
            return
        async with db.transaction(self._sessions) as session:
            outbox.complete(await _job(session, job.job_id))

    async def _prepare(self, session: AsyncSession, job: _Claimed) -> _Send | None:
        message = await messages.get(session, job.message_id)
        account = await accounts.get(session, message.account_id)
        if account.sending_paused:
            # Nothing is sent from an account whose token Meta refused; its jobs wait (no attempt counted).
            outbox.defer(await _job(session, job.job_id), utcnow() + PAUSED_RECHECK)
            return None
        if job.kind != outbox.JobKind.SEND.value:
            creds = accounts.credentials(account, self._vault)
            return _Send(account.phone_number_id or "", creds.access_token, {}, account.send_rate, message.wamid)
        contact = await session.get(Contact, message.contact_id)
        if contact is None or not (contact.wa_id or contact.user_id):
            messages.record_failure(message, None, "the contact has no WhatsApp id", None)
            outbox.fail(await _job(session, job.job_id), "contact has no id")
            return None
        creds = accounts.credentials(account, self._vault)
        return _Send(
            phone_number_id=account.phone_number_id or "",
            token=creds.access_token,
            payload=build_payload(message, contact),
            send_rate=account.send_rate,
        )

    async def _record_error(self, job: _Claimed, exc: errors.ProviderError) -> None:
        decision = retry.decide(exc, job.attempts, utcnow())
        summary = f"{exc.code or '-'}: {exc.message}"
        async with db.transaction(self._sessions) as session:
            row = await _job(session, job.job_id)
            if isinstance(exc, errors.AccessTokenInvalid):
                await self._pause(session, job, exc)
                outbox.defer(row, utcnow() + PAUSED_RECHECK)
                row.last_error = summary
                return
            if decision is not None:
                log.info(
                    "send will be retried",
                    extra={"job_id": job.job_id, "code": exc.code, "delay": round(decision.delay, 2)},
                )
                outbox.retry_at(row, decision.when, summary)
                return
            log.info("send failed", extra={"job_id": job.job_id, "code": exc.code})
            if job.kind == outbox.JobKind.SEND.value:  # a failed read receipt leaves the inbound message as it is
                message = await messages.get(session, job.message_id)
                messages.record_failure(message, exc.code, exc.title, exc.details_text)
            outbox.fail(row, summary)


def build_payload(message: Message, contact: Contact) -> dict[str, Any]:
    """Meta's send body from a stored message: its typed content is already in Meta's shape."""
    payload: dict[str, Any] = {"recipient_type": "individual", "type": message.type}
    if contact.wa_id:
        payload["to"] = contact.wa_id
    else:
        payload["recipient"] = contact.user_id
    payload.update(message.content)
    if message.reply_to_wamid:
        payload["context"] = {"message_id": message.reply_to_wamid}
    return payload


def _recipient(payload: dict[str, Any]) -> str:
    return str(payload.get("to") or payload.get("recipient") or "")


async def _job(session: AsyncSession, job_id: int) -> OutboxJob:
    job = await session.get(OutboxJob, job_id)
    if job is None:
        raise errors.NotFound(f"outbox job {job_id} vanished")
    return job
