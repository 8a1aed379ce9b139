"""Importing a chat export (``chat_source.Export``, read by ``chat_export``) into one account's archive: ``wahub
import chat`` and ``POST /api/v1/imports``.

- **Whose chat.** The business side is the author named ``me`` (else the one whose number is the account's);
  its messages are outbound, everyone else's inbound. A chat with one other author is that person's
  conversation; with several (or one named by ``group``, or by an iOS group system line) it is a group's:
  a contact of its own, keyed ``import-group:<name>`` (an export does not carry WhatsApp's group id).
- **Authors as contacts.** An author written as a number (``+34 612 34 56 78``) is the contact with that
  ``wa_id``: the same one live messages reach. Any other author is a contact without a number, keyed by
  ``user_id`` ``import:<name>`` (contacts are unique per account, so the account need not be in the key), with
  that name as its saved name: the export shows the names the phone saved.
- **Once.** Each message gets an ``import_key``, unique per account: the SHA-256 of the chat's contact key, the
  author, the local time as written, the kind, the attachment's name, the text, and its ordinal among entries
  equal in all of those (two "ok" in one minute). An entry that is in two exports (the same file twice, or a
  later export that overlaps) has the same key in both and is added once; the database, not a look-up, decides.
  The time is the export's local time, so the key does not change with ``--tz``. An entry that wahub holds
  already as a live or history message (``overlap.py``: same direction, minute and content) is matched, not added.
- **Media.** An attachment found in the zip is hashed while read from it, stored under its SHA-256 (as every
  medium is, ``storage.base.content_key``; bytes stored already are not written again) and registered as the
  account's media ``import:<sha256>`` (``store/media.register_stored_many``), linked to its message. One
  not in the export is reported.
- **Imported, not received.** Messages are marked ``imported``; they move the conversation's last activity
  but open no 24-hour window, count as no unread message, and notify nobody.

Memory: one chunk of entries at a time (``CHUNK``) and one media file's read buffer.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import domain, errors
from wahub.imports import chat_export, overlap
from wahub.imports.chat_export import DateOrder, Entry, Kind, Skipped
from wahub.imports.chat_source import Export
from wahub.storage.base import READ_CHUNK, BlobStore, content_key
from wahub.storage.uploads import Kept
from wahub.store import accounts, contacts, conversations, db, media, upsert
from wahub.store.models import Account, Contact, Message, utcnow
from wahub.store.search_text import indexed_text

CHUNK = 500  # entries per transaction
NAME_KEY = "import:"
GROUP_KEY = "import-group:"
_NUMBER = re.compile(r"\+?[\d\s().-]{7,24}")


@dataclass(frozen=True, slots=True)
class Options:
    me: str | None = None  # the business side's author name
    phone_number_id: str | None = None  # the account (default: the only one)
    zone: tzinfo = UTC  # where the export's local times are
    order: DateOrder | None = None  # the date order, when the file cannot tell it
    group: str | None = None  # the chat is this group


@dataclass(slots=True)
class Report:
    chat: str = ""
    me: str | None = None  # the author taken as the business side
    conversation_id: int = 0
    date_order: str = ""
    added: int = 0
    already: int = 0
    matched: int = 0  # held already as a live or history message (``overlap.py``): not added
    media_stored: int = 0  # attachments stored and linked to the messages added
    media_missing: list[Skipped] = field(default_factory=list)  # attachments named but not in the export
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(slots=True)
class _Chat:
    account: Account
    me: str | None
    contact: Contact  # the chat's: the other person, or the group
    conversation_id: int
    authors: dict[str, int]  # author -> contact id
    zone: tzinfo


async def run(
    sessions: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    export: Export,
    options: Options,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Import ``export``; ``progress(done, total)`` is told after each chunk. ``InvalidInput`` (field ``file``)
    when the file is not an export, its date order cannot be told, or whose chat it is cannot be told."""
    try:
        survey = await asyncio.to_thread(_survey, export, options.order)  # a whole pass: off the event loop
    except chat_export.MalformedExport as exc:
        raise errors.InvalidInput(f"file: {exc}", field="file") from exc
    async with db.transaction(sessions) as session:
        chat = await _chat(session, export, survey, options)
    report = Report(_label(chat.contact), chat.me, chat.conversation_id, survey.order.value)
    matcher = overlap.Matcher(chat.conversation_id)
    batch: list[Entry] = []
    seen: dict[tuple[Any, ...], int] = {}  # entries at the current minute: for their ordinals
    current: datetime | None = None
    done = 0
    with export.lines() as lines:
        for item in chat_export.entries(lines, survey.order):
            if isinstance(item, Skipped):
                report.skipped.append(item)
                continue
            batch.append(item)
            if len(batch) >= CHUNK:
                current = await _store(sessions, storage, export, chat, batch, seen, current, matcher, report)
                done += len(batch)
                batch = []
                if progress is not None:
                    progress(done, survey.entries)
    if batch:
        await _store(sessions, storage, export, chat, batch, seen, current, matcher, report)
        done += len(batch)
    if progress is not None:
        progress(done, survey.entries)
    return report


def _survey(export: Export, order: DateOrder | None) -> chat_export.Survey:
    with export.lines() as lines:
        return chat_export.survey(lines, order)


async def _chat(session: AsyncSession, export: Export, survey: chat_export.Survey, options: Options) -> _Chat:
    account = await accounts.default_sender(session, options.phone_number_id)
    me = options.me
    if me is not None and me not in survey.authors:
        names = ", ".join(sorted(survey.authors)[:10]) or "none"
        raise errors.InvalidInput(f"me: '{me}' wrote nothing in this export; its authors are: {names}", field="me")
    if me is None and account.display_phone_number:
        own = _digits(account.display_phone_number)
        me = next((a for a in survey.authors if _number(a) == own), None)
    group = options.group or (survey.chat if survey.chat and survey.chat not in survey.authors else None)
    if me is None and group is None and len(survey.authors) == 2:
        # The file is named after the other person ("WhatsApp Chat with Ana.txt"), and iOS writes the encryption
        # notice under their name: the author left is the business.
        other = export.chat_name if export.chat_name in survey.authors else survey.chat
        if other in survey.authors:
            me = next(a for a in survey.authors if a != other)
        else:
            names = " and ".join(sorted(survey.authors))
            raise errors.InvalidInput(f"me: which of {names} is the business side? Name it with --me", field="me")
    others = [a for a in survey.authors if a != me]
    if group is None and len(others) > 1:
        group = export.chat_name
        if group is None:
            raise errors.InvalidInput(
                f"group: {len(others)} people wrote in this export, a group's: name it with --group", field="group"
            )
    if group is not None:
        chat_ref = domain.ContactRef(wa_id=None, user_id=_key(GROUP_KEY, group))
    elif others:
        chat_ref = _ref(others[0])
    else:
        raise errors.InvalidInput(
            "group: no one but the business side wrote in this export, so whose chat it is cannot be told; "
            "name the chat with --group",
            field="group",
        )
    refs = {a: _ref(a) for a in others}
    resolved = await contacts.resolve_many(session, account.id, [chat_ref, *refs.values()])
    chat_contact = resolved.get(chat_ref)
    for name, ref in [(group, chat_ref), *refs.items()]:
        contact = resolved.get(ref)
        if name and ref.wa_id is None and contact.saved_name is None:
            contact.saved_name = name[:256]
    conversation = await conversations.get_or_create(session, account.id, chat_contact.id)
    authors = {a: resolved.get(r).id for a, r in refs.items()}
    return _Chat(account, me, chat_contact, conversation.id, authors, options.zone)


async def _store(
    sessions: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    export: Export,
    chat: _Chat,
    batch: list[Entry],
    seen: dict[tuple[Any, ...], int],
    current: datetime | None,
    matcher: overlap.Matcher,
    report: Report,
) -> datetime | None:
    """One chunk: keys first, then the entries held already as live or history messages, then media of the
    entries left, then their rows (in one transaction)."""
    keyed = []
    for entry in batch:
        if entry.time != current:
            seen.clear()  # an export is in time order: equal entries share a minute
            current = entry.time
        same = (entry.author, entry.kind, entry.attachment, entry.text)
        seen[same] = ordinal = seen.get(same, -1) + 1
        keyed.append((_import_key(chat, entry, ordinal), entry))
    async with db.transaction(sessions) as session:
        await db.plan_for_now(session)  # the import adds messages faster than autovacuum analyzes the table
        stmt = sa.select(Message.import_key).where(
            Message.account_id == chat.account.id, Message.import_key.in_([k for k, _ in keyed])
        )
        there = set(await session.scalars(stmt))
        new = [(k, e) for k, e in keyed if k not in there]
        wanted = [_wanted(chat, e) for _, e in new]
        stored = await matcher.read(session, wanted)
    report.already += len(keyed) - len(new)
    hashes: dict[str, tuple[str, int]] = {}

    async def sha256_of(name: str) -> str | None:
        if name not in hashes and export.has(name):
            hashes[name] = await asyncio.to_thread(_hash, export, name)
        return hashes[name][0] if name in hashes else None

    held = await matcher.match(wanted, stored, sha256_of)
    report.matched += sum(held)
    new = [n for n, hit in zip(new, held, strict=True) if not hit]
    kept: dict[str, Kept] = {}
    for _, entry in new:
        name = entry.attachment
        if name is None or name in kept:
            continue
        if export.has(name):
            kept[name] = await _keep(storage, export, name, hashes.get(name))
        else:
            report.media_missing.append(Skipped(entry.line, f"{name}: not in the export"))
    if not new:
        return current
    async with db.transaction(sessions) as session:
        by_sha = await media.register_stored_many(
            session, chat.account.id, [(k, name) for name, k in kept.items()], prefix=media.IMPORT_PREFIX
        )
        media_ids = {name: by_sha[k.sha256] for name, k in kept.items()}
        now = utcnow()
        rows = [_row(chat, key, entry, kept, media_ids, now) for key, entry in new]
        inserted = await upsert.insert_ignore_many(session, Message.__table__, rows, ("id", "import_key"))  # type: ignore[arg-type]
        added = {r.import_key for r in inserted}
        report.added += len(added)
        report.already += len(rows) - len(added)
        report.media_stored += sum(1 for r in rows if r["import_key"] in added and r["media_id"] is not None)
        if added:
            conversation = await conversations.get(session, chat.conversation_id)
            conversations.record_activity(conversation, max(r["provider_timestamp"] for r in rows))
    return current


def _row(
    chat: _Chat, key: str, entry: Entry, kept: dict[str, Kept], media_ids: dict[str, int], now: datetime
) -> dict[str, Any]:
    at = _at(chat, entry)
    outbound = _outbound(chat, entry)
    author_id = chat.authors.get(entry.author or "", chat.contact.id)
    kind, content = _content(entry, kept.get(entry.attachment or ""))
    return {
        "account_id": chat.account.id,
        "conversation_id": chat.conversation_id,
        "contact_id": chat.contact.id if outbound else author_id,
        "direction": "outbound" if outbound else "inbound",
        "type": kind,
        "wamid": None,
        "status": (domain.MessageStatus.SENT if outbound else domain.MessageStatus.RECEIVED).value,
        "content": content,
        "raw": None,
        "group_id": None,
        "search_text": indexed_text(kind, content),
        "media_id": media_ids.get(entry.attachment or ""),
        "created_at": now,
        "provider_timestamp": at,
        "sent_at": at if outbound else None,
        "revoked_at": at if entry.kind is Kind.DELETED else None,
        "imported": True,
        "import_key": key,
    }


def _at(chat: _Chat, entry: Entry) -> datetime:
    return entry.time.replace(tzinfo=chat.zone).astimezone(UTC)


def _outbound(chat: _Chat, entry: Entry) -> bool:
    return entry.author is not None and entry.author == chat.me


def _wanted(chat: _Chat, entry: Entry) -> overlap.Wanted | None:
    media_kind = _kind_of(_mime(entry.attachment)) if entry.attachment else None
    direction = "outbound" if _outbound(chat, entry) else "inbound"
    return overlap.wanted(entry.kind, entry.text, media_kind, entry.attachment, direction, _at(chat, entry))


def _content(entry: Entry, kept: Kept | None) -> tuple[str, dict[str, Any]]:
    """The message's type and content, in the shape live messages of that type have."""
    if entry.kind is Kind.SYSTEM:
        return "system", {"system": {"body": entry.text, "type": "imported"}}
    if entry.kind is Kind.DELETED:
        return "text", {}  # as a message its sender deleted for everyone: no content, ``revoked_at`` set
    if entry.kind is Kind.MEDIA_OMITTED:
        return "unsupported", {"unsupported": {"title": "media not included in the export", "text": entry.text}}
    if entry.attachment is None:
        return "text", {"text": {"body": entry.text}}
    mime = kept.mime_type if kept is not None else _mime(entry.attachment)
    kind = _kind_of(mime)
    body: dict[str, Any] = {"filename": entry.attachment, "mime_type": mime}
    if kept is not None:
        body["sha256"] = kept.sha256
    if entry.text:
        body["caption"] = entry.text
    return kind, {kind: body}


async def _keep(storage: BlobStore, export: Export, name: str, hashed: tuple[str, int] | None) -> Kept:
    """Store a file of the zip under its SHA-256 (read once to hash it, unless ``hashed`` already, again to write
    it unless stored)."""
    sha, size = hashed if hashed is not None else await asyncio.to_thread(_hash, export, name)
    key = content_key(sha)
    mime = _mime(name)
    if await storage.size(key) is None:

        async def chunks() -> Any:
            with export.open(name) as file:
                while chunk := file.read(READ_CHUNK):
                    yield chunk

        await storage.write(key, chunks(), content_type=mime)
    return Kept(sha, key, size, mime)


def _hash(export: Export, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with export.open(name) as file:
        while chunk := file.read(READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _mime(name: str) -> str:
    extension = name[name.rindex(".") :].lower() if "." in name else ""
    return domain.MEDIA_EXTENSIONS.get(extension) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _kind_of(mime: str) -> str:
    if mime == "image/webp":
        return "sticker"
    for kind in ("image", "video", "audio"):
        if mime.startswith(kind + "/"):
            return kind
    return "document"


def _import_key(chat: _Chat, entry: Entry, ordinal: int) -> str:
    parts = (
        chat.contact.wa_id or chat.contact.user_id or "",
        entry.author or "",
        entry.time.isoformat(),
        entry.kind.value,
        entry.attachment or "",
        entry.text,
        str(ordinal),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _ref(author: str) -> domain.ContactRef:
    """An author as a contact: by number when written as one, else by name."""
    wa_id = _number(author)
    return domain.ContactRef(wa_id=wa_id) if wa_id else domain.ContactRef(wa_id=None, user_id=_key(NAME_KEY, author))


def _key(prefix: str, name: str) -> str:
    """A contact key for a name; a name too long for the column is keyed by its hash."""
    key = prefix + name
    return key if len(key) <= 128 else prefix + "sha256:" + hashlib.sha256(name.encode()).hexdigest()


def _number(author: str) -> str | None:
    """The E.164 digits of an author written as a number (``+34 612 34 56 78``), else None."""
    if not author.startswith("+") or _NUMBER.fullmatch(author) is None:
        return None
    try:
        return domain.e164_digits(author.replace("(", "").replace(")", ""))
    except ValueError:
        return None


def _digits(number: str) -> str:
    return "".join(c for c in number if c.isdigit())


def _label(contact: Contact) -> str:
    return contact.saved_name or contact.profile_name or (f"+{contact.wa_id}" if contact.wa_id else "")
