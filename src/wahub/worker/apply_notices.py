"""What a batch of parsed webhooks says beside messages (``worker/apply.py`` stores those, then calls these in
its fixed order): statuses, account events (template, quality, preferences, errors, unknown fields) and group
changes; and the accounts a batch may concern."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain
from wahub.domain import MessageStatus
from wahub.store import account_events, groups, messages, outbox, statuses, subscriber_webhooks
from wahub.store.models import Account
from wahub.worker.outcome import Held, Outcome

Counts = dict[int, Counter[Held]]


class Accounts:
    """The accounts a batch may concern, by phone_number_id and by WABA id."""

    def __init__(self, rows: Sequence[Account]) -> None:
        self.by_number = {a.phone_number_id: a for a in rows if a.phone_number_id}
        self.by_waba: dict[str, Account] = {}
        self._waba_keys: dict[str, set[str | None]] = defaultdict(set)
        for account in rows:
            if account.waba_id:
                self.by_waba.setdefault(account.waba_id, account)
                self._waba_keys[account.waba_id].add(account.webhook_key_id)

    def foreign(self, signed_by: str, phone_number_id: str | None, waba_id: str | None = None) -> bool:
        """True when a change names an account whose app secret is not the one that signed its event. A change
        naming no account of ours changes nothing of ours, and is not foreign."""
        account = self.by_number.get(phone_number_id) if phone_number_id else None
        if account is not None:
            return account.webhook_key_id != signed_by
        if waba_id and waba_id in self._waba_keys:
            return signed_by not in self._waba_keys[waba_id]
        return False


async def record_statuses(
    session: AsyncSession,
    known: Accounts,
    batch: Sequence[tuple[int, domain.ParsedWebhook]],
    counts: Counts,
    out: subscriber_webhooks.Collector | None,
) -> None:
    items = []
    for index, parsed in batch:
        for update in parsed.statuses:
            account = known.by_number.get(update.phone_number_id)
            if account is None:
                counts[index][Held(Outcome.STATUS_FOR_UNKNOWN_NUMBER)] += 1
                continue
            items.append((account.id, update))
            counts[index][
                Held(Outcome.STATUS if update.status is not MessageStatus.UNKNOWN else Outcome.UNKNOWN_STATUS)
            ] += 1
    if items:
        # The messages they name, locked in one order before any is written (``messages.lock_in_order``).
        await messages.lock_in_order(
            session,
            {mid for _, u in items if (mid := domain.referenced_message(u.reference)) is not None},
            {(account_id, u.provider_id) for account_id, u in items},
        )
        await outbox.confirm_sent(session, items)  # before: a status may name a message whose send's answer was lost
        await statuses.record_many(session, items, out)


async def record_account_events(
    session: AsyncSession,
    known: Accounts,
    batch: Sequence[tuple[int, domain.ParsedWebhook]],
    counts: Counts,
    out: subscriber_webhooks.Collector | None,
) -> None:
    new: list[account_events.NewEvent] = []
    for index, parsed in batch:
        for event in parsed.account_events:
            account = known.by_number.get(event.phone_number_id or "") or known.by_waba.get(event.waba_id)
            new.append(
                account_events.NewEvent(
                    event.field,
                    event.waba_id,
                    event.phone_number_id,
                    event.raw,
                    event.timestamp,
                    account.id if account else None,
                )
            )
            counts[index][Held(Outcome.ACCOUNT_EVENT, event.field)] += 1
        for pref in parsed.preferences:
            account = known.by_number.get(pref.phone_number_id)
            new.append(
                account_events.NewEvent(
                    "user_preferences",
                    account.waba_id if account else None,
                    pref.phone_number_id,
                    pref.raw,
                    pref.timestamp,
                    account.id if account else None,
                )
            )
        for error in parsed.errors:
            account = known.by_number.get(error.phone_number_id or "")
            new.append(
                account_events.NewEvent(
                    "errors",
                    account.waba_id if account else None,
                    error.phone_number_id,
                    error.raw,
                    None,
                    account.id if account else None,
                )
            )
            counts[index][Held(Outcome.ERROR_REPORT)] += 1
    if new:
        await account_events.record_many(session, new, out)


async def apply_groups(
    session: AsyncSession, known: Accounts, batch: Sequence[tuple[int, domain.ParsedWebhook]]
) -> None:
    """Group webhooks change the stored groups (each is also stored as an account event, counted there)."""
    by_account: dict[int, list[domain.GroupEvent]] = defaultdict(list)
    for _, parsed in batch:
        for event in parsed.groups:
            account = known.by_number.get(event.phone_number_id)
            if account is not None:
                by_account[account.id].append(event)
    for account_id, events in by_account.items():
        await groups.apply_events(session, account_id, events)
