"""A CSV file of contacts read into rows to import (``wahub contacts import``), each bad row kept apart with its
line number and the reason. Pure: no database; ``contact_importer.py`` stores the good rows.

Columns (by header, any case): the number (``number``, ``phone``, ``phone_number`` or ``wa_id``; required), then
optionally ``name`` and ``labels`` (separated by ``;`` or ``|``); any other column is an attribute of that name
(spaces in it become ``_``).
The file is UTF-8 (an Excel byte-order mark is fine), separated by commas, semicolons or tabs (the header's most
frequent one).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from wahub import errors
from wahub.store import audiences

NUMBER_COLUMNS = ("number", "phone", "phone_number", "wa_id")
NAME_MAX = 256
_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True, slots=True)
class Row:
    """A good row: the contact's number (E.164 digits, Meta's ``wa_id``), and what to set on it."""

    line: int
    wa_id: str
    name: str | None
    labels: dict[str, str]  # key -> name (``audiences.labels``)
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row left out, and why."""

    line: int
    reason: str


@dataclass(slots=True)
class Parsed:
    rows: list[Row] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def parse(data: bytes) -> Parsed:
    """The rows of a CSV file. InvalidInput for a file that cannot be read as contacts at all (not UTF-8, no
    header, no number column, a header that cannot name an attribute)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.InvalidInput(f"the file is not UTF-8 (byte {exc.start}): save it as CSV UTF-8") from exc
    first = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise errors.InvalidInput("the file is empty: it needs a header line with a 'number' column") from None
    columns = _columns(header)
    parsed = Parsed()
    seen: dict[str, int] = {}
    line = reader.line_num + 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            try:
                row = _row(start, cells, header, columns)
            except ValueError as exc:
                parsed.rejected.append(Rejected(start, str(exc)))
                continue
            if row.wa_id in seen:
                parsed.rejected.append(Rejected(start, f"+{row.wa_id} is on line {seen[row.wa_id]} already"))
                continue
            seen[row.wa_id] = start
            parsed.rows.append(row)
    except csv.Error as exc:
        raise errors.InvalidInput(f"line {reader.line_num}: not CSV ({exc})") from exc
    return parsed


def _columns(header: list[str]) -> dict[str, int]:
    """Where each column is: ``number``, ``name``, ``labels`` and ``attr:<key>``."""
    found: dict[str, int] = {}
    for index, raw in enumerate(header):
        name = raw.strip()
        lowered = name.casefold()
        if lowered in NUMBER_COLUMNS:
            key = "number"
        elif lowered in ("name", "labels", "label"):
            key = "labels" if lowered.startswith("label") else lowered
        elif not name:
            raise errors.InvalidInput(f"header: column {index + 1} has no name")
        else:
            name = "_".join(name.split())  # "Customer ID" names the attribute Customer_ID
            try:
                audiences.attribute_changes({name: ""})
            except errors.InvalidInput as exc:
                why = exc.message.partition(": ")[2]
                raise errors.InvalidInput(f"header: column '{name[:40]}' cannot name an attribute: {why}") from exc
            key = f"attr:{name}"
        if key in found:
            raise errors.InvalidInput(f"header: column '{name[:40]}' appears twice")
        found[key] = index
    if "number" not in found:
        raise errors.InvalidInput(f"header: no number column (name one {', '.join(NUMBER_COLUMNS)})")
    return found


def _row(line: int, cells: list[str], header: list[str], columns: dict[str, int]) -> Row:
    if len(cells) > len(header):
        raise ValueError(f"{len(cells)} cells, but the header names {len(header)} columns")

    def cell(key: str) -> str:
        index = columns.get(key)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    raw = cell("number")
    if not raw:
        raise ValueError("no number")
    wa_id = number(raw)
    name = " ".join(cell("name").split()) or None
    if name is not None and len(name) > NAME_MAX:
        raise ValueError(f"name: longer than {NAME_MAX} characters")
    parts = [p for p in cell("labels").replace("|", ";").split(";") if p.strip()]
    try:
        labels = audiences.labels(parts)
        attributes = {k[5:]: cell(k) for k in columns if k.startswith("attr:") and cell(k)}
        audiences.attribute_changes(attributes)
    except errors.InvalidInput as exc:
        raise ValueError(exc.message) from exc
    return Row(line, wa_id, name, labels, attributes)


def number(value: str) -> str:
    """E.164 digits (Meta's ``wa_id``) of a number written in E.164, with or without '+', spaces, dots, dashes or
    parentheses ('00' for '+' too). ValueError if it is not one: no country code, or a length no number of that
    country has (a number phonenumbers does not know yet is kept)."""
    import phonenumbers  # here: --help and the other commands do not need it

    cleaned = "".join(ch for ch in value if ch not in " \t.-()/")
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    digits = cleaned.removeprefix("+")
    if not digits.isascii() or not digits.isdigit() or not 7 <= len(digits) <= 15 or digits.startswith("0"):
        raise ValueError(f"'{value[:40]}' is not a number in E.164 (+, country code, number: +14155550101)")
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{value[:40]}' is not a number in E.164: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"'{value[:40]}' is not a number in E.164: no number of +{parsed.country_code} is that long")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
