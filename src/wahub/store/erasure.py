"""Erasing a person (``wahub contacts erase``, ``POST /api/v1/contacts/{id}/erase``): the store's part.

``erase`` removes, in the caller's transaction: the contact and its labels; its conversations with all their
messages; its own messages elsewhere (in groups); the statuses of those messages and the statuses naming them as
a group's recipient; media rows only those messages used (the blobs only those rows held are returned, for the
caller to delete from storage); subscriber webhook deliveries and live stream events that carry them. What
others' rows say of them (a reply quoting their number, a reaction keyed by it, an account event) is rewritten
(``scrub.scrub_json``). Statistics keep their counts: each erased message leaves an ``ErasedMessage`` with only
what ``stats`` counts. An ``AuditRecord`` says who erased whom (id and keyed hash of the number) and how much.

``scrub_journal`` does the same to the raw webhook events (``scrub.scrub_body``), in the journal's own
transaction (on SQLite it is a file of its own). Deleted rows may stay readable in the database's free space
until it is reused: see docs/privacy.md for ``secure_delete`` and VACUUM.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.domain import Direction
from wahub.store.models import (
    Account,
    AccountEvent,
    AuditRecord,
    Contact,
    ContactLabel,
    Conversation,
    ErasedMessage,
    Group,
    Media,
    Message,
    StatusRecord,
    StreamBatch,
    WebhookDelivery,
    WebhookEvent,
    utcnow,
)
from wahub.store.search_text import indexed_text
from wahub.webhook import scrub

ACTION = "contact.erase"
_CHUNK = 500


@dataclass(slots=True)
class Erased:
    """How much an erasure removed (or, planned, would remove), by kind."""

    messages: int = 0
    conversations: int = 0
    statuses: int = 0
    media: int = 0
    blobs: int = 0
    labels: int = 0
    deliveries: int = 0
    stream_events: int = 0
    rewritten: int = 0  # others' messages and account events that named them
    journal_rewritten: int = 0
    journal_deleted: int = 0
    blob_keys: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {key: value for key, value in asdict(self).items() if key != "blob_keys"}


def person_of(contact: Contact, wamids: Iterable[str] = ()) -> scrub.Person:
    """Who ``contact`` is, as the scrubbers look for them: also by their messages' wamids, which others' rows
    quote (a reply's ``context.id``) and which, Meta's at least, encode the number."""
    ids = {contact.wa_id, contact.user_id, *(contact.previous_wa_ids or [])}
    names = {contact.profile_name, contact.saved_name}
    return scrub.Person(
        ids=frozenset(i for i in ids if i),
        names=frozenset(n.strip() for n in names if n and n.strip()),
        wamids=frozenset(wamids),
    )


async def person(session: AsyncSession, contact_id: int) -> scrub.Person:
    """The contact as ``person_of`` describes it (raises NotFound when it does not exist)."""
    found = await contact(session, contact_id)
    _, theirs = _theirs(contact_id)
    wamids = (await session.scalars(sa.select(Message.wamid).where(theirs, Message.wamid.is_not(None)))).all()
    return person_of(found, (w for w in wamids if w))


def number_hash(key: bytes, contact: Contact) -> str:
    """A keyed one-way hash of the contact's number (or user id): a number's hash can be checked with the key,
    and the number cannot be read back from it (a bare SHA-256 of a phone number is found by trying them all)."""
    ident = contact.wa_id or contact.user_id or ""
    return hmac.new(key, ident.encode(), hashlib.sha256).hexdigest()


async def contact(session: AsyncSession, contact_id: int, *, lock: bool = False) -> Contact:
    found = await session.get(Contact, contact_id, with_for_update=lock)
    if found is None:
        raise errors.NotFound(f"contact {contact_id} does not exist")
    return found


async def earlier(session: AsyncSession, contact_id: int) -> AuditRecord | None:
    """The audit record of the contact's erasure, if it was erased (a rerun asks before saying 404)."""
    stmt = sa.select(AuditRecord).where(AuditRecord.action == ACTION, AuditRecord.subject_id == contact_id)
    return (await session.scalars(stmt.order_by(AuditRecord.id.desc()).limit(1))).first()


def _theirs(contact_id: int) -> tuple[sa.Select[tuple[int]], sa.ColumnElement[bool]]:
    conversations = sa.select(Conversation.id).where(Conversation.contact_id == contact_id)
    return conversations, sa.or_(Message.contact_id == contact_id, Message.conversation_id.in_(conversations))


async def plan(session: AsyncSession, contact_id: int) -> Erased:
    """What ``erase`` would remove from the main tables (the journal, deliveries and stream are counted by
    ``erase`` itself)."""
    conversations, messages = _theirs(contact_id)
    count = sa.func.count()
    return Erased(
        messages=int(await session.scalar(sa.select(count).where(messages)) or 0),
        conversations=int(await session.scalar(sa.select(count).select_from(conversations.subquery())) or 0),
        statuses=int(
            await session.scalar(
                sa.select(count).where(StatusRecord.message_id.in_(sa.select(Message.id).where(messages)))
            )
            or 0
        ),
        media=int(await session.scalar(sa.select(sa.func.count(sa.distinct(Message.media_id))).where(messages)) or 0),
        labels=int(await session.scalar(sa.select(count).where(ContactLabel.contact_id == contact_id)) or 0),
    )


async def erase(session: AsyncSession, contact_id: int, *, actor: str, hash_key: bytes, journal: Erased) -> Erased:
    """Erase the contact from the main tables (see the module docstring); ``journal`` holds what
    ``scrub_journal`` did before, for the audit record. Returns the counts and the blobs to delete."""
    found = await contact(session, contact_id, lock=True)
    who = await person(session, contact_id)
    done = await plan(session, contact_id)
    done.journal_rewritten, done.journal_deleted = journal.journal_rewritten, journal.journal_deleted
    conversations, theirs = _theirs(contact_id)
    conversation_ids = set((await session.scalars(conversations)).all())
    rows = (await session.execute(sa.select(Message, Account.provider).join(Account).where(theirs))).all()
    message_ids = {m.id for m, _ in rows}
    await _keep_counts(session, [(m, provider) for m, provider in rows], conversation_ids)
    done.media, done.blob_keys = await _media(session, {m.media_id for m, _ in rows if m.media_id}, message_ids)
    done.blobs = len(done.blob_keys)
    group_ids = {m.conversation_id for m, _ in rows} - conversation_ids
    done.rewritten += await _rewrite_messages(session, group_ids, message_ids, who)
    done.rewritten += await _rewrite_account_events(session, who)
    done.rewritten += await _forget_in_groups(session, found.account_id, who)
    done.statuses += await _delete_statuses(session, found.account_id, who, message_ids)
    done.deliveries = await _delete_deliveries(session, who, contact_id, message_ids, conversation_ids)
    done.stream_events = await _blank_stream(session, who, message_ids, conversation_ids)
    # Cascades: conversations' messages, their statuses, wamid copies, outbox jobs, idempotency keys, entity
    # links; the contact's labels. Messages in groups are deleted by contact first.
    for chunk in _chunks(sorted(message_ids)):
        await session.execute(sa.delete(Message).where(Message.id.in_(chunk)))
    await session.execute(sa.delete(Conversation).where(Conversation.contact_id == contact_id))
    await session.execute(sa.delete(Contact).where(Contact.id == contact_id))
    session.add(
        AuditRecord(
            action=ACTION,
            actor=actor[:200],
            subject_id=contact_id,
            subject_hash=number_hash(hash_key, found),
            details=done.counts(),
            created_at=utcnow(),
        )
    )
    return done


async def _keep_counts(session: AsyncSession, rows: list[tuple[Message, str]], gone: set[int]) -> None:
    """What statistics count of each message, kept. The ids of rows that go (the contact, its conversations)
    are negated: a new row may reuse a deleted row's id; a group's conversation stays, and keeps its id."""
    kept = [
        {
            "account_id": m.account_id,
            "provider": provider,
            "happened_at": m.provider_timestamp or m.created_at,
            "direction": m.direction,
            "type": m.type,
            "status": m.status,
            "accepted": m.wamid is not None,
            "delivered": (m.delivered_at or m.read_at or m.played_at) is not None,
            "read": (m.read_at or m.played_at) is not None,
            "possible_duplicate": bool(m.possible_duplicate),
            "error_code": m.error_code if m.direction == Direction.OUTBOUND.value else None,
            "error_title": m.error_title if m.direction == Direction.OUTBOUND.value else None,
            "conversation_id": -m.conversation_id if m.conversation_id in gone else m.conversation_id,
            "contact_id": -m.contact_id,
        }
        for m, provider in rows
    ]
    if kept:
        await session.execute(sa.insert(ErasedMessage), kept)


async def _media(session: AsyncSession, media_ids: set[int], message_ids: set[int]) -> tuple[int, list[str]]:
    """Delete the media rows only these messages use; returns how many, and the storage keys no remaining row
    holds."""
    if not media_ids:
        return 0, []
    shared = set(
        (
            await session.scalars(
                sa.select(Message.media_id).where(Message.media_id.in_(media_ids), Message.id.not_in(message_ids))
            )
        ).all()
    )
    gone = media_ids - shared
    keys = set(
        (
            await session.scalars(
                sa.select(Media.storage_key).where(Media.id.in_(gone), Media.storage_key.is_not(None))
            )
        ).all()
    )
    await session.execute(sa.delete(Media).where(Media.id.in_(gone)))
    still = set((await session.scalars(sa.select(Media.storage_key).where(Media.storage_key.in_(keys)))).all())
    return len(gone), sorted(k for k in keys - still if k)


def _like_any(column: Any, person: scrub.Person) -> sa.ColumnElement[bool]:
    text = sa.cast(column, sa.Text)
    return sa.or_(*(text.like(f"%{ident}%") for ident in person.ids)) if person.ids else sa.false()


async def _rewrite_messages(
    session: AsyncSession, conversation_ids: set[int], erased: set[int], person: scrub.Person
) -> int:
    """Others' messages in the groups they wrote in that name them (a reply, a reaction), rewritten."""
    if not conversation_ids:
        return 0
    stmt = sa.select(Message).where(
        Message.conversation_id.in_(conversation_ids),
        Message.id.not_in(erased),
        sa.or_(
            _like_any(Message.content, person), _like_any(Message.raw, person), _like_any(Message.reactions, person)
        ),
    )
    found = list((await session.scalars(stmt)).all())
    for m in found:
        m.content = scrub.scrub_json(m.content, person)
        m.raw = scrub.scrub_json(m.raw, person)
        m.reactions = scrub.scrub_json(m.reactions, person)
        m.history = scrub.scrub_json(m.history, person)
        m.search_text = indexed_text(m.type, m.content) if m.revoked_at is None else None
    return len(found)


async def _rewrite_account_events(session: AsyncSession, person: scrub.Person) -> int:
    found = list((await session.scalars(sa.select(AccountEvent).where(_like_any(AccountEvent.raw, person)))).all())
    for event in found:
        event.raw = scrub.scrub_json(event.raw, person)
    return len(found)


async def _forget_in_groups(session: AsyncSession, account_id: int, person: scrub.Person) -> int:
    """Take them out of the groups' participants and open join requests (a group has at most 8 of each)."""
    changed = 0
    stmt = sa.select(Group).where(Group.account_id == account_id).order_by(Group.id).with_for_update()
    for group in (await session.scalars(stmt.execution_options(populate_existing=True))).all():
        members = {w: m for w, m in (group.participants or {}).items() if not _names(w, m, person)}
        asks = {r: v for r, v in (group.join_requests or {}).items() if not _names(v.get("wa_id"), v, person)}
        if members != group.participants or asks != group.join_requests:
            group.participants, group.join_requests = members, asks
            changed += 1
    return changed


def _names(wa_id: Any, entry: Any, person: scrub.Person) -> bool:
    user_id = entry.get("user_id") if isinstance(entry, dict) else None
    return wa_id in person.ids or user_id in person.ids


async def _delete_statuses(session: AsyncSession, account_id: int, person: scrub.Person, erased: set[int]) -> int:
    """Statuses naming them as a recipient (a group message's member) that are not their messages' own."""
    stmt = sa.delete(StatusRecord).where(
        StatusRecord.account_id == account_id,
        StatusRecord.recipient.in_(person.ids),
        sa.or_(StatusRecord.message_id.is_(None), StatusRecord.message_id.not_in(erased)),
    )
    return int(getattr(await session.execute(stmt), "rowcount", 0) or 0)


async def _delete_deliveries(
    session: AsyncSession, person: scrub.Person, contact_id: int, messages: set[int], conversations: set[int]
) -> int:
    """Subscriber webhook deliveries (pending or done) whose event is about them or names them."""
    doomed: list[int] = []
    after = 0
    while True:
        stmt = (
            sa.select(WebhookDelivery.id, WebhookDelivery.payload)
            .where(WebhookDelivery.id > after)
            .order_by(WebhookDelivery.id)
            .limit(_CHUNK)
        )
        rows = (await session.execute(stmt)).all()
        for delivery_id, payload in rows:
            if _about(payload, person, contact_id, messages, conversations):
                doomed.append(delivery_id)
        if len(rows) < _CHUNK:
            break
        after = rows[-1][0]
    for chunk in _chunks(doomed):
        await session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.id.in_(chunk)))
    return len(doomed)


def _about(payload: Any, person: scrub.Person, contact_id: int, messages: set[int], conversations: set[int]) -> bool:
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, dict):
        who = data.get("contact")
        if (
            data.get("message_id") in messages
            or data.get("conversation_id") in conversations
            or (isinstance(who, dict) and who.get("id") == contact_id)
        ):
            return True
    return bool(scrub.scrub_json(payload, person) != payload)


async def _blank_stream(
    session: AsyncSession, person: scrub.Person, messages: set[int], conversations: set[int]
) -> int:
    """Live stream events about them become ``["erased", null, {}]``: their ids stay (readers rely on ids
    without gaps), their contents go; browsers listen for named kinds, so they ignore these."""
    blanked = 0
    for batch in (await session.scalars(sa.select(StreamBatch))).all():
        events = json.loads(batch.events)
        changed = False
        for index, (kind, conversation_id, payload) in enumerate(events):
            mid = payload.get("message_id", payload.get("id")) if kind.startswith("message.") else None
            if (
                conversation_id in conversations or mid in messages or scrub.scrub_json(payload, person) != payload
            ) and kind != "erased":
                events[index] = ["erased", None, {}]
                changed = True
                blanked += 1
        if changed:
            batch.events = json.dumps(events, separators=(",", ":"))
    return blanked


async def journal_chunk(
    session: AsyncSession, person: scrub.Person, after: int
) -> tuple[list[tuple[int, bytes | None]], int | None]:
    """Read one chunk of the journal after event id ``after``: the events that mention the person, each with its
    scrubbed body (None: to delete), and the last id read (None: the journal's end). Reading takes no write
    lock, so the webhook path never waits for a scan of the whole journal."""
    stmt = (
        sa.select(WebhookEvent.id, WebhookEvent.provider, WebhookEvent.body)
        .where(WebhookEvent.id > after)
        .order_by(WebhookEvent.id)
        .limit(_CHUNK)
    )
    rows = (await session.execute(stmt)).all()
    changes: list[tuple[int, bytes | None]] = []
    for event_id, provider, body in rows:
        scrubbed = scrub.scrub_body(provider, bytes(body), person)
        if scrubbed is None or scrubbed != bytes(body):
            changes.append((event_id, scrubbed))
    return changes, (rows[-1][0] if len(rows) == _CHUNK else None)


async def write_journal(session: AsyncSession, changes: list[tuple[int, bytes | None]], done: Erased) -> None:
    """Write what ``journal_chunk`` found, keeping each event's processed state and result; counts into
    ``done``."""
    doomed = [event_id for event_id, body in changes if body is None]
    for event_id, body in changes:
        if body is not None:
            await session.execute(sa.update(WebhookEvent).where(WebhookEvent.id == event_id).values(body=body))
            done.journal_rewritten += 1
    if doomed:
        await session.execute(sa.delete(WebhookEvent).where(WebhookEvent.id.in_(doomed)))
        done.journal_deleted += len(doomed)


async def scrub_journal(session: AsyncSession, person: scrub.Person, done: Erased) -> None:
    """The whole journal scrubbed of the person in the caller's transaction (``journal_chunk``,
    ``write_journal``). Safe to run again: a scrubbed event no longer mentions them."""
    after: int | None = 0
    while after is not None:
        changes, after = await journal_chunk(session, person, after)
        await write_journal(session, changes, done)


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]
