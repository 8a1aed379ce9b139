"""The sender: sends outbox jobs through each account's provider within its limits and records the results.

The sender sees providers only through ``provider/base.py``: it makes one per account with the ``Providers``
it is given, hands it provider-neutral ``Outbound`` messages, and acts on the class of the error it raises
(``errors.PairLimited``, ``errors.ThroughputLimited``, ``errors.AccessTokenInvalid``...), never on a code.

For each account (one phone number) the sender holds a send lease (``store/leases.py``), so it alone sends for
that number and the number's ``SendWindow`` holds however many workers run. It claims a number's due jobs only
as far ahead as the number's rate lets them go (``numbers.CLAIM_AHEAD``), uploads the file a message sends
(``worker/uploader.py``), passes each through the pair pacer, the window and the number's concurrency bound,
sends it outside any transaction, and hands the result to ``recorder.Recorder``, which commits every result
that came in while its previous commit ran in one transaction.

A job is claimed, sent and recorded in three steps. A worker killed between the first and the last leaves the
job claimed: whoever takes the lease next puts it back in the queue and flags its message as a possible
duplicate, since the send may have reached the provider.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors, wakeups
from wahub.provider import base
from wahub.storage.base import BlobStore
from wahub.store import accounts, counters, db, events, leases, outbox
from wahub.store.crypto import Vault
from wahub.store.models import utcnow
from wahub.worker import numbers, ratelimit, recorder, retry, uploader
from wahub.worker.numbers import Number
from wahub.worker.recorder import Again, Done, Failed, Paused

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=10)
RENEW_EVERY = 2.0
# Stop sending for a number this long before its lease could run out: longer than a rate window, so the next
# holder's sends never share a window with ours, and it covers clocks up to a second apart.
LEASE_SAFETY = 2.0
RELEASE_AFTER_IDLE = 30.0
CLAIM_LEASE = timedelta(seconds=120)  # our own claim still unrecorded after this goes back (a hung send)
RECLAIM_EVERY = 10.0
CONCURRENCY = 256  # requests in flight per phone number
STOP_GRACE = 10.0  # on stop, how long sends already on the wire may take to finish


class Sender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        providers: base.Providers,
        vault: Vault,
        *,
        send_rate: int,
        send_jitter: float = ratelimit.WINDOW_GUARD,
        concurrency: int = CONCURRENCY,
        pairs: ratelimit.PairPacer | None = None,
        holder: str | None = None,
        storage: BlobStore | None = None,
        tally: counters.Tally | None = None,
        confirm_grace: timedelta = outbox.CONFIRM_GRACE,
        events: async_sessionmaker[AsyncSession] | None = None,
    ) -> None:
        """``confirm_grace``: how long a send that asked to be confirmed (``OutboxJob.confirm``) and whose answer
        was lost waits for its status before it is sent again; ``events``: the sessions of the webhook events'
        database, so that such a send also waits until the webhooks received by then are processed."""
        self._sessions = sessions
        self._events = events
        self._horizon: tuple[float, datetime] | None = None
        self._confirm_grace = confirm_grace
        self._tally = tally if tally is not None else counters.Tally()
        self._providers = providers
        self._vault = vault
        self._default_rate = send_rate
        self._jitter = send_jitter
        self._concurrency = concurrency
        self._pairs = pairs or ratelimit.PairPacer()
        self._uploader = uploader.Uploader(sessions, storage)
        self.holder = holder or f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._numbers: dict[int, Number] = {}
        self._recorder = recorder.Recorder(sessions, self.holder)
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._renewed = -math.inf
        self._reclaimed = time.monotonic()
        self._stopping = False
        self._idle = True

    async def run_once(self) -> int:
        """Claim what the held numbers have room for and start sending it; returns how many jobs it took."""
        if self._stopping:
            return 0
        self._recorder.start()
        if time.monotonic() - self._renewed > RENEW_EVERY or (self._idle and await self._unheld_work()):
            await self._renew()
        if any(n.may_send() for n in self._numbers.values()) and not any(n.room() for n in self._numbers.values()):
            # Sends are under way and fill what may be claimed: wait until enough have passed the window.
            self._room.clear()
            await wakeups.wait_set(self._room, RENEW_EVERY / 2)
        claimed = await self._claim()
        self._idle = not claimed and not self._tasks
        for number, job in claimed:
            task = asyncio.create_task(self._send(number, job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(claimed)

    def when_settled(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (not blocking) once the results of its last sends are written, none left on the wire."""
        self._recorder.written = lambda: None if self._tasks else callback()

    async def close(self) -> None:
        """Stop: what waits for the window goes back unsent, sends on the wire get STOP_GRACE to finish, every
        result is recorded and the leases are released, so a restarted sender takes over after one window."""
        self._stopping = True
        for number in self._numbers.values():
            number.deadline = 0.0
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=STOP_GRACE)
            for task in late:  # left claimed: the next holder sends them again, flagged
                task.cancel()
        await self._recorder.close()
        try:
            async with db.transaction(self._sessions) as session:
                await leases.release(session, self.holder, self._numbers, timedelta(seconds=1))
                await leases.leave(session, self.holder)
        except Exception:
            log.exception("could not release the send leases; they run out in %s", LEASE_TTL)

    # --- leases -------------------------------------------------------------------------------------------

    async def _unheld_work(self) -> bool:
        async with db.transaction(self._sessions) as session:
            due = await outbox.due_accounts(session)
        now = time.monotonic()
        return any(a not in self._numbers or self._numbers[a].deadline <= now for a in due)

    async def _renew(self) -> None:
        started = time.monotonic()
        self._renewed = started
        # A number we paused whose pause the recorder has not written yet: the account read below may predate it,
        # and must not lift it (a job put back with the pause would be sent at once).
        unwritten = {a for a, n in self._numbers.items() if n.paused and not n.recorded_all()}
        async with db.transaction(self._sessions) as session:
            due = await outbox.due_accounts(session)
            for account_id in due & self._numbers.keys():
                self._numbers[account_id].active = started
            idle = {
                a
                for a, n in self._numbers.items()
                if a not in due and n.waiting == 0 and started - n.active > RELEASE_AFTER_IDLE
            }
            share = await leases.fair_share(session, self.holder, due, LEASE_TTL)
            # Ours: held and not leaving (a lease lost while this sender stalled left its deadline behind).
            kept = sorted(a for a, n in self._numbers.items() if a not in idle and n.held(started))
            for account_id in kept[share:]:
                self._leave(account_id)
            # A number handed over goes once everything claimed for it is recorded: its next holder then finds no
            # claim of ours to put back (flagged), and waits a window and the clocks' skew before its first send.
            handed = {a for a, n in self._numbers.items() if n.leaving and n.busy == 0 and n.recorded_all()}
            if idle:
                await leases.release(session, self.holder, idle, timedelta(seconds=1))
            if handed:
                await leases.release(session, self.holder, handed, timedelta(seconds=LEASE_SAFETY))
            for account_id in idle | handed:
                del self._numbers[account_id]
            room = max(0, share - sum(n.held(started) for n in self._numbers.values()))
            won = await leases.acquire(session, self.holder, due | self._numbers.keys(), LEASE_TTL, most_new=room)
            for lease in won:
                if lease.account_id in self._numbers and self._numbers[lease.account_id].leaving:
                    continue  # renewed only while its last sends are recorded
                if lease.new and (
                    count := await outbox.requeue_abandoned(session, lease.account_id, self.holder, self._confirm_grace)
                ):
                    log.warning(
                        "took over sending from a sender that stopped; its unfinished sends go again, flagged as "
                        "possible duplicates",
                        extra={"account_id": lease.account_id, "jobs": count},
                    )
                await self._hold(session, lease.account_id, started, keep_paused=lease.account_id in unwritten)
            if started - self._reclaimed > RECLAIM_EVERY:
                self._reclaimed = started
                if count := await outbox.reclaim_stuck(session, self.holder, self._confirm_grace):
                    log.warning("sends that never finished go again, flagged", extra={"jobs": count})

    def _leave(self, account_id: int) -> None:
        """Stop sending for a number beyond our fair share: what waits for the window goes back unsent."""
        number = self._numbers[account_id]
        number.leaving = True
        number.deadline = 0.0
        log.info("handing a number over to another sender (fair share)", extra={"account_id": account_id})

    async def _hold(self, session: AsyncSession, account_id: int, renewed: float, keep_paused: bool = False) -> None:
        account = await accounts.get(session, account_id)
        rate = account.send_rate or self._default_rate
        identity = numbers.provider_account(account, self._vault)
        try:
            provider = self._providers(identity)  # again at each renewal: a replaced token takes effect
        except errors.ProviderError as exc:
            log.error("cannot send from this account: %s", exc.message, extra={"account_id": account_id})
            return
        number = self._numbers.get(account_id)
        if number is None:
            number = self._numbers[account_id] = Number(
                account_id=account_id,
                kind=account.provider,
                address=identity.number,
                provider=provider,
                window=ratelimit.SendWindow(rate, guard=self._jitter),
                slots=asyncio.Semaphore(self._concurrency),
            )
        number.address = identity.number
        number.provider = provider
        number.window.set_rate(rate)
        number.paused = account.sending_paused is not None or keep_paused
        number.deadline = renewed + LEASE_TTL.total_seconds() - LEASE_SAFETY

    # --- claiming and sending -----------------------------------------------------------------------------

    async def _claim(self) -> list[tuple[Number, outbox.Claimed]]:
        plan = [(n, room) for n in self._numbers.values() if (room := n.room()) > 0]
        if not plan:
            return []
        claimed: list[tuple[Number, outbox.Claimed]] = []
        processed_until = await self._processed_until()
        async with db.transaction(self._sessions) as session:
            for number, room in plan:
                jobs = await outbox.claim(
                    session, number.account_id, self.holder, room, CLAIM_LEASE, processed_until=processed_until
                )
                claimed += [(number, job) for job in jobs]
        for number, _ in claimed:
            number.waiting += 1
            number.busy += 1
            number.active = time.monotonic()
        return claimed

    async def _processed_until(self) -> datetime | None:
        """Up to when every received webhook is processed (``outbox.claim``), read at most once a second
        (an older value only holds sends that wait for their statuses a little longer); None: no events seen."""
        if self._events is not None and (self._horizon is None or time.monotonic() - self._horizon[0] >= 1.0):
            read = utcnow()
            async with self._events() as session:
                oldest = await events.oldest_waiting(session)
            self._horizon = (time.monotonic(), oldest or read)
        return self._horizon[1] if self._horizon is not None else None

    async def _send(self, number: Number, job: outbox.Claimed) -> None:
        passed = False
        try:
            if job.kind == outbox.JobKind.SEND.value and job.wamid is not None:
                # Its status named it (``outbox.confirm_sent``) after the claim read it as waiting: it arrived.
                self._recorder.put(Done(job.job_id, job.message_id, job.wamid))
                return
            message = numbers.outbound(job)
            if message is not None and not message.recipient.key:
                unknown = errors.PermanentProviderError("the contact has no WhatsApp id or user id to send to")
                self._recorder.put(Failed(job.job_id, job.message_id, unknown))
                self._count(job, "failed")
                return
            fresh_upload = False
            if message is not None and message.wahub_media_id is not None:
                try:
                    message, fresh_upload = await self._uploader.with_upload(number.provider, message)
                except (errors.StorageError, errors.ProviderError) as exc:
                    # Only the file went (or failed to go) to the provider: the message was not sent, whatever
                    # happened.
                    self._failed(number, job, message, exc, message_sent=False)
                    return
            if message is not None and (wait := self._pairs.delay(number.address, message.recipient.key)) > 0:
                self._recorder.put(Again(job.job_id, job.message_id, _later(wait), None, counted=False))
                return
            async with number.slots:
                await number.window.take()
                passed = True
                self._passed(number)
                if not number.may_send():  # paused, stopping, or our lease is running out: not ours to send
                    self._recorder.put(Again(job.job_id, job.message_id, utcnow(), None, counted=False))
                    return
                started = time.monotonic()
                try:
                    if message is None:
                        typing = job.kind == outbox.JobKind.READ_TYPING.value
                        await number.provider.mark_read(job.wamid or "", typing=typing)
                        sent_id = None
                    else:
                        sent_id = (await number.provider.send(message)).id
                except errors.ProviderError as exc:
                    self._answered(job, started)
                    if isinstance(exc, errors.UploadLost) and message is not None and not fresh_upload:
                        await self._upload_again(job, message, exc)
                    else:
                        self._failed(number, job, message, exc)
                    return
                self._answered(job, started)
            self._recorder.put(Done(job.job_id, job.message_id, sent_id))
            self._count(job, "accepted")
        except Exception:
            # A bug here must not kill the sender; the claim comes back after CLAIM_LEASE, flagged.
            log.exception("sending failed unexpectedly", extra={"job_id": job.job_id})
        finally:
            number.busy -= 1
            number.recorded = self._recorder.last  # its result was put before: written once this is
            if not passed:
                self._passed(number)

    async def _upload_again(self, job: outbox.Claimed, message: base.Outbound, exc: errors.UploadLost) -> None:
        """The provider no longer has a file it took earlier: forget its id for it and send again at once, which
        uploads the file anew. Only an id from an earlier upload gets this second chance; a refusal right after
        an upload is a failure like any other."""
        await self._uploader.forget(message)
        summary = f"the provider no longer has the uploaded file ({exc}); uploading it again"
        self._recorder.put(Again(job.job_id, job.message_id, utcnow(), summary, True))
        self._count(job, "retried", exc.code)

    def _answered(self, job: outbox.Claimed, started: float) -> None:
        self._tally.observe("wahub_send_latency_seconds", time.monotonic() - started, {"type": numbers.kind_of(job)})

    def _count(self, job: outbox.Claimed, result: str, code: int | None = None) -> None:
        labels = {"type": numbers.kind_of(job), "result": result, "code": "" if code is None else str(code)}
        self._tally.count("wahub_sends_total", labels)

    def _passed(self, number: Number) -> None:
        number.waiting -= 1
        if number.room():
            self._room.set()

    def _failed(
        self,
        number: Number,
        job: outbox.Claimed,
        message: base.Outbound | None,
        exc: errors.ProviderError | errors.StorageError,
        *,
        message_sent: bool = True,
    ) -> None:
        """Record a failed try: retried, paused or failed. ``message_sent`` False: the failure came before the
        message itself went out (its file's upload), so a lost answer cannot mean it arrived."""
        if isinstance(exc, errors.StorageError):
            self._tally.count("wahub_storage_errors_total", {"operation": "read", "error": type(exc).__name__})
            summary = f"storage: {exc.message}"
            decision = retry.decide(exc, job.attempts, retry.SEND, utcnow())
            if decision is not None:
                self._recorder.put(Again(job.job_id, job.message_id, decision.when, summary, True))
            else:
                self._recorder.put(Failed(job.job_id, job.message_id, errors.PermanentProviderError(summary)))
            self._count(job, "retried" if decision is not None else "failed")
            return
        summary = f"{exc.code or '-'}: {exc.message}"
        if isinstance(exc, errors.PairLimited):
            self._pairs.penalize(number.address, message.recipient.key if message is not None else "")
        elif isinstance(exc, errors.ThroughputLimited):
            number.window.throttled()
        if isinstance(exc, errors.AccessTokenInvalid):
            if not number.paused:
                log.error(
                    "the provider refused the access token (%s); sending from this account is paused until it is "
                    "replaced",
                    exc.code,
                    extra={"account_id": number.account_id, "number": number.address},
                )
            number.paused = True
            self._recorder.put(Paused(number.account_id, numbers.refused_reason(number.kind, exc)))
            self._recorder.put(Again(job.job_id, job.message_id, utcnow(), summary, counted=False))
            self._count(job, "paused", exc.code)
            return
        decision = retry.decide(exc, job.attempts, retry.SEND, utcnow())
        if decision is not None:
            log.debug("send will be retried", extra={"job_id": job.job_id, "code": exc.code})
            maybe_sent = (
                message_sent and isinstance(exc, errors.OutcomeUnknown) and job.kind == outbox.JobKind.SEND.value
            )
            when = decision.when
            awaits = maybe_sent and job.confirm
            if awaits:  # its status, if it arrived, settles it first (``outbox.confirm_sent``)
                when = max(when, utcnow() + self._confirm_grace)
                summary = f"{summary}; {outbox.AWAITING_STATUS}"
            self._recorder.put(Again(job.job_id, job.message_id, when, summary, True, maybe_sent, awaits))
            self._count(job, "retried", exc.code)
            return
        log.info("send failed", extra={"job_id": job.job_id, "code": exc.code})
        self._count(job, "failed", exc.code)
        is_send = job.kind == outbox.JobKind.SEND.value
        self._recorder.put(Failed(job.job_id, job.message_id if is_send else None, exc))


def _later(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)
