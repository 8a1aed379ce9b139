"""Erasing a person from what webhooks brought: raw bodies in the events journal, and JSON kept from them.

A person is known by their ids (number, business-scoped user id, earlier numbers) and their names. In a Meta
body, the items that are theirs go whole: their messages (and so their texts and media ids), echoes and history
threads with them, statuses of messages to them, their entries in ``contacts``, their preferences. Whatever is
left that still names them (a reply's ``context.from``, an error's text) has the id replaced by ``MARKER``, and a
string that is exactly one of their names becomes ``MARKER``. A body with nothing left in it is dropped
(``scrub_body`` returns None). A Twilio form is about one message or status: one that names them is dropped.

The result is still a body the parser reads (``meta.parse``), so a scrubbed event can be processed or
reprocessed; it no longer matches the signature Meta made over the original, which was checked when it came.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

MARKER = "[erased]"

# The keys by which a Meta item names the user it is from, to or about.
_PERSON_KEYS = (
    "from",
    "from_user_id",
    "to",
    "to_user_id",
    "wa_id",
    "user_id",
    "recipient_id",
    "recipient_user_id",
    "recipient_participant_id",
    "recipient_participant_user_id",
)
# The lists of items in a change's value.
_ITEM_LISTS = ("contacts", "messages", "message_echoes", "statuses", "user_preferences")


@dataclass(frozen=True)
class Person:
    """Who is erased: ``ids`` (numbers as digits, user ids: replaced wherever they occur in a string), ``names``
    (profile and saved names) and ``wamids`` (their messages' ids, which others' rows quote and which, Meta's at
    least, encode the number): a string that is exactly one of those is replaced."""

    ids: frozenset[str]
    names: frozenset[str]
    wamids: frozenset[str] = frozenset()

    @functools.cached_property
    def _whole(self) -> frozenset[str]:
        return frozenset(name.casefold() for name in self.names) | self.wamids

    def mentioned_in(self, data: bytes) -> bool:
        """Whether raw bytes hold one of the ids (how journal events about them are found)."""
        return any(ident.encode() in data for ident in self.ids)

    def is_named(self, value: Any) -> bool:
        """Whether a JSON value is one of the ids (a number compared by its digits)."""
        if not isinstance(value, str) or not value:
            return False
        digits = "".join(ch for ch in value if ch.isdigit())
        return value in self.ids or (len(digits) >= 6 and digits in self.ids)


def scrub_json(value: Any, person: Person) -> Any:
    """``value`` with every string that holds one of the person's ids, or is one of their names, rewritten
    (ids replaced by MARKER, names by MARKER); dictionary keys too (reactions are keyed by the reactor's id)."""
    if isinstance(value, str):
        return _scrub_text(value, person)
    if isinstance(value, list):
        return [scrub_json(item, person) for item in value]
    if isinstance(value, dict):
        return {_scrub_text(key, person): scrub_json(item, person) for key, item in value.items()}
    return value


def _scrub_text(text: str, person: Person) -> str:
    if text in person.wamids or text.strip().casefold() in person._whole:
        return MARKER
    for ident in person.ids:
        if ident in text:
            text = text.replace(ident, MARKER)
    return text


def scrub_body(provider: str, body: bytes, person: Person) -> bytes | None:
    """The journal body without the person (None: nothing is left of it; ``body`` itself: it is not theirs)."""
    if not person.mentioned_in(body):
        return body
    if provider != "meta":
        return None  # a Twilio form: one message or status, theirs
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        # Not JSON (rejected when it came): the ids' bytes are overwritten where they are.
        for ident in person.ids:
            body = body.replace(ident.encode(), MARKER.encode())
        return body
    left = 0
    for entry in payload.get("entry", []) if isinstance(payload, dict) else []:
        for change in entry.get("changes", []) if isinstance(entry, dict) else []:
            left += _scrub_change(change, person) if isinstance(change, dict) else 1
    if left == 0:
        return None
    return json.dumps(scrub_json(payload, person), ensure_ascii=False, separators=(",", ":")).encode()


def _scrub_change(change: dict[str, Any], person: Person) -> int:
    """Drop the person's items from one change; returns how many items (or other contents) are left."""
    value = change.get("value")
    if not isinstance(value, dict):
        return 1
    left = 0
    found_items = False
    for key in _ITEM_LISTS:
        items = value.get(key)
        if isinstance(items, list):
            found_items = True
            value[key] = [item for item in items if not _theirs(item, person)]
            if key != "contacts":
                left += len(value[key])
    history = value.get("history")
    if isinstance(history, list):
        found_items = True
        for chunk in history:
            threads = chunk.get("threads") if isinstance(chunk, dict) else None
            if isinstance(threads, list):
                chunk["threads"] = kept = [
                    t for t in threads if isinstance(t, dict) and not person.is_named(t.get("id"))
                ]
                for thread in kept:
                    if isinstance(thread.get("messages"), list):
                        thread["messages"] = [m for m in thread["messages"] if not _theirs(m, person)]
                left += len(kept)
            else:
                left += 1  # a progress chunk without threads
    if isinstance(value.get("errors"), list):
        left += len(value["errors"])
    # A field that is not about messages (a template update, an account event) is kept whole, scrubbed.
    return left if found_items else max(left, 1)


def _theirs(item: Any, person: Person) -> bool:
    return isinstance(item, dict) and any(person.is_named(item.get(key)) for key in _PERSON_KEYS)
