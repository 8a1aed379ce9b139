"""A conversation's export as text: WhatsApp's own Android layout (``chat_export.py`` of the importer reads it
back) and JSON with everything. Pure: ``archive.Item`` values in, strings out; ``page.py`` is the HTML sibling.

The text layout, as an Android phone writes it::

    20/01/2026, 11:23 - +34 612 345 678: first line
    second line of the same message
    20/01/2026, 11:24 - Acme: IMG-20260120-WA0001.jpg (file attached)
    the photo's caption

A file wahub has not stored (still being fetched, failed, sent by link) is ``<Media omitted>``, as in an export
made without media. Reactions, edits and deletions show on the message they name, as on the phone.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Any

from wahub.exports.archive import Header, Item, at
from wahub.store import media as media_store
from wahub.store.models import Account, Base, Media, Message
from wahub.store.search_text import search_text
from wahub.web import contents, views

_PREFIXES = {"image": "IMG", "video": "VID", "audio": "AUD", "voice": "PTT", "sticker": "STK"}
_EXTENSIONS = {"image/jpeg": ".jpg", "audio/ogg": ".opus", "audio/mpeg": ".mp3", "video/mp4": ".mp4"}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")
# What the importer reads as an attachment's name: a dot and 1 to 6 letters or digits at its end.
_EXTENSION = re.compile(r"\.[0-9A-Za-z]{1,6}$")
ACCOUNT_FIELDS = ("id", "name", "provider", "sandbox", "phone_number_id", "waba_id", "display_phone_number")


def kind(message: Message) -> str:
    """image, video, audio, voice, document or sticker: what a file is shown as."""
    obj = message.content.get(message.type) if isinstance(message.content, dict) else None
    voice = message.type == "audio" and isinstance(obj, dict) and bool(obj.get("voice"))
    return "voice" if voice else message.type


class Namer:
    """Names the files of one export as an Android export does (``IMG-20260120-WA0001.jpg``; a document keeps
    its own name), each name once; the same file sent twice keeps its first name."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        self._taken: set[str] = set()
        self._count = 0

    def known(self, media_id: int) -> str | None:
        return self._names.get(media_id)

    def name(self, item: Item, zone: tzinfo) -> str:
        assert item.media is not None
        if (found := self._names.get(item.media.id)) is not None:
            return found
        message, file = item.message, item.media
        self._count += 1
        what = kind(message)
        ext = _extension(file, what)
        given = contents.media(message, file, lambda _m: "")
        if what == "document" and given is not None and given.filename:
            stem = _UNSAFE.sub("_", given.filename).strip(" .")[:120] or f"DOC-{self._count:04d}"
            name = stem if _EXTENSION.search(stem) else stem + ext
        else:
            name = f"{_PREFIXES.get(what, 'DOC')}-{at(message).astimezone(zone):%Y%m%d}-WA{self._count:04d}{ext}"
        base, dot, tail = name.rpartition(".")
        n = 1
        while name in self._taken:
            n += 1
            name = f"{base} ({n}).{tail}" if dot else f"{tail} ({n})"
        self._taken.add(name)
        self._names[file.id] = name
        return name


def _extension(file: Media, what: str) -> str:
    mime = (file.mime_type or "").split(";")[0].strip().lower()
    if what == "voice" or mime == "audio/ogg":
        return ".opus"
    if mime in _EXTENSIONS:
        return _EXTENSIONS[mime]
    if file.filename and (found := _EXTENSION.search(file.filename)):
        return found.group(0).lower()
    return mimetypes.guess_extension(mime) or ".bin"


def stored(item: Item) -> bool:
    """Whether the message's file is in storage (it can go into the zip)."""
    return item.media is not None and item.media.state == media_store.STORED and bool(item.media.storage_key)


def words(message: Message) -> str:
    """What a message says, line breaks kept: a text's body, a caption, else its type's label and its words."""
    if message.type == "text":
        body = message.content.get("text", {}).get("body") if isinstance(message.content, dict) else None
        return body.replace("\r\n", "\n") if isinstance(body, str) else ""
    if message.type in contents.MEDIA_TYPES:
        return "\n".join(contents.caption(message)).replace("\r\n", "\n")
    said = search_text(message.type, message.content or {})
    if message.type == "system":  # a system line is its text alone, as in WhatsApp's export
        return said or views.TYPE_LABELS["system"]
    label = views.TYPE_LABELS.get(message.type, views.TYPE_LABELS["unknown"])
    return f"{label}: {said}" if said else label


def txt_lines(item: Item, zone: tzinfo, file_name: str | None) -> str:
    """The message as the export's lines (with their final line break); empty for a message that shows on
    another (a reaction, an edit, a deletion of one)."""
    message = item.message
    if not views.shown(message):
        return ""
    stamp = f"{at(message).astimezone(zone):%d/%m/%Y, %H:%M}"
    if message.type == "system":
        return f"{stamp} - {words(message)}\n"
    if message.revoked_at is not None:
        text = "This message was deleted"
    elif message.type in contents.MEDIA_TYPES:
        head = f"{file_name} (file attached)" if file_name else "<Media omitted>"
        text = "\n".join(part for part in (head, words(message)) if part)
    else:
        text = words(message)
    return f"{stamp} - {item.author}: {text}\n"


def plain(value: Any) -> Any:
    """A column's value as JSON: times in ISO 8601 with their zone."""
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def columns(row: Base, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        c.key: plain(getattr(row, c.key))
        for c in row.__table__.columns
        if c.key not in skip and not isinstance(getattr(row, c.key), bytes)
    }


def json_head(head: Header, exported_at: datetime) -> str:
    """The JSON document up to its messages' opening bracket (the messages follow, one ``json_message`` each)."""
    account: Account = head.account
    first = {
        "format": "wahub-conversation-export",
        "version": 1,
        "exported_at": exported_at.isoformat(),
        "account": {name: plain(getattr(account, name)) for name in ACCOUNT_FIELDS},
        "conversation": columns(head.conversation),
        "contact": columns(head.contact),
    }
    return json.dumps(first, ensure_ascii=False, indent=1)[:-2] + ',\n "messages": [\n'


def json_message(item: Item, file_name: str | None, first: bool) -> str:
    """One message of the JSON document: every column (typed content, raw JSON, status times, errors), its
    author, its file (``file``: its name in the zip, when it is there) and every status reported for it."""
    out = columns(item.message, skip=("search_text",))
    out["author"] = item.author
    out["quoted_message_id"] = item.quoted.id if item.quoted is not None else None
    out["media"] = None if item.media is None else {**columns(item.media), "file": file_name}
    out["statuses"] = [columns(s) for s in item.statuses]
    return ("" if first else ",\n") + json.dumps(out, ensure_ascii=False)


def json_tail(contacts: Iterator[Any]) -> str:
    """The end of the JSON document: the contacts who wrote in the conversation."""
    return '\n ],\n "contacts": ' + json.dumps([columns(c) for c in contacts], ensure_ascii=False) + "\n}\n"
