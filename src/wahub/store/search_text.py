"""What a message is found by, and what a search asks for: pure functions, no database.

``search_text(type, content)`` is the one place that says which words a message carries (a text's body, a
caption, a document's filename, button and list titles, a template's name and text parameters, a shared
contact's name and numbers...). Whoever writes a message stores ``indexed_text`` in ``messages.search_text``
(the processor, the API's queue, edits; a revoke clears it), and each database indexes that column
(``store/search.py``).

``parse(q)`` reads what a user typed: words that must all match, ``"quoted phrases"``, and the last word matching
as a prefix while it is being typed. A term keeps only what can be part of a word: ASCII punctuation becomes a
space (a word such as ``john@example.com`` becomes the phrase ``john example com``, as both databases' indexes
split it), so nothing the user typed reaches FTS5's or ``to_tsquery``'s syntax except inside a quoted string
this module writes.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# ASCII punctuation, read as spaces by the query side here and by PostgreSQL's index (``store/search.py``):
# its text-search parser would otherwise keep ``invoice_2024.pdf`` or ``a@b.com`` as one token, where SQLite's
# FTS5 tokenizer sees separate words.
PUNCTUATION = string.punctuation
_AS_SPACES = str.maketrans(PUNCTUATION, " " * len(PUNCTUATION))
# Control characters never reach the index: the snippets' match markers are two of them (``store/search.py``).
_NO_CONTROLS = str.maketrans(dict.fromkeys(range(32), " "))

MAX_TERMS = 8  # words or phrases in one query; more are ignored
MAX_TOKEN = 64  # characters kept of one word
MIN_PREFIX = 3  # the last word matches as a prefix from this many characters (FTS5 keeps an index of 3)

_TERM = re.compile(r'"([^"]*)"?|[^\s"]+')


def search_text(message_type: str, content: Mapping[str, Any]) -> str:
    """The words ``content`` (a message of ``message_type``, in Meta's shape) is found by, one part per line;
    empty for messages that say nothing searchable (audio, stickers, reactions, edits and revokes, whose effect
    is on the message they name)."""
    return "\n".join(_clean(part) for part in _parts(message_type, content) if _clean(part))


def indexed_text(message_type: str, content: Mapping[str, Any]) -> str | None:
    """``messages.search_text`` for a message: ``search_text``, or None when it is empty (no index entry)."""
    return search_text(message_type, content) or None


def _clean(value: Any) -> str:
    return " ".join(value.translate(_NO_CONTROLS).split()) if isinstance(value, str) else ""


def _parts(message_type: str, content: Mapping[str, Any]) -> Iterator[Any]:
    value = content.get(message_type)
    obj = value if isinstance(value, Mapping) else {}
    if message_type == "text":
        yield obj.get("body")
    elif message_type in ("image", "video"):
        yield obj.get("caption")
    elif message_type == "document":
        yield obj.get("filename")
        yield obj.get("caption")
    elif message_type == "location":
        yield obj.get("name")
        yield obj.get("address")
    elif message_type == "contacts":
        yield from _shared_contacts(value)
    elif message_type == "interactive":
        yield from _interactive(obj)
    elif message_type == "button":
        yield obj.get("text")
    elif message_type == "template":
        yield from _template(obj)
    elif message_type in ("order", "system"):
        yield obj.get("text") if message_type == "order" else obj.get("body")


def _dicts(value: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, Mapping))


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _shared_contacts(value: Any) -> Iterator[Any]:
    """Contact cards: names, company, phone numbers and e-mail addresses."""
    for card in _dicts(value):
        name = card.get("name")
        formatted = _get(name, "formatted_name")
        yield formatted or " ".join(
            p for p in (_get(name, "first_name"), _get(name, "last_name")) if isinstance(p, str)
        )
        yield _get(card, "org", "company")
        for phone in _dicts(card.get("phones")):
            yield phone.get("phone") or phone.get("wa_id")
        for email in _dicts(card.get("emails")):
            yield email.get("email")


def _interactive(obj: Mapping[str, Any]) -> Iterator[Any]:
    """A reply's title (and a list row's description); an outbound message's header, body, footer, buttons,
    list sections and rows, and call-to-action label."""
    kind = obj.get("type")
    if kind in ("button_reply", "list_reply"):
        yield _get(obj, kind, "title")
        yield _get(obj, kind, "description")
        return
    if kind == "nfm_reply":
        yield _get(obj, "nfm_reply", "body")
        return
    yield _get(obj, "header", "text")
    yield _get(obj, "body", "text")
    yield _get(obj, "footer", "text")
    action = obj.get("action")
    yield _get(action, "button")
    yield _get(action, "parameters", "display_text")
    yield _get(action, "parameters", "flow_cta")
    for button in _dicts(_get(action, "buttons")):
        yield _get(button, "reply", "title")
    for section in _dicts(_get(action, "sections")):
        yield section.get("title")
        for row in _dicts(section.get("rows")):
            yield row.get("title")
            yield row.get("description")


def _template(obj: Mapping[str, Any]) -> Iterator[Any]:
    """A template's name and the text parameters the recipient reads (Twilio's: its variables' values)."""
    yield obj.get("name")
    variables = obj.get("content_variables")
    if isinstance(variables, Mapping):
        yield from variables.values()
    for component in _dicts(obj.get("components")):
        for parameter in _dicts(component.get("parameters")):
            if parameter.get("type") == "text":
                yield parameter.get("text")


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed search: ``terms`` must all match, each a phrase of space-separated words (one word for a plain
    word); with ``prefix``, the last word of the last term matches any word it begins."""

    terms: tuple[str, ...]
    prefix: bool = False
    text: str = ""  # what the user typed (stripped), for matching contacts' names and numbers

    @property
    def empty(self) -> bool:
        return not self.terms


def parse(q: str) -> Query:
    """Read a search as typed: plain words (all must match), ``"quoted phrases"`` (an unclosed quote runs to
    the end), and the last plain word as a prefix unless a space follows it. Punctuation separates words; a
    term with no letter or digit left is dropped, so a query of only symbols is empty (it finds nothing)."""
    q = q.translate(_NO_CONTROLS)  # a NUL would fail the query on PostgreSQL; none is ever indexed
    terms: list[str] = []
    last_quoted = False
    for match in _TERM.finditer(q):
        quoted = match.group(1) is not None
        words = [w[:MAX_TOKEN] for w in (match.group(1) if quoted else match.group(0)).translate(_AS_SPACES).split()]
        words = [w for w in words if any(ch.isalnum() for ch in w)]
        if words and len(terms) < MAX_TERMS:
            terms.append(" ".join(words))
            last_quoted = quoted
    prefix = bool(terms) and not last_quoted and not q[-1:].isspace() and len(terms[-1].split()[-1]) >= MIN_PREFIX
    return Query(tuple(terms), prefix, q.strip())


def fts5_match(query: Query) -> str:
    """The FTS5 MATCH expression: each term a quoted string (FTS5 tokenizes it into a phrase), implicit AND,
    ``*`` after the last one for a prefix. Only quoted strings: no operator, column filter or ``*`` of the user's."""
    quoted = ['"' + term.replace('"', '""') + '"' for term in query.terms]
    if query.prefix and quoted:
        quoted[-1] += "*"
    return " ".join(quoted)


def tsquery(query: Query) -> str:
    """The ``to_tsquery`` text: each term's words as quoted lexemes joined by ``<->`` (a phrase), terms joined
    by ``&``, ``:*`` on the last word for a prefix."""
    rendered = []
    for number, term in enumerate(query.terms, start=1):
        words = ["'" + w.replace("\\", "\\\\").replace("'", "''") + "'" for w in term.split()]
        if query.prefix and number == len(query.terms):
            words[-1] += ":*"
        rendered.append(" <-> ".join(words))
    return " & ".join(rendered)


def number_digits(text: str) -> str | None:
    """The digits of a (partial) phone number as typed (``+49 151-23``), or None when ``text`` is not one or has
    fewer than 3 digits (too short to narrow anything)."""
    digits = "".join(ch for ch in text if ch in string.digits)
    if len(digits) < 3 or any(ch not in string.digits and ch not in " +-()." for ch in text):
        return None
    return digits
