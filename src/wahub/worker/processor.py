"""The processor: turns stored webhook events into contacts, conversations, messages and statuses.

Runs after the ack. Each batch is one transaction holding its events locked, each event in a savepoint: a
crash replays the batch, a bad event cannot take its neighbours down, and nothing is stored twice because
messages are inserted with ON CONFLICT DO NOTHING on (account, wamid).
"""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.store import accounts, contacts, conversations, db, events, messages
from wahub.store.models import Account, WebhookEvent
from wahub.webhook import meta

log = logging.getLogger(__name__)


class Processor:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], batch_size: int = 200) -> None:
        self._sessions = sessions
        self._batch_size = batch_size

    async def run_once(self) -> int:
        """Process one batch; returns how many events it took (0 when there was nothing to do)."""
        async with db.transaction(self._sessions) as session:
            batch = await events.claim_batch(session, self._batch_size)
            cache: dict[str, Account | None] = {}
            for event in batch:
                try:
                    async with session.begin_nested():
                        result = await self._process(session, event, cache)
                    events.mark_processed(event, result)
                except meta.MalformedPayload as exc:
                    log.warning("webhook event rejected", extra={"event_id": event.id, "reason": str(exc)})
                    events.mark_processed(event, f"rejected: {exc}")
                except Exception as exc:
                    log.exception("webhook event failed", extra={"event_id": event.id})
                    events.mark_failed_attempt(event, f"{type(exc).__name__}: {exc}")
            resolved = await messages.resolve_pending(session)
            return len(batch) + resolved

    async def _process(self, session: AsyncSession, event: WebhookEvent, cache: dict[str, Account | None]) -> str:
        parsed = meta.parse(event.body)
        counts: Counter[str] = Counter()
        for inbound in parsed.messages:
            account = await _account(session, inbound.phone_number_id, cache)
            if account is None:
                log.warning("message for a number with no account", extra={"phone_number_id": inbound.phone_number_id})
                counts["unknown number"] += 1
                continue
            contact = await contacts.upsert_contact(session, account.id, inbound.contact)
            conversation = await conversations.get_or_create(session, account.id, contact.id)
            stored = await messages.record_inbound(session, account.id, contact, conversation, inbound)
            counts["message" if stored else "duplicate message"] += 1
        for update in parsed.statuses:
            account = await _account(session, update.phone_number_id, cache)
            if account is None:
                counts["unknown number"] += 1
                continue
            applied = await messages.apply_status(session, account.id, update)
            counts["status" if applied else "early status"] += 1
        for other in parsed.others:
            counts[f"kept {other.field}"] += 1
        return "ok" + "".join(f"; {n} {what}" for what, n in sorted(counts.items()))


async def _account(session: AsyncSession, phone_number_id: str, cache: dict[str, Account | None]) -> Account | None:
    if phone_number_id not in cache:
        cache[phone_number_id] = await accounts.by_phone_number_id(session, phone_number_id)
    return cache[phone_number_id]
