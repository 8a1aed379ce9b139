"""WhatsApp's "Export chat" text (``_chat.txt``, or ``WhatsApp Chat with ….txt``) read into entries: who wrote
what, when (local time, as the phone showed it), with which attachment. Pure: lines in, frozen values out;
``chat_importer.py`` stores them.

Two layouts, in any locale's date order and with 12- or 24-hour clocks::

    20/01/2019, 11:23 - John Doe: text            Android (", " or " " after the date; "a. m." / "PM" ...)
    [20/01/19, 11:23:05] John Doe: text           iOS (seconds optional)

A line that does not start so continues the message above it (line breaks kept). The date order (day, month,
year) is decided from every date in the file (``survey``), never from one line: a file whose every date fits two
orders, in time order both ways, is refused unless the order is given. Exports carry invisible characters:
U+200E/U+200F marks (iOS puts one before every attachment and system text), U+202F and no-break spaces before
"AM", non-breaking hyphens in numbers; they are read past in the line's frame and in authors.

An entry is a ``message`` (perhaps with an attachment: ``<attached: 00000003-AUDIO-….opus>`` on iOS, ``IMG-….jpg
(file attached)`` on Android, or their translations), ``media_omitted`` (exported without media), ``deleted``,
or ``system`` (encryption notice, group created, added, left: lines without an author, and iOS group lines
whose author is the group's name and whose text starts with U+200E). A line that cannot be read (a date that
does not exist, text before the first message) is skipped with its number and the reason.
"""

from __future__ import annotations

import calendar
import enum
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from wahub import domain


class MalformedExport(ValueError):
    """The text is not a chat export at all, or its date order cannot be told; the message says which."""


class Kind(enum.StrEnum):
    MESSAGE = "message"
    MEDIA_OMITTED = "media_omitted"
    DELETED = "deleted"
    SYSTEM = "system"


class DateOrder(enum.StrEnum):
    DMY = "DMY"
    MDY = "MDY"
    YMD = "YMD"


@dataclass(frozen=True, slots=True)
class Entry:
    """One message or system line. ``time`` is naive: the phone's local time, placed in a zone by the importer."""

    line: int  # its first line in the file (1-based)
    time: datetime
    author: str | None  # None for a system line
    text: str  # without the attachment's own line; line breaks as in the file
    kind: Kind
    attachment: str | None = None  # the attached file's name, as in the zip
    chat: str | None = None  # an iOS group system line's author: the group's name


@dataclass(frozen=True, slots=True)
class Skipped:
    line: int
    reason: str


@dataclass(slots=True)
class Survey:
    """What a first pass over the file found: the date order and who wrote."""

    order: DateOrder
    authors: dict[str, int] = field(default_factory=dict)  # author -> messages
    chat: str | None = None  # the group's name (or the person's, one to one) when iOS system lines show it
    entries: int = 0


@dataclass(slots=True)
class Parsed:
    order: DateOrder
    entries: list[Entry] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


# Invisible marks dropped everywhere; spaces of other widths read as spaces in the line's frame and in authors.
_MARKS = domain.INVISIBLE_MARKS
_SPACES = domain.ODD_SPACES
_CLEAN = _MARKS | _SPACES

_DATE = r"(?P<a>\d{1,4})[./-](?P<b>\d{1,2})[./-](?P<c>\d{1,4})\.?"
_TIME = r"(?P<h>\d{1,2})[:.](?P<m>\d{2})(?:[:.](?P<s>\d{2}))?"
_AMPM = r"(?:\s?(?P<ampm>[aApP]\.?\s?[mM]\.?))?"
_ANDROID = re.compile(rf"{_DATE},?\s{_TIME}{_AMPM}\s[-–]\s(?P<rest>.*)", re.DOTALL)
_IOS = re.compile(rf"\[{_DATE},?\s{_TIME}{_AMPM}\]\s(?P<rest>.*)", re.DOTALL)

_DELETED = frozenset(
    s.casefold()
    for s in (
        "This message was deleted",
        "You deleted this message",
        "Se eliminó este mensaje",
        "Eliminaste este mensaje",
        "Diese Nachricht wurde gelöscht",
        "Du hast diese Nachricht gelöscht",
        "Ce message a été supprimé",
        "Vous avez supprimé ce message",
        "Esta mensagem foi apagada",
        "Você apagou esta mensagem",
        "Questo messaggio è stato eliminato",
        "Hai eliminato questo messaggio",
        "Dit bericht is verwijderd",
        "Je hebt dit bericht verwijderd",
    )
)
_OMITTED = re.compile(
    r"<(?:media omitted|multimedia omitido|archivo omitido|medien ausgelassen|médias omis|fichier omis"
    r"|mídia oculta|arquivo de mídia oculto|media omessi|media weggelaten|medya dahil edilmedi)>"
    r"|(?:image|video|audio|sticker|gif|document|contact card) omitted"
    r"|(?:imagen|video|audio|sticker|gif|documento) omitid[oa]"
    r"|(?:bild|video|audio|sticker|gif|dokument) weggelassen",
    re.IGNORECASE,
)
# iOS: the whole first line is ``<label: file>``, the label in the phone's language.
_IOS_FILE = re.compile(r"<[^<>:]{2,24}:\s?(?P<name>[^<>]+?\.[0-9A-Za-z]{1,6})>")
_ANDROID_LABELS = (
    "file attached|archivo adjunto|fichero adjunto|datei angehängt|fichier joint|arquivo anexado"
    "|file allegato|bestand bijgevoegd|dosya ekli|plik załączony"
)
_ANDROID_FILE = re.compile(rf"(?P<name>[^\n]+?\.[0-9A-Za-z]{{1,6}}) \((?:{_ANDROID_LABELS})\)", re.IGNORECASE)
# A file name WhatsApp gave (IMG-20200610-WA0003.jpg) followed by a label in a language not listed above.
_WA_FILE = re.compile(r"(?P<name>(?:IMG|VID|AUD|PTT|DOC|STK)-\d{8}-WA\d{4,}\.[0-9A-Za-z]{1,6}) \([^()]{3,40}\)")


@dataclass(frozen=True, slots=True)
class _Head:
    """A line that starts a message: its date fields, clock and what follows."""

    fields: tuple[str, str, str]
    hour: int
    minute: int
    second: int
    ampm: str | None
    author: str | None
    body: str
    marked: bool  # the body started with U+200E: iOS's sign of system text and attachments


def _head(raw: str) -> _Head | None:
    frame = raw.lstrip("\u200e\u200f\ufeff")
    # _SPACES maps one character to one, so the match's positions are the frame's: the body keeps its own.
    match = (_IOS if frame.startswith("[") else _ANDROID).match(frame.translate(_SPACES))
    if match is None:
        return None
    rest = frame[match.start("rest") :]
    author: str | None = None
    name, sep, body = rest.partition(": ")
    if sep and "\n" not in name:
        author = " ".join(name.translate(_CLEAN).split()) or None
    else:
        body = rest
    marked = body.startswith(("\u200e", "\u200f"))
    ampm = match["ampm"]
    return _Head(
        (match["a"], match["b"], match["c"]),
        int(match["h"]),
        int(match["m"]),
        int(match["s"] or 0),
        ampm.translate(_CLEAN).replace(" ", "").replace(".", "").lower() if ampm else None,
        author,
        body,
        marked,
    )


def survey(lines: Iterable[str], order: DateOrder | None = None) -> Survey:
    """First pass: the file's date order (``order`` if given) and its authors. ``MalformedExport`` for a file
    with no message line, or whose dates fit no order, or fit two (then ``order`` must be given)."""
    candidates = [order] if order is not None else list(DateOrder)
    wrong = dict.fromkeys(candidates, 0)  # dates that are no date in that order
    last: dict[DateOrder, tuple[int, int, int] | None] = dict.fromkeys(candidates)
    in_order = dict.fromkeys(candidates, True)
    authors: dict[str, int] = {}
    marked: dict[str, None] = {}  # authors of iOS system lines, in order
    heads = 0
    for raw in lines:
        head = _head(raw.rstrip("\r\n"))
        if head is None:
            continue
        heads += 1
        if head.author is not None:
            if head.marked and _kind(head.body.translate(_MARKS))[0] is Kind.SYSTEM:
                marked.setdefault(head.author)
            else:
                authors[head.author] = authors.get(head.author, 0) + 1
        for o in candidates:
            ymd = _ymd(head.fields, o, explicit=order is not None)
            if ymd is None:
                wrong[o] += 1
                continue
            if (previous := last[o]) is not None and ymd < previous:
                in_order[o] = False
            last[o] = ymd
    if heads == 0:
        raise MalformedExport("not a WhatsApp chat export: no line starts with a date and a time")
    # The order under which the fewest dates are impossible (a damaged line or two must not sink the file).
    fewest = min(wrong.values())
    if fewest == heads:
        raise MalformedExport(
            f"the dates fit no order ({', '.join(candidates)})"
            if order is None
            else f"the dates do not fit the order {order}: none is a real date read so"
        )
    fits = [o for o in candidates if wrong[o] == fewest]
    if len(fits) > 1:
        ordered = [o for o in fits if in_order[o]]
        if len(ordered) != 1:
            raise MalformedExport(
                f"cannot tell the date order: every date fits {' and '.join(fits)}; "
                "give it with --date-order (DMY: day/month/year, MDY: month/day/year, YMD)"
            )
        fits = ordered
    # A group's own lines carry its name, which writes nothing else; a member's missed call is theirs. In a chat
    # with one person, their name carries the encryption notice.
    chat = next((a for a in marked if a not in authors), next(iter(marked), None))
    return Survey(fits[0], authors, chat, heads)


def entries(lines: Iterable[str], order: DateOrder) -> Iterator[Entry | Skipped]:
    """Second pass: the entries (and skipped lines) in file order, one message held at a time."""
    pending: tuple[int, _Head, datetime, list[str]] | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        head = _head(line)
        if head is None:
            if pending is not None:
                pending[3].append(line)
            elif line.strip():
                yield Skipped(number, "text before the first message (no date and time)")
            continue
        when = _time(head, order)
        if isinstance(when, str):
            if pending is not None:  # kept as text of the message above it: nothing is lost
                pending[3].append(line)
            else:
                yield Skipped(number, when)
            continue
        if pending is not None:
            yield _entry(*pending)
        pending = (number, head, when, [head.body])
    if pending is not None:
        yield _entry(*pending)


def parse(text: str, order: DateOrder | None = None) -> Parsed:
    """The whole text at once (tests, small files): ``survey`` then ``entries``."""
    lines = text.split("\n")
    found = survey(lines, order).order
    parsed = Parsed(found)
    for item in entries(lines, found):
        if isinstance(item, Skipped):
            parsed.skipped.append(item)
        else:
            parsed.entries.append(item)
    return parsed


def _ymd(fields: tuple[str, str, str], order: DateOrder, explicit: bool = True) -> tuple[int, int, int] | None:
    """The date the fields give in ``order``, or None. A two-digit year first is read only when the order was
    given (``explicit``): guessed, it would make most day-first files ambiguous."""
    a, b, c = fields
    if order is DateOrder.YMD and len(a) <= 2 and not explicit:
        return None
    if order is DateOrder.YMD:
        year, month, day = a, b, c
    elif len(a) > 2:  # a four-digit first field is the year: no other order
        return None
    elif order is DateOrder.DMY:
        day, month, year = a, b, c
    else:
        month, day, year = a, b, c
    if order is DateOrder.YMD and len(c) > 2:
        return None
    y = int(year) + (2000 if len(year) <= 2 else 0)
    m, d = int(month), int(day)
    if not (1 <= m <= 12 and 1 <= y <= 9999) or not 1 <= d <= calendar.monthrange(y, m)[1]:
        return None
    return y, m, d


def _time(head: _Head, order: DateOrder) -> datetime | str:
    """The entry's naive time, or why it has none."""
    ymd = _ymd(head.fields, order)
    if ymd is None:
        return f"'{'/'.join(head.fields)}' is not a date in the order {order}"
    hour = head.hour
    if head.ampm is not None:
        if head.ampm not in ("am", "pm") or hour > 12:
            return f"'{head.hour}:{head.minute:02d} {head.ampm}' is not a time"
        if head.ampm == "pm" and hour < 12:
            hour += 12
        elif head.ampm == "am" and hour == 12:
            hour = 0
    if hour > 23 or head.minute > 59 or head.second > 59:
        return f"'{head.hour}:{head.minute:02d}' is not a time"
    return datetime(*ymd, hour, head.minute, head.second)


def _entry(number: int, head: _Head, when: datetime, lines: list[str]) -> Entry:
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()  # the export's own trailing line breaks
    body = "\n".join(lines)
    if head.author is None:
        return Entry(number, when, None, body.translate(_MARKS), Kind.SYSTEM)
    text = body.translate(_MARKS) if head.marked else body
    kind, attachment, rest = _kind(text)
    if kind is Kind.SYSTEM and not head.marked:
        kind = Kind.MESSAGE  # text that merely reads like a marker is the author's message
    if kind is Kind.SYSTEM:
        return Entry(number, when, None, text, Kind.SYSTEM, chat=head.author)
    return Entry(number, when, head.author, rest, kind, attachment)


def _kind(text: str) -> tuple[Kind, str | None, str]:
    """What a message's text is: (kind, attachment file name, the text left)."""
    first, _, more = text.partition("\n")
    marker = first.translate(_CLEAN).strip()
    for pattern in (_IOS_FILE, _ANDROID_FILE, _WA_FILE):
        if (found := pattern.fullmatch(marker)) is not None:
            return Kind.MESSAGE, found["name"].strip(), more
    if _OMITTED.fullmatch(marker) is not None:
        return Kind.MEDIA_OMITTED, None, text.translate(_MARKS).strip()
    if not more and marker.rstrip(".").casefold() in _DELETED:
        return Kind.DELETED, None, marker
    return Kind.SYSTEM, None, text
