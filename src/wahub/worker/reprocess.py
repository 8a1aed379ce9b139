"""Reprocessing (``wahub events reprocess --since …``): stored webhooks read again by today's parser, after an
upgrade taught it what an older wahub stored as ``unknown``.

Two sources, in this order:

1. The journal's raw events received in the period (processed ones: the processor has the others), parsed and
   applied as the processor applies them (``apply.apply_batch``, under the same signer check). Applying is
   idempotent: a message stored already is left as it is, unless it is stored as ``unknown`` and is now read
   as a type, which it then takes with its fields (``Outcome.RETYPED``); statuses and account events are
   stored once; nothing is duplicated. A message the journal holds that was never stored (its number was not an
   account's yet) is stored now. No subscriber webhooks or live events are sent for what it changes.
2. Events older than ``WAHUB_RAW_EVENT_DAYS`` are pruned from the journal, but each message keeps its own raw
   JSON (Meta's message object): Meta messages of the period still ``unknown`` are rebuilt from it and
   applied the same way. Only the message object is there (not its envelope: the contact's profile name, the
   statuses around it), which is all that retyping needs. Twilio messages come only from the journal.

A reaction, edit or revoke that was ``unknown`` takes its type but does not act on its target now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import domain
from wahub.domain import ContactRef, Direction, MessageType
from wahub.store import accounts, db, events
from wahub.store.models import Account, Contact, Message, WebhookEvent
from wahub.webhook import meta_messages
from wahub.worker import apply, processor
from wahub.worker.outcome import Held, Outcome

CHUNK = 500


@dataclass(slots=True)
class Summary:
    """What a reprocessing read and changed."""

    events: int = 0  # journal events read
    rejected: int = 0  # of those, bodies the parser refuses
    retyped: int = 0  # messages stored as unknown that now have their type (from the journal)
    retyped_from_message: int = 0  # the same, from the message's own raw JSON (its event pruned)
    unchanged: int = 0  # messages stored already as they are
    added: int = 0  # messages the journal held that had not been stored
    oldest_event: datetime | None = None  # the journal's oldest event: events before it were pruned

    def lines(self, since: datetime) -> list[str]:
        said = [
            f"events read {self.events} (rejected {self.rejected}), messages updated "
            f"{self.retyped + self.retyped_from_message} (from the journal {self.retyped}, from their own raw "
            f"JSON {self.retyped_from_message}), unchanged {self.unchanged}, added {self.added}"
        ]
        if self.oldest_event is None or self.oldest_event > since:
            said.append(
                "the journal holds no events before "
                + (f"{self.oldest_event:%Y-%m-%d %H:%M} UTC" if self.oldest_event else "now")
                + " (pruned after WAHUB_RAW_EVENT_DAYS): messages of that time were read from their own raw JSON"
            )
        return said


async def run(
    sessions: async_sessionmaker[AsyncSession],
    event_sessions: async_sessionmaker[AsyncSession],
    since: datetime,
    until: datetime,
) -> Summary:
    """Reprocess the webhooks received in ``[since, until)`` (see the module docstring)."""
    summary = Summary()
    readers = db.sessionmaker(db.engine_of(event_sessions), readonly=True)
    async with readers() as ev, ev.begin():
        summary.oldest_event = await ev.scalar(sa.select(sa.func.min(WebhookEvent.received_at)))
    after = 0
    while True:
        async with readers() as ev, ev.begin():
            rows = (
                await ev.execute(
                    sa.select(
                        WebhookEvent.id,
                        WebhookEvent.body,
                        WebhookEvent.attempts,
                        WebhookEvent.received_at,
                        WebhookEvent.signed_by,
                        WebhookEvent.provider,
                    )
                    .where(
                        WebhookEvent.id > after,
                        WebhookEvent.received_at >= since,
                        WebhookEvent.received_at < until,
                        WebhookEvent.processed_at.is_not(None),
                    )
                    .order_by(WebhookEvent.id)
                    .limit(CHUNK)
                )
            ).all()
        if not rows:
            break
        after = rows[-1].id
        claimed = [
            events.Claimed(r.id, bytes(r.body), r.attempts, r.received_at, r.signed_by, r.provider) for r in rows
        ]
        summary.events += len(claimed)
        async with db.transaction(sessions) as session:
            known = apply.Accounts(await accounts.all_accounts(session))
            parsed: list[tuple[int, domain.ParsedWebhook]] = []
            for index, event in enumerate(claimed):
                try:
                    value = processor.parse(event)
                except processor.MALFORMED:
                    summary.rejected += 1
                    continue
                value, _refused = apply.signed_part(value, known, event.signed_by)
                parsed.append((index, value))
            _count(summary, await apply.apply_batch(session, known, parsed), from_journal=True)
    await _from_messages(sessions, since, until, summary)
    return summary


async def _from_messages(
    sessions: async_sessionmaker[AsyncSession], since: datetime, until: datetime, summary: Summary
) -> None:
    """Meta messages of the period still ``unknown``, rebuilt from their own raw JSON (their events pruned)."""
    when = sa.func.coalesce(Message.provider_timestamp, Message.created_at)
    after = 0
    while True:
        async with db.transaction(sessions) as session:
            stmt = (
                sa.select(Message, Contact, Account)
                .join(Contact, Contact.id == Message.contact_id)
                .join(Account, Account.id == Message.account_id)
                .where(
                    Message.id > after,
                    Message.type == MessageType.UNKNOWN.value,
                    Account.provider == "meta",
                    Message.wamid.is_not(None),
                    when >= since,
                    when < until,
                )
                .order_by(Message.id)
                .limit(CHUNK)
            )
            rows = (await session.execute(stmt)).tuples().all()
            if not rows:
                return
            after = rows[-1][0].id
            known = apply.Accounts(await accounts.all_accounts(session))
            rebuilt = [(index, domain.ParsedWebhook(messages=[value])) for index, value in _rebuilt(rows)]
            _count(summary, await apply.apply_batch(session, known, rebuilt), from_journal=False)


def _rebuilt(rows: Sequence[tuple[Message, Contact, Account]]) -> list[tuple[int, domain.InboundMessage]]:
    found = []
    for index, (message, contact, account) in enumerate(rows):
        if not isinstance(message.raw, dict) or not account.phone_number_id or not message.wamid:
            continue
        value = meta_messages.build(
            message.raw,
            phone_number_id=account.phone_number_id,
            provider_id=message.wamid,
            contact=ContactRef(wa_id=contact.wa_id, user_id=contact.user_id),
            timestamp=message.provider_timestamp or message.created_at,
            direction=Direction(message.direction),
        )
        if value.type is not MessageType.UNKNOWN:
            found.append((index, value))
    return found


def _count(summary: Summary, counts: apply.Counts, *, from_journal: bool) -> None:
    total: Counter[Held] = Counter()
    for held in counts.values():
        total.update(held)
    retyped = total[Held(Outcome.RETYPED)] + total[Held(Outcome.PLACEHOLDER_FILLED)]
    if from_journal:
        summary.retyped += retyped
        summary.unchanged += total[Held(Outcome.DUPLICATE_MESSAGE)]
        summary.added += total[Held(Outcome.MESSAGE)] + total[Held(Outcome.UNKNOWN_MESSAGE)]
    else:
        summary.retyped_from_message += retyped
