"""The sender: sends outbox jobs to the provider within Meta's limits and records the results.

Only this module (with the processor) talks to both the store and the provider. For each account (one phone
number) the sender holds a send lease (``store/leases.py``), so it alone sends for that number and the
number's ``SendWindow`` holds however many workers run. It claims a number's due jobs only as far ahead as
the number's rate lets them go (``CLAIM_AHEAD``), passes each through the pair pacer, the window and the
number's concurrency bound, sends it outside any transaction, and hands the result to ``_Recorder``, which
commits every result that came in while its previous commit ran in one transaction.

A job is claimed, sent and recorded in three steps. A worker killed between the first and the last leaves the
job claimed: whoever takes the lease next puts it back in the queue and flags its message as a possible
duplicate, since the send may have reached Meta.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.provider.graph import GraphClient
from wahub.storage.base import BlobStore
from wahub.store import accounts, counters, db, leases, media, messages, outbox, outgoing
from wahub.store.crypto import Vault
from wahub.store.models import utcnow
from wahub.worker import ratelimit, retry

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=10)
RENEW_EVERY = 2.0
# Stop sending for a number this long before its lease could run out: longer than a rate window, so the next
# holder's sends never share a window with ours, and it covers clocks up to a second apart.
LEASE_SAFETY = 2.0
RELEASE_AFTER_IDLE = 30.0
CLAIM_AHEAD = 0.5  # claim at most this many seconds' worth of a number's rate ahead of sending it
CLAIM_LEASE = timedelta(seconds=120)  # our own claim still unrecorded after this goes back (a hung send)
RECLAIM_EVERY = 10.0
CONCURRENCY = 256  # requests in flight per phone number
STOP_GRACE = 10.0
# Results are written at most this often: one transaction per ~50 sends at 1,000/s instead of one per few.
RECORD_EVERY = 0.05  # on stop, how long sends already on the wire may take to finish
META_KEEPS_UPLOADS = timedelta(days=29)  # Meta keeps an uploaded file 30 days; a day's margin


@dataclass(slots=True)
class _Number:
    """A phone number this sender holds the lease of."""

    account_id: int
    phone_number_id: str
    token: str
    window: ratelimit.SendWindow
    slots: asyncio.Semaphore
    deadline: float = 0.0  # monotonic time until which our lease lets us send
    paused: bool = False
    waiting: int = 0  # claimed and not yet through the window
    active: float = field(default_factory=time.monotonic)  # when it last had work

    def may_send(self) -> bool:
        return not self.paused and time.monotonic() < self.deadline

    def room(self) -> int:
        """How many more jobs to claim now: none unless a quarter of CLAIM_AHEAD is free, so claims come in
        batches rather than one transaction per job."""
        if not self.may_send():
            return 0
        ahead = max(1, math.ceil(self.window.current * CLAIM_AHEAD))
        room = ahead - self.waiting
        return room if room >= max(1, ahead // 4) else 0


@dataclass(frozen=True, slots=True)
class _Done:
    job_id: int
    message_id: int
    wamid: str | None  # None for a read receipt


@dataclass(frozen=True, slots=True)
class _Again:
    job_id: int
    message_id: int
    when: datetime
    error: str | None
    counted: bool  # False when nothing was sent: the claim gives its attempt back
    maybe_sent: bool = False  # the provider's answer was lost: the message may arrive twice


@dataclass(frozen=True, slots=True)
class _Failed:
    job_id: int
    message_id: int | None  # None for a read receipt: the inbound message stays as it is
    error: errors.ProviderError


@dataclass(frozen=True, slots=True)
class _Paused:
    account_id: int
    reason: str


_Result = _Done | _Again | _Failed | _Paused


class Sender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        graph: GraphClient,
        vault: Vault,
        *,
        send_rate: int,
        send_jitter: float = ratelimit.WINDOW_GUARD,
        concurrency: int = CONCURRENCY,
        pairs: ratelimit.PairPacer | None = None,
        holder: str | None = None,
        storage: BlobStore | None = None,
        tally: counters.Tally | None = None,
    ) -> None:
        self._sessions = sessions
        self._tally = tally if tally is not None else counters.Tally()
        self._graph = graph
        self._vault = vault
        self._default_rate = send_rate
        self._jitter = send_jitter
        self._concurrency = concurrency
        self._pairs = pairs or ratelimit.PairPacer()
        self._storage = storage
        self.holder = holder or f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._numbers: dict[int, _Number] = {}
        self._recorder = _Recorder(sessions, self.holder)
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._renewed = -math.inf
        self._reclaimed = time.monotonic()
        self._stopping = False
        self._idle = True
        self._uploads: dict[int, asyncio.Future[str]] = {}  # files being uploaded to Meta, by wahub media id

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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room.wait(), RENEW_EVERY / 2)
        claimed = await self._claim()
        self._idle = not claimed and not self._tasks
        for number, job in claimed:
            task = asyncio.create_task(self._send(number, job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(claimed)

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
        async with db.transaction(self._sessions) as session:
            due = await outbox.due_accounts(session)
            for account_id in due & self._numbers.keys():
                self._numbers[account_id].active = started
            idle = {
                a
                for a, n in self._numbers.items()
                if a not in due and n.waiting == 0 and started - n.active > RELEASE_AFTER_IDLE
            }
            if idle:
                await leases.release(session, self.holder, idle, timedelta(seconds=1))
                for account_id in idle:
                    del self._numbers[account_id]
            won = await leases.acquire(session, self.holder, due | self._numbers.keys(), LEASE_TTL)
            for lease in won:
                if lease.new and (count := await outbox.requeue_abandoned(session, lease.account_id, self.holder)):
                    log.warning(
                        "took over sending from a sender that stopped; its unfinished sends go again, flagged as "
                        "possible duplicates",
                        extra={"account_id": lease.account_id, "jobs": count},
                    )
                await self._hold(session, lease.account_id, started)
            if started - self._reclaimed > RECLAIM_EVERY:
                self._reclaimed = started
                if count := await outbox.reclaim_stuck(session, self.holder):
                    log.warning("sends that never finished go again, flagged", extra={"jobs": count})

    async def _hold(self, session: AsyncSession, account_id: int, renewed: float) -> None:
        account = await accounts.get(session, account_id)
        rate = account.send_rate or self._default_rate
        number = self._numbers.get(account_id)
        if number is None:
            number = self._numbers[account_id] = _Number(
                account_id=account_id,
                phone_number_id=account.phone_number_id or "",
                token="",
                window=ratelimit.SendWindow(rate, guard=self._jitter),
                slots=asyncio.Semaphore(self._concurrency),
            )
        number.phone_number_id = account.phone_number_id or ""
        number.token = accounts.credentials(account, self._vault).access_token
        number.window.set_rate(rate)
        number.paused = account.sending_paused is not None
        number.deadline = renewed + LEASE_TTL.total_seconds() - LEASE_SAFETY

    # --- claiming and sending -----------------------------------------------------------------------------

    async def _claim(self) -> list[tuple[_Number, outbox.Claimed]]:
        plan = [(n, room) for n in self._numbers.values() if (room := n.room()) > 0]
        if not plan:
            return []
        claimed: list[tuple[_Number, outbox.Claimed]] = []
        async with db.transaction(self._sessions) as session:
            for number, room in plan:
                jobs = await outbox.claim(session, number.account_id, self.holder, room, CLAIM_LEASE)
                claimed += [(number, job) for job in jobs]
        for number, _ in claimed:
            number.waiting += 1
            number.active = time.monotonic()
        return claimed

    async def _send(self, number: _Number, job: outbox.Claimed) -> None:
        passed = False
        try:
            read = job.kind != outbox.JobKind.SEND.value
            payload = {} if read else build_payload(job)
            if not read and not _recipient(payload):
                unknown = errors.PermanentProviderError("the contact has no WhatsApp id or user id to send to")
                self._recorder.put(_Failed(job.job_id, job.message_id, unknown))
                self._count(job, "failed")
                return
            file_id, fresh_upload = None if read else _uploaded_media(payload), False
            if file_id is not None:
                try:
                    payload, fresh_upload = await self._with_meta_media(number, payload)
                except (errors.StorageError, errors.ProviderError) as exc:
                    # Only the file went (or failed to go) to Meta: the message was not sent, whatever happened.
                    self._failed(number, job, payload, exc, message_sent=False)
                    return
            if not read and (wait := self._pairs.delay(number.phone_number_id, _recipient(payload))) > 0:
                self._recorder.put(_Again(job.job_id, job.message_id, _later(wait), None, counted=False))
                return
            async with number.slots:
                await number.window.take()
                passed = True
                self._passed(number)
                if not number.may_send():  # paused, stopping, or our lease is running out: not ours to send
                    self._recorder.put(_Again(job.job_id, job.message_id, utcnow(), None, counted=False))
                    return
                started = time.monotonic()
                try:
                    if read:
                        typing = job.kind == outbox.JobKind.READ_TYPING.value
                        await self._graph.mark_read(
                            number.phone_number_id, number.token, job.wamid or "", typing=typing
                        )
                        wamid = None
                    else:
                        wamid = (await self._graph.send_message(number.phone_number_id, number.token, payload)).wamid
                except errors.ProviderError as exc:
                    self._answered(job, started)
                    if file_id is not None and not fresh_upload and _meta_lost_the_file(exc, payload):
                        await self._upload_again(job, file_id, payload, exc)
                    else:
                        self._failed(number, job, payload, exc)
                    return
                self._answered(job, started)
            self._recorder.put(_Done(job.job_id, job.message_id, wamid))
            self._count(job, "accepted")
        except Exception:
            # A bug here must not kill the sender; the claim comes back after CLAIM_LEASE, flagged.
            log.exception("sending failed unexpectedly", extra={"job_id": job.job_id})
        finally:
            if not passed:
                self._passed(number)

    async def _with_meta_media(self, number: _Number, payload: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The payload with a file uploaded to wahub replaced by Meta's id for it, uploading it to Meta first
        unless Meta has it from an upload less than 29 days ago; and whether it was uploaded just now."""
        kind = str(payload["type"])
        obj = dict(payload[kind])
        media_id = int(obj.pop("wahub_media_id"))
        async with db.transaction(self._sessions) as session:
            item = await media.get(session, media_id)
            if item is None or item.storage_key is None:
                raise errors.PermanentProviderError(f"the uploaded file {media_id} is gone from wahub")
            recent = item.uploaded_at is not None and item.uploaded_at > utcnow() - META_KEEPS_UPLOADS
            upload_id, key = (item.upload_id if recent else None), item.storage_key
            mime, filename = item.mime_type or "application/octet-stream", item.filename or f"media-{item.id}"
        fresh = upload_id is None
        if fresh:
            # Sends of one file claimed together share one upload: the first uploads, the others wait for it.
            uploading = self._uploads.get(media_id)
            if uploading is not None:
                upload_id = await asyncio.shield(uploading)
            else:
                uploading = self._uploads[media_id] = asyncio.get_running_loop().create_future()
                uploading.add_done_callback(_retrieved)
                try:
                    upload_id = await self._upload(number, media_id, key, mime, filename)
                    uploading.set_result(upload_id)
                except BaseException as exc:
                    uploading.set_exception(exc if isinstance(exc, Exception) else errors.StorageError("stopped"))
                    raise
                finally:
                    del self._uploads[media_id]
        obj["id"] = upload_id
        return {**payload, kind: obj}, fresh

    async def _upload_again(self, job: outbox.Claimed, media_id: int, payload: dict[str, Any], exc: Exception) -> None:
        """Meta no longer has the file it took earlier (deleted, expired, or a sandbox that restarted): forget
        Meta's id for it and send again at once, which uploads the file anew. Only an id from an earlier upload
        gets this second chance; a refusal right after an upload is a failure like any other."""
        stale = str(payload[str(payload["type"])]["id"])
        log.info("Meta no longer has an uploaded file; uploading it again", extra={"media_id": media_id})
        async with db.transaction(self._sessions) as session:
            item = await media.get(session, media_id)
            if item is not None and item.upload_id == stale:  # another send may have uploaded it again already
                media.upload_lost(item)
        summary = f"Meta no longer has the uploaded file ({exc}); uploading it again"
        self._recorder.put(_Again(job.job_id, job.message_id, utcnow(), summary, True))
        self._count(job, "retried", 100)

    async def _upload(self, number: _Number, media_id: int, key: str, mime: str, filename: str) -> str:
        """Upload a stored file to Meta and remember Meta's id for it; returns the id."""
        if self._storage is None:
            raise errors.StorageError("this sender has no media storage to upload from")
        if await self._storage.size(key) is None:
            raise errors.PermanentProviderError(f"the uploaded file {media_id} is gone from the storage")
        reading = _Reading(self._storage.read(key))
        try:
            upload_id = await self._graph.upload_media(
                number.phone_number_id, number.token, reading.chunks(), mime, filename
            )
        except errors.ProviderError as exc:
            # The storage failing mid-stream reaches us as a broken upload: say what really broke.
            if reading.failure is not None:
                raise reading.failure from exc
            raise
        async with db.transaction(self._sessions) as session:
            item = await media.get(session, media_id)
            if item is not None:
                media.uploaded(item, upload_id)
        return upload_id

    def _answered(self, job: outbox.Claimed, started: float) -> None:
        self._tally.observe("wahub_send_latency_seconds", time.monotonic() - started, {"type": _kind(job)})

    def _count(self, job: outbox.Claimed, result: str, code: int | None = None) -> None:
        labels = {"type": _kind(job), "result": result, "code": "" if code is None else str(code)}
        self._tally.count("wahub_sends_total", labels)

    def _passed(self, number: _Number) -> None:
        number.waiting -= 1
        if number.room():
            self._room.set()

    def _failed(
        self,
        number: _Number,
        job: outbox.Claimed,
        payload: dict[str, Any],
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
                self._recorder.put(_Again(job.job_id, job.message_id, decision.when, summary, True))
            else:
                self._recorder.put(_Failed(job.job_id, job.message_id, errors.PermanentProviderError(summary)))
            self._count(job, "retried" if decision is not None else "failed")
            return
        summary = f"{exc.code or '-'}: {exc.message}"
        if isinstance(exc, errors.PairLimited):
            self._pairs.penalize(number.phone_number_id, _recipient(payload))
        elif isinstance(exc, errors.ThroughputLimited):
            number.window.throttled()
        if isinstance(exc, errors.AccessTokenInvalid):
            if not number.paused:
                log.error(
                    "Meta refused the access token (%s); sending from this account is paused until it is replaced",
                    exc.code,
                    extra={"account_id": number.account_id, "phone_number_id": number.phone_number_id},
                )
            number.paused = True
            reason = (
                f"Meta refused the access token ({exc.code}: {exc.message}); replace it (wahub account update "
                "--access-token, or WAHUB_ACCESS_TOKEN and restart) and sending resumes; queued messages wait"
            )
            self._recorder.put(_Paused(number.account_id, reason))
            self._recorder.put(_Again(job.job_id, job.message_id, utcnow(), summary, counted=False))
            self._count(job, "paused", exc.code)
            return
        decision = retry.decide(exc, job.attempts, retry.SEND, utcnow())
        if decision is not None:
            log.debug("send will be retried", extra={"job_id": job.job_id, "code": exc.code})
            maybe_sent = (
                message_sent and isinstance(exc, errors.OutcomeUnknown) and job.kind == outbox.JobKind.SEND.value
            )
            self._recorder.put(_Again(job.job_id, job.message_id, decision.when, summary, True, maybe_sent))
            self._count(job, "retried", exc.code)
            return
        log.info("send failed", extra={"job_id": job.job_id, "code": exc.code})
        self._count(job, "failed", exc.code)
        is_send = job.kind == outbox.JobKind.SEND.value
        self._recorder.put(_Failed(job.job_id, job.message_id if is_send else None, exc))


class _Recorder:
    """Writes results in batches: whatever finished while the previous transaction ran goes in the next."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], holder: str) -> None:
        self._sessions = sessions
        self._holder = holder
        self._items: list[_Result] = []
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sender-recorder")

    def put(self, item: _Result) -> None:
        self._items.append(item)
        self._idle.clear()
        self._ready.set()

    async def close(self) -> None:
        if self._task is not None:
            await self._idle.wait()
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            await asyncio.sleep(RECORD_EVERY)
            self._ready.clear()
            batch, self._items = self._items, []
            try:
                await self._write(batch)
            except Exception:
                # The database is unavailable for now: keep the results and write them with the next batch.
                log.exception("recording send results failed; trying again")
                self._items = batch + self._items
                self._ready.set()
                await asyncio.sleep(1.0)
                continue
            if not self._items:
                self._idle.set()

    async def _write(self, batch: list[_Result]) -> None:
        done = [r for r in batch if isinstance(r, _Done)]
        again = [r for r in batch if isinstance(r, _Again)]
        failed = [r for r in batch if isinstance(r, _Failed)]
        async with db.transaction(self._sessions) as session:
            out = await outgoing.collector(session)
            await messages.record_accepted(session, [(r.message_id, r.wamid) for r in done if r.wamid is not None], out)
            await outbox.complete_many(session, self._holder, [r.job_id for r in done])
            await outbox.pending_again(session, self._holder, [(r.job_id, r.when, r.error, r.counted) for r in again])
            await messages.flag_possible_duplicates(session, [r.message_id for r in again if r.maybe_sent])
            for r in failed:
                if r.message_id is not None:
                    message = await messages.get(session, r.message_id)
                    messages.record_failure(message, r.error.code, r.error.title, r.error.details_text)
                    if out is not None:
                        error = (r.error.code, r.error.title, r.error.details_text)
                        data = outgoing.message_status(message.id, message.wamid, "failed", message.failed_at, error)
                        out.add(outgoing.MESSAGE_STATUS, data)
            await outbox.fail_many(
                session, self._holder, [(r.job_id, f"{r.error.code or '-'}: {r.error.message}") for r in failed]
            )
            for paused in (r for r in batch if isinstance(r, _Paused)):
                (await accounts.get(session, paused.account_id)).sending_paused = paused.reason
            await outgoing.emit(session, out)


class _Reading:
    """A stored file streamed into an upload, keeping the storage's own error: the HTTP client turns a body that
    fails mid-stream into a connection error of its own."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self.failure: errors.StorageError | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._source:
                yield chunk
        except errors.StorageError as exc:
            self.failure = exc
            raise


def build_payload(job: outbox.Claimed) -> dict[str, Any]:
    """Meta's send body from a claimed job: the stored content is already in Meta's shape."""
    payload: dict[str, Any]
    if job.group_id:
        payload = {"recipient_type": "group", "to": job.group_id, "type": job.message_type}
    elif job.wa_id:
        payload = {"recipient_type": "individual", "to": job.wa_id, "type": job.message_type}
    else:
        payload = {"recipient_type": "individual", "recipient": job.user_id, "type": job.message_type}
    payload.update(job.content)
    if job.reply_to_wamid:
        payload["context"] = {"message_id": job.reply_to_wamid}
    return payload


def _uploaded_media(payload: dict[str, Any]) -> int | None:
    obj = payload.get(str(payload.get("type")))
    value = obj.get("wahub_media_id") if isinstance(obj, dict) else None
    return int(value) if isinstance(value, int) else None


def _meta_lost_the_file(exc: errors.ProviderError, payload: dict[str, Any]) -> bool:
    """Meta's answer to a media id it does not have: code 100, "Param document['id'] is not a valid whatsapp
    business account media attachment ID"."""
    kind = str(payload.get("type"))
    return exc.code == 100 and f"{kind}['id']" in f"{exc.message} {exc.details_text or ''}"


def _retrieved(future: asyncio.Future[str]) -> None:
    """An upload's failure reaches each send that waited for it; with none waiting, asyncio must not warn."""
    if not future.cancelled():
        future.exception()


def _kind(job: outbox.Claimed) -> str:
    """A job's message type, or ``read`` / ``typing`` for a read receipt (with the typing indicator)."""
    if job.kind == outbox.JobKind.SEND.value:
        return job.message_type
    return "typing" if job.kind == outbox.JobKind.READ_TYPING.value else "read"


def _recipient(payload: dict[str, Any]) -> str:
    return str(payload.get("to") or payload.get("recipient") or "")


def _later(seconds: float) -> datetime:
    return utcnow() + timedelta(seconds=seconds)
