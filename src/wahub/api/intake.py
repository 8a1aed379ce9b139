"""``POST /api/v1/messages`` under load: the sends that arrive while a transaction is being written are queued
together in the next one (group commit), with the statements of ``outbound.queue_many``, so a program posting
its messages one by one from many connections is not held to one transaction per message.

Each send keeps its own answer: a refused one (closed window, unknown account, a conflicting Idempotency-Key)
refuses only itself. If the shared transaction itself fails, each of its sends is tried again alone, so one
bad row cannot fail the others, and nothing is answered 202 unless its transaction committed."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import batcher, errors
from wahub.api import schemas
from wahub.sending import service
from wahub.sending.request import SendRequest
from wahub.store import apikeys, db, idempotency, outbound
from wahub.store.models import Account

log = logging.getLogger(__name__)

MAX_BATCH = 256  # sends per transaction
KNOWN_KEYS = 1_000  # API keys remembered as live (the set starts over when full)


@dataclass(frozen=True, slots=True)
class Queued:
    message: schemas.MessageOut
    replayed: bool  # an Idempotency-Key seen before: the first request's message, nothing queued now


@dataclass(slots=True)
class _Send:
    request: SendRequest
    api_key: str | None  # its hash (``apikeys.hash_key``); None for a user's send
    key: str | None
    digest: str
    user_id: int | None = None  # the signed-in user who sends it (no Idempotency-Key then)
    agent_id: int | None = None  # that user, when an agent: the send must stay within what they may see


class SendIntake:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_batch: int = MAX_BATCH) -> None:
        self._sessions = sessions
        self._batcher: batcher.Batcher[_Send, Queued] = batcher.Batcher(
            self._write, max_batch=max_batch, name="send-intake"
        )
        self._live: set[str] = set()

    def known_live(self, key_hash: str) -> bool:
        """This API key was live when last checked (each send's transaction checks it again)."""
        return key_hash in self._live

    def seen_live(self, key_hash: str) -> None:
        if len(self._live) >= KNOWN_KEYS:
            self._live.clear()
        self._live.add(key_hash)

    async def submit(
        self,
        request: SendRequest,
        api_key: str | None,
        key: str | None,
        digest: str,
        *,
        user_id: int | None = None,
        agent: bool = False,
    ) -> Queued:
        """Queue ``request``, sent with the API key whose hash is ``api_key`` and ``Idempotency-Key`` ``key``, or by
        the user ``user_id`` (without a key; an ``agent`` only where they may see: ``service.prepare``), with the
        sends that arrive meanwhile; returns once it is committed, or raises why it was refused."""
        if (api_key is None) == (user_id is None) or (user_id is not None and key is not None):
            raise ValueError("a send is an API key's (with or without Idempotency-Key) or a user's (without)")
        send = _Send(request, api_key, key, digest, user_id, user_id if agent else None)
        done = self._batcher.put(send)
        return await asyncio.shield(done)  # a client that hangs up does not cancel the others' batch

    def open(self) -> None:
        """Take sends (again, after ``close``: an app served twice)."""
        self._batcher.reopen()

    async def close(self) -> None:
        """Write what is queued and stop the writer (the app's shutdown)."""
        await self._batcher.close()

    async def _write(self, batch: list[_Send]) -> list[Queued | BaseException]:
        try:
            async with db.transaction(self._sessions) as session:
                return await self._queue_batch(session, batch)
        except Exception as exc:
            if len(batch) > 1:
                log.warning(
                    "a batch of %d sends failed together (%s); trying each alone", len(batch), type(exc).__name__
                )
            return [await self._alone(send) for send in batch]

    async def _alone(self, send: _Send) -> Queued | BaseException:
        for attempt in (1, 2):
            try:
                async with db.transaction(self._sessions) as session:
                    (outcome,) = await self._queue_batch(session, [send])
                return outcome
            except IntegrityError as exc:
                # Another process committed the same Idempotency-Key first: the second try replays it.
                if send.key is None or attempt == 2:
                    return exc
            except Exception as exc:  # the database itself
                return exc
        raise AssertionError("unreachable")

    async def _queue_batch(self, session: AsyncSession, batch: list[_Send]) -> list[Queued | BaseException]:
        """Queue ``batch`` in ``session``'s transaction; each send's answer, or the error that refuses it."""
        outcomes: list[Queued | BaseException | None] = [None] * len(batch)
        live = await apikeys.live_ids(session, {send.api_key for send in batch if send.api_key is not None})
        senders: dict[str | None, Account] = {}
        firsts: dict[tuple[int, str], int] = {}  # a key's first send in this batch
        repeats: list[tuple[int, int]] = []
        wanted: list[tuple[int, outbound.QueuedSend]] = []
        for i, send in enumerate(batch):
            if send.api_key is None:  # a user's, authenticated by the route
                try:
                    prepared = await service.prepare(
                        session, send.request, senders, sent_by_user_id=send.user_id, agent_id=send.agent_id
                    )
                    wanted.append((i, prepared))
                except errors.WahubError as exc:
                    outcomes[i] = exc
                continue
            api_key_id = live.get(send.api_key)
            if api_key_id is None:  # revoked since this process last saw it live
                self._live.discard(send.api_key)
                outcomes[i] = errors.Unauthorized("the API key is not valid or was revoked")
                continue
            try:
                if send.key is not None:
                    if (api_key_id, send.key) in firsts:
                        repeats.append((i, firsts[(api_key_id, send.key)]))
                        continue
                    first = await idempotency.replayed(session, api_key_id, send.key, send.digest)
                    if first is not None:
                        outcomes[i] = Queued(await schemas.MessageOut.load(session, first), replayed=True)
                        continue
                    firsts[(api_key_id, send.key)] = i
                wanted.append((i, await service.prepare(session, send.request, senders, sent_by_api_key_id=api_key_id)))
            except errors.WahubError as exc:
                outcomes[i] = exc
        queued = await outbound.queue_many(session, [item for _, item in wanted])
        names = await schemas.sender_names(session, [r[0] for r in queued if not isinstance(r, errors.WindowClosed)])
        for (i, item), result in zip(wanted, queued, strict=True):
            if isinstance(result, errors.WindowClosed):
                outcomes[i] = result
                continue
            message, contact = result
            send = batch[i]
            if send.key is not None and send.api_key is not None:
                idempotency.remember(session, live[send.api_key], send.key, send.digest, message.id)
            providers = {item.account.id: item.account.provider}
            out = schemas.MessageOut.of(message, contact, providers, list(item.entities), names)
            outcomes[i] = Queued(out, replayed=False)
        for i, first in repeats:  # the same key twice in one batch: the second is a retry of the first
            earlier = outcomes[first]
            if batch[i].digest != batch[first].digest:
                outcomes[i] = errors.IdempotencyConflict(
                    "this Idempotency-Key was already used with a different request body", key=batch[i].key
                )
            elif isinstance(earlier, Queued):
                outcomes[i] = Queued(earlier.message, replayed=True)
            else:
                outcomes[i] = earlier
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]
