"""Applying parsed webhooks to the store in bulk: a handful of statements per batch of events, not per event.

Order matters and is fixed here: contacts, conversations and media first (messages point at them), then the
messages themselves (inserted once, by a unique constraint), then what new messages do to others (reactions,
edits, revokes, number changes), then statuses (which may concern messages of the same batch), preferences
and account events. Effects run only for rows that were really inserted, so a replay changes nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain
from wahub.domain import Direction, MessageStatus, MessageType
from wahub.store import (
    contacts,
    conversations,
    imported,
    media,
    messages,
    stream,
    subscriber_webhooks,
)
from wahub.store.models import Account, Contact, Message, utcnow
from wahub.store.search_text import indexed_text
from wahub.worker import apply_notices
from wahub.worker.apply_notices import Accounts as Accounts
from wahub.worker.apply_notices import Counts as Counts
from wahub.worker.outcome import Held, Outcome


@dataclass(frozen=True, slots=True)
class _Msg:
    index: int
    account: Account
    value: domain.InboundMessage


def signed_part(
    parsed: domain.ParsedWebhook, known: Accounts, signed_by: str | None
) -> tuple[domain.ParsedWebhook, int]:
    """The part of ``parsed`` that the app secret which signed it may change, and how many changes were left out.
    One webhook URL serves every account, so a body verified by one app's secret must not change another app's
    numbers (``signature.key_id``). ``signed_by`` None: journaled before wahub recorded signers; taken whole."""
    if signed_by is None or not _any_foreign(parsed, known, signed_by):
        return parsed, 0  # nearly every event: nothing to leave out, nothing rebuilt
    kept = domain.ParsedWebhook(
        messages=[m for m in parsed.messages if not known.foreign(signed_by, m.phone_number_id)],
        statuses=[s for s in parsed.statuses if not known.foreign(signed_by, s.phone_number_id)],
        preferences=[p for p in parsed.preferences if not known.foreign(signed_by, p.phone_number_id)],
        account_events=[e for e in parsed.account_events if not known.foreign(signed_by, e.phone_number_id, e.waba_id)],
        errors=[e for e in parsed.errors if not known.foreign(signed_by, e.phone_number_id)],
        groups=[g for g in parsed.groups if not known.foreign(signed_by, g.phone_number_id)],
    )
    refused = _size(parsed) - _size(kept)
    return (kept if refused else parsed), refused


def _any_foreign(parsed: domain.ParsedWebhook, known: Accounts, signed_by: str) -> bool:
    numbered = (parsed.messages, parsed.statuses, parsed.preferences, parsed.errors, parsed.groups)
    return any(known.foreign(signed_by, item.phone_number_id) for kind in numbered for item in kind) or any(
        known.foreign(signed_by, e.phone_number_id, e.waba_id) for e in parsed.account_events
    )


def is_empty(parsed: domain.ParsedWebhook) -> bool:
    return _size(parsed) == 0


def _size(parsed: domain.ParsedWebhook) -> int:
    kinds = (parsed.messages, parsed.statuses, parsed.preferences, parsed.account_events, parsed.errors, parsed.groups)
    return sum(len(kind) for kind in kinds)


async def apply_batch(
    session: AsyncSession,
    known: Accounts,
    batch: Sequence[tuple[int, domain.ParsedWebhook]],
    out: subscriber_webhooks.Collector | None = None,
) -> Counts:
    """Store everything ``batch`` says; returns what happened per event index (for the event's result). ``out``
    collects the subscriber webhooks' events: new inbound messages and statuses that moved a message."""
    counts: Counts = defaultdict(Counter)
    msgs: list[_Msg] = []
    for index, parsed in batch:
        for value in parsed.messages:
            account = known.by_number.get(value.phone_number_id)
            if account is None:
                counts[index][Held(Outcome.MESSAGE_FOR_UNKNOWN_NUMBER)] += 1
            else:
                msgs.append(_Msg(index, account, value))
    prefs = [
        (index, account, pref)
        for index, parsed in batch
        for pref in parsed.preferences
        if (account := known.by_number.get(pref.phone_number_id)) is not None
    ]
    # Messages stored already (a redelivery) need no contact work: resolving their sender again could recreate
    # a contact that has since changed number. The insert below still deduplicates on its own.
    stored = await messages.existing_wamids(session, {(m.account.id, m.value.provider_id) for m in msgs})
    again = [m for m in msgs if (m.account.id, m.value.provider_id) in stored]
    await _fill_placeholders(session, again, counts)
    msgs = [m for m in msgs if (m.account.id, m.value.provider_id) not in stored]
    msgs = _placeholders_last(msgs, counts)
    resolved = await _contacts(session, msgs, prefs)
    await _messages(session, msgs, resolved, counts, out)
    await apply_notices.record_statuses(session, known, batch, counts, out)
    for index, account, pref in prefs:
        contacts.record_preference(resolved[account.id].get(pref.contact), pref.category, pref.value, pref.timestamp)
        counts[index][Held(Outcome.PREFERENCE)] += 1
    await apply_notices.record_account_events(session, known, batch, counts, out)
    await apply_notices.apply_groups(session, known, batch)
    return counts


def _placeholders_last(msgs: list[_Msg], counts: Counts) -> list[_Msg]:
    """A history placeholder and the message that replaces it in the same batch: the message is kept (the
    insert keeps the first row of a wamid, and would keep the placeholder)."""
    keep: dict[tuple[int, str], _Msg] = {}
    for m in msgs:
        key = (m.account.id, m.value.provider_id)
        first = keep.get(key)
        if first is None:
            keep[key] = m
        elif _stands_in(first) and not _stands_in(m):
            keep[key] = m
            counts[first.index][Held(Outcome.PLACEHOLDER_FILLED)] += 1
        else:
            counts[m.index][Held(Outcome.DUPLICATE_MESSAGE)] += 1
    return list(keep.values())


def _stands_in(m: _Msg) -> bool:
    return domain.is_media_placeholder(m.value.type.value, m.value.content)


async def _fill_placeholders(session: AsyncSession, again: list[_Msg], counts: Counts) -> None:
    """Messages stored already are duplicates, but for two cases. A history sync first sends a media message as
    a ``media_placeholder`` and later the message itself with its media (same wamid): the stored placeholder
    then becomes that message, and its media is fetched like any other. And a message stored as ``unknown``
    by an older wahub, read again (redelivered, or ``wahub events reprocess``) by a parser that knows its type,
    takes that type and its fields (``RETYPED``)."""
    real = [m for m in again if m.value.type is not MessageType.UNKNOWN]
    rows = await messages.by_wamids(session, {(m.account.id, m.value.provider_id) for m in real})
    fills = []
    for m in again:
        row = rows.get((m.account.id, m.value.provider_id))
        if m.value.type is not MessageType.UNKNOWN and row is not None and _stand_in(row):
            fills.append((m, row))
        else:
            counts[m.index][Held(Outcome.DUPLICATE_MESSAGE)] += 1
    media_ids = await media.register_many(
        session, [(m.account.id, m.value.media) for m, _ in fills if m.value.media is not None]
    )
    for m, row in fills:
        retyped = not domain.is_media_placeholder(row.type, row.content)
        row.type, row.content, row.raw = m.value.type.value, m.value.content, m.value.raw
        row.search_text = indexed_text(row.type, row.content)
        if m.value.media is not None:
            row.media_id = media_ids.get((m.account.id, m.value.media.media_id))
        if retyped:
            row.reply_to_wamid, row.target_wamid = m.value.reply_to, m.value.target
        counts[m.index][Held(Outcome.RETYPED if retyped else Outcome.PLACEHOLDER_FILLED)] += 1


def _stand_in(row: Message) -> bool:
    """A stored message that a later reading of it replaces: one of unknown type (a history placeholder is one)."""
    return row.type == MessageType.UNKNOWN.value


async def _contacts(
    session: AsyncSession, msgs: list[_Msg], prefs: list[tuple[int, Account, domain.UserPreference]]
) -> dict[int, contacts.Resolved]:
    refs: dict[int, list[domain.ContactRef]] = defaultdict(list)
    for m in msgs:
        refs[m.account.id].append(m.value.contact)
        if m.value.group_id:
            refs[m.account.id].append(domain.group_contact(m.value.group_id))
    for _, account, pref in prefs:
        refs[account.id].append(pref.contact)
    return {account_id: await contacts.resolve_many(session, account_id, items) for account_id, items in refs.items()}


async def _messages(
    session: AsyncSession,
    msgs: list[_Msg],
    resolved: dict[int, contacts.Resolved],
    counts: Counts,
    out: subscriber_webhooks.Collector | None,
) -> None:
    if not msgs:
        return
    media_ids = await media.register_many(session, [(m.account.id, m.value.media) for m in msgs if m.value.media])
    threads = {}
    for account_id, found in resolved.items():
        ids = {found.get(_chat(m.value)).id for m in msgs if m.account.id == account_id}
        threads[account_id] = await conversations.resolve_rows(session, account_id, ids)
    now = utcnow()
    rows = []
    for m in msgs:
        contact = resolved[m.account.id].get(m.value.contact)
        chat = resolved[m.account.id].get(_chat(m.value))
        rows.append(_row(m, contact.id, threads[m.account.id][chat.id].id, media_ids, now))
    msgs, rows = await _take_over_imported(session, msgs, rows, counts)
    new = await messages.insert_many(session, rows) if rows else {}
    inserted = {(row["account_id"], row["wamid"]): row for row in rows}
    fresh = [m for m in msgs if (m.account.id, m.value.provider_id) in new]
    for m in msgs:
        if (m.account.id, m.value.provider_id) not in new:
            counts[m.index][Held(Outcome.DUPLICATE_MESSAGE)] += 1
    targets = await messages.by_wamids(
        session, {(m.account.id, m.value.target) for m in fresh if m.value.target is not None}, lock=True
    )
    arrivals = conversations.Arrivals()
    for m in sorted(fresh, key=lambda m: m.value.timestamp):
        contact = resolved[m.account.id].get(m.value.contact)
        thread = threads[m.account.id][resolved[m.account.id].get(_chat(m.value)).id]
        if m.value.direction is Direction.INBOUND:
            arrivals.inbound(thread, m.value.timestamp)
            contacts.record_text(contact, m.account.opt_out_keyword, m.value)  # the opt-out keyword opts out
            if out is not None:
                mid = new[(m.account.id, m.value.provider_id)]
                view = stream.created_view(mid, inserted[(m.account.id, m.value.provider_id)])
                live = stream.message_created(mid, thread.id, "inbound", view, thread)
                if out.wants(subscriber_webhooks.MESSAGE_RECEIVED):
                    out.add(subscriber_webhooks.MESSAGE_RECEIVED, _received(m, mid, thread.id, contact), live=live)
                else:
                    out.live(live)
        else:
            arrivals.activity(thread, m.value.timestamp)
            if out is not None:  # an echo: sent from the WhatsApp Business app
                mid = new[(m.account.id, m.value.provider_id)]
                view = stream.created_view(mid, inserted[(m.account.id, m.value.provider_id)])
                out.live(stream.message_created(mid, thread.id, "echo", view, thread))
        counts[m.index][Held(Outcome.UNKNOWN_MESSAGE if m.value.type is MessageType.UNKNOWN else Outcome.MESSAGE)] += 1
        target = targets.get((m.account.id, m.value.target or ""))
        _effect(m.value, target, contact.wa_id or contact.user_id or "", counts[m.index])
        if out is not None and target is not None and m.value.type in _EFFECTS:
            out.live([stream.Change(stream.MESSAGE_UPDATED, target.id, why=m.value.type.value)])
        if m.value.new_wa_id:
            await contacts.change_number(session, contact, m.value.new_wa_id)
            counts[m.index][Held(Outcome.NUMBER_CHANGE)] += 1
    await conversations.record_arrivals(session, arrivals)


async def _take_over_imported(
    session: AsyncSession, msgs: list[_Msg], rows: list[dict[str, Any]], counts: Counts
) -> tuple[list[_Msg], list[dict[str, Any]]]:
    """A history or echo message that an imported chat export holds already (``store/imported.py``) takes over
    the imported row (its wamid, raw and exact time) instead of a second row: the messages and rows left to
    insert. One query, and only for a batch with history or echoes: live inbound messages come after any export."""
    pairs = [
        (m, r)
        for m, r in zip(msgs, rows, strict=True)
        if (m.value.history or m.value.direction is Direction.OUTBOUND) and imported.can_be_imported(r["type"])
    ]
    if not pairs:
        return msgs, rows
    arriving = [
        imported.Arriving(r["conversation_id"], r["direction"], r["provider_timestamp"], r["type"], r["content"])
        for _, r in pairs
    ]
    taken: set[int] = set()
    for (m, r), row in zip(pairs, await imported.matching(session, arriving), strict=True):
        if row is None:
            continue
        row.wamid, row.raw, row.reply_to_wamid = r["wamid"], r["raw"], r["reply_to_wamid"]
        row.provider_timestamp = r["provider_timestamp"]  # to the second: the export had the minute
        if row.direction == Direction.OUTBOUND.value:
            row.sent_at = r["sent_at"]
        if row.media_id is None:
            row.media_id = r["media_id"]
        taken.add(id(m))
        counts[m.index][Held(Outcome.IMPORT_TAKEN_OVER)] += 1
    if not taken:
        return msgs, rows
    kept = [(m, r) for m, r in zip(msgs, rows, strict=True) if id(m) not in taken]
    return [m for m, _ in kept], [r for _, r in kept]


def _received(m: _Msg, message_id: int, conversation_id: int, contact: Contact) -> dict[str, Any]:
    """``message.received``'s data: the message as the API shows it, in short."""
    value = m.value
    return {
        **value.content,  # the typed content in Meta's shape ("text": {"body": …}), as the API shows it
        "message_id": message_id,
        "wamid": value.provider_id,
        "phone_number_id": m.account.phone_number_id,
        "conversation_id": conversation_id,
        "contact": {
            "id": contact.id,
            "wa_id": contact.wa_id,
            "user_id": contact.user_id,
            "name": contact.profile_name,
        },
        "type": value.type.value,
        "timestamp": subscriber_webhooks.timestamp(value.timestamp),
        "group_id": value.group_id,
        "reply_to": value.reply_to,
    }


def _chat(value: domain.InboundMessage) -> domain.ContactRef:
    """Whose conversation a message belongs to: its group's, or its sender's."""
    return domain.group_contact(value.group_id) if value.group_id else value.contact


def _row(
    m: _Msg, contact_id: int, conversation_id: int, media_ids: dict[tuple[int, str], int], now: Any
) -> dict[str, Any]:
    value = m.value
    inbound = value.direction is Direction.INBOUND
    return {
        "account_id": m.account.id,
        "conversation_id": conversation_id,
        "contact_id": contact_id,
        "direction": value.direction.value,
        "type": value.type.value,
        "wamid": value.provider_id,
        # Echoes are messages the business sent from the WhatsApp Business app: already sent.
        "status": (MessageStatus.RECEIVED if inbound else MessageStatus.SENT).value,
        "content": value.content,
        "raw": value.raw,
        "reply_to_wamid": value.reply_to,
        "target_wamid": value.target,
        "group_id": value.group_id,
        "search_text": indexed_text(value.type.value, value.content),  # indexed in the same insert
        "media_id": media_ids.get((m.account.id, value.media.media_id)) if value.media else None,
        "created_at": now,
        "provider_timestamp": value.timestamp,
        "sent_at": None if inbound else value.timestamp,
    }


_EFFECTS = (MessageType.REACTION, MessageType.EDIT, MessageType.REVOKE)


def _effect(value: domain.InboundMessage, target: Message | None, who: str, counts: Counter[Held]) -> None:
    """What a reaction, an edit or a revoke does to the message it names."""
    if value.type not in _EFFECTS:
        return
    if target is None:
        counts[Held(Outcome.UNKNOWN_TARGET, value.type.value)] += 1
        return
    if value.type is MessageType.REACTION:
        reaction = value.content.get("reaction")
        emoji = reaction.get("emoji") if isinstance(reaction, dict) else None
        key = who if value.direction is Direction.INBOUND else "business"
        messages.apply_reaction(target, key, emoji if isinstance(emoji, str) else None)
    elif value.type is MessageType.EDIT:
        edit = value.content.get("edit")
        new = edit.get("message") if isinstance(edit, dict) else None
        if isinstance(new, dict):
            messages.apply_edit(target, {k: v for k, v in new.items() if k != "type"}, value.timestamp)
    else:
        messages.apply_revoke(target, value.timestamp)
