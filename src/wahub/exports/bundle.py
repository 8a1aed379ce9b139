"""Writing an export: one conversation to a file (``wahub export conversation``, the API), every conversation of
an account into the storage backend (``wahub export all``).

HTML is always a zip (``index.html`` and ``media/…``); text and JSON are a zip only when the conversation has
stored files (the text and the files side by side, as WhatsApp's own export), else the bare ``.txt`` or
``.json``. Memory stays constant: messages come a page at a time (``archive.pages``), the document is spooled
to a temporary file while the media files stream from storage into the zip, and the document joins them last.
"""

from __future__ import annotations

import contextlib
import enum
import io
import re
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.exports import archive, page, render
from wahub.storage.base import READ_CHUNK, BlobStore
from wahub.store.models import Account, Contact, Conversation


class Format(enum.StrEnum):
    HTML = "html"
    TXT = "txt"
    JSON = "json"


MEDIA_TYPES = {"zip": "application/zip", "txt": "text/plain; charset=utf-8", "json": "application/json"}
_SAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


@dataclass(frozen=True, slots=True)
class Plan:
    """What exporting one conversation makes: ``extension`` zip, txt or json."""

    head: archive.Header
    format: Format
    zipped: bool

    @property
    def extension(self) -> str:
        return "zip" if self.zipped else self.format.value

    @property
    def filename(self) -> str:
        return f"conversation-{self.head.conversation.id}.{self.extension}"

    @property
    def folder(self) -> str:
        """Where the files go in the zip: beside the text, as in WhatsApp's export; else under ``media/``."""
        return "" if self.format is Format.TXT else "media/"

    @property
    def document(self) -> str:
        """The document's name inside the zip: the importer finds a chat text by WhatsApp's own name."""
        if self.format is Format.HTML:
            return "index.html"
        if self.format is Format.JSON:
            return "conversation.json"
        return f"WhatsApp Chat with {_SAFE.sub('_', archive.person(self.head.contact))}.txt"


@dataclass(slots=True)
class Written:
    messages: int = 0
    files: int = 0
    missing: list[str] = field(default_factory=list)  # files wahub has stored but storage did not have


async def plan(session: AsyncSession, conversation_id: int, fmt: Format) -> Plan:
    """NotFound unless the conversation exists."""
    head = await archive.header(session, conversation_id)
    zipped = fmt is Format.HTML or await archive.has_media(session, conversation_id)
    return Plan(head, fmt, zipped)


async def write(
    sessions: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    chosen: Plan,
    out: IO[bytes],
    *,
    zone: tzinfo,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> Written:
    """Write the export ``chosen`` describes into ``out`` (binary, open for writing; the caller closes it).
    ``progress`` is told how many messages each page added."""
    written = Written()
    with contextlib.ExitStack() as stack:
        archive_zip = stack.enter_context(zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED)) if chosen.zipped else None
        spool = stack.enter_context(tempfile.TemporaryFile()) if archive_zip is not None else out
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        try:
            await _document(sessions, storage, chosen, text, archive_zip, written, zone, now, progress)
            text.flush()
        finally:
            text.detach()  # the file stays the caller's (or the spool's ExitStack's)
        if archive_zip is not None:
            spool.seek(0)
            info = zipfile.ZipInfo(chosen.document, _zip_time(now, zone))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive_zip.open(info, "w", force_zip64=True) as member:
                while chunk := spool.read(READ_CHUNK):
                    member.write(chunk)
    return written


async def _document(
    sessions: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    chosen: Plan,
    text: io.TextIOWrapper,
    archive_zip: zipfile.ZipFile | None,
    written: Written,
    zone: tzinfo,
    now: datetime,
    progress: Callable[[int], None] | None,
) -> None:
    head, fmt = chosen.head, chosen.format
    namer = render.Namer()
    people: dict[int, Contact] = {}
    last_day = None
    if fmt is Format.HTML:
        text.write(page.head(head, zone, now))
    elif fmt is Format.JSON:
        text.write(render.json_head(head, now))
    async for items in archive.pages(sessions, head, statuses=fmt is Format.JSON):
        for item in items:
            people.setdefault(item.contact.id, item.contact)
            file_name = None
            if archive_zip is not None and render.stored(item):
                file_name = await _add_file(storage, archive_zip, chosen.folder, namer, item, zone, written)
            if fmt is Format.TXT:
                text.write(render.txt_lines(item, zone, file_name))
            elif fmt is Format.JSON:
                path = chosen.folder + file_name if file_name else None
                text.write(render.json_message(item, path, first=written.messages == 0))
            else:
                bubble = page.message(item, head, zone, file_name)
                if bubble and (day := page.day(item, zone)) != last_day:
                    text.write(page.separator(day))
                    last_day = day
                text.write(bubble)
            written.messages += 1
        if progress is not None:
            progress(len(items))
    if fmt is Format.HTML:
        text.write(page.TAIL)
    elif fmt is Format.JSON:
        text.write(render.json_tail(iter(people.values())))


async def _add_file(
    storage: BlobStore,
    archive_zip: zipfile.ZipFile,
    folder: str,
    namer: render.Namer,
    item: archive.Item,
    zone: tzinfo,
    written: Written,
) -> str | None:
    """The message's file in the zip under ``folder`` (streamed from storage, once per file): its name, or None
    if storage lacks it."""
    assert item.media is not None and item.media.storage_key
    if (known := namer.known(item.media.id)) is not None:
        return known
    size = await storage.size(item.media.storage_key)
    if size is None:
        written.missing.append(item.media.storage_key)
        return None
    name = namer.name(item, zone)
    info = zipfile.ZipInfo(folder + name, _zip_time(archive.at(item.message), zone))
    info.compress_type = zipfile.ZIP_STORED  # media files are compressed already
    with archive_zip.open(info, "w", force_zip64=size > 2**31) as out:
        async for chunk in storage.read(item.media.storage_key):
            out.write(chunk)
    written.files += 1
    return name


def _zip_time(at: datetime, zone: tzinfo) -> tuple[int, int, int, int, int, int]:
    local = at.astimezone(zone)
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


@dataclass(slots=True)
class Summary:
    conversations: int = 0
    messages: int = 0
    files: int = 0
    bytes: int = 0
    prefix: str = ""  # where the files are in storage
    missing: list[str] = field(default_factory=list)


async def conversation_count(session: AsyncSession, account_id: int) -> int:
    """How many conversations the account has."""
    stmt = sa.select(sa.func.count()).select_from(Conversation).where(Conversation.account_id == account_id)
    return int((await session.scalar(stmt)) or 0)


async def _ids(sessions: async_sessionmaker[AsyncSession], account_id: int) -> AsyncIterator[int]:
    """The account's conversation ids in order, a page at a time."""
    after = 0
    while True:
        async with sessions() as session:
            stmt = (
                sa.select(Conversation.id)
                .where(Conversation.account_id == account_id, Conversation.id > after)
                .order_by(Conversation.id)
                .limit(archive.PAGE)
            )
            ids = list(await session.scalars(stmt))
        for conversation_id in ids:
            yield conversation_id
        if len(ids) < archive.PAGE:
            return
        after = ids[-1]


def prefix(phone_number_id: str, now: datetime) -> str:
    """Where ``export_all`` writes in the storage backend."""
    return f"exports/{_SAFE.sub('_', phone_number_id)}/{now:%Y-%m-%d}/"


async def export_all(
    sessions: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    account: Account,
    fmt: Format,
    *,
    zone: tzinfo,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Every conversation of ``account`` into storage, one file each under ``prefix``:
    ``<conversation id>.zip`` (or ``.txt``/``.json`` without files). ``progress`` is told of each conversation
    written. Each file is spooled to a temporary file, then streamed into storage."""
    where = prefix(account.phone_number_id or str(account.id), now)
    summary = Summary(prefix=where)
    async for conversation_id in _ids(sessions, account.id):
        async with sessions() as session:
            chosen = await plan(session, conversation_id, fmt)
        with tempfile.TemporaryFile() as spool:
            written = await write(sessions, storage, chosen, spool, zone=zone, now=now)
            key = f"{where}{conversation_id}.{chosen.extension}"
            summary.bytes += await storage.write(key, _chunks(spool), content_type=MEDIA_TYPES[chosen.extension])
        summary.conversations += 1
        summary.messages += written.messages
        summary.files += written.files
        summary.missing += written.missing
        if progress is not None:
            progress(1)
    return summary


async def _chunks(spool: IO[bytes]) -> AsyncIterator[bytes]:
    spool.seek(0)
    while chunk := spool.read(READ_CHUNK):
        yield chunk


def zone_named(name: str | None) -> tzinfo:
    """The time zone an export shows times in (an IANA name; None: UTC); InvalidInput (field ``tz``) otherwise."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise errors.InvalidInput(f"tz: '{name}' is not a time zone (e.g. Europe/Madrid)", field="tz") from exc
