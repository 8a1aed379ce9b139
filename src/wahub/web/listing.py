"""The conversation list's view: its filter (Mine / Unassigned / All / Resolved), account, entity and search
words, read from a page's query string and written back into every link of the page (the rows, "more", the live
script's requests), so that opening a conversation or a live update keeps the list as it was asked for.

Values in a query string are read tolerantly (a filter, account or entity that names nothing is dropped: the
list is wider, never an error); ``/e/{entity_type}/{entity_id}`` checks its path itself (``entity``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from wahub.api.schemas.common import ENTITY_ID, ENTITY_TYPE
from wahub.store import paging
from wahub.store.models import Contact, Message
from wahub.store.search import Hit
from wahub.web import views

_TYPE, _ID = re.compile(ENTITY_TYPE), re.compile(ENTITY_ID)
MAX_QUERY = 200  # characters of a search (as GET /api/v1/search)


class Filter(enum.StrEnum):
    """The list's filters: all open conversations, mine, the unassigned ones, the resolved ones."""

    ALL = "all"
    MINE = "mine"
    UNASSIGNED = "unassigned"
    RESOLVED = "resolved"

    @classmethod
    def named(cls, value: str | None) -> Filter:
        try:
            return cls(value or cls.ALL)
        except ValueError:
            return cls.ALL


FILTER_LABELS = {Filter.MINE: "Mine", Filter.UNASSIGNED: "Unassigned", Filter.ALL: "All", Filter.RESOLVED: "Resolved"}


def entity(entity_type: str | None, entity_id: str | None) -> tuple[str, str] | None:
    """An ERP record as (type, id) when both are given and well-formed (as the API's entity links), else None."""
    if not entity_type or not entity_id:
        return None
    if not _TYPE.fullmatch(entity_type) or not _ID.fullmatch(entity_id):
        return None
    return entity_type, entity_id


@dataclass(frozen=True, slots=True)
class ListView:
    """What the list shows. With an entity, "All" holds its resolved conversations too: an ERP record's page
    wants everything ever said about it."""

    which: Filter = Filter.ALL
    account: int | None = None
    entity: tuple[str, str] | None = None
    q: str | None = None

    @classmethod
    def of(
        cls,
        which: str | None = None,
        account: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        q: str | None = None,
    ) -> ListView:
        number = int(account) if account and account.isascii() and account.isdigit() and len(account) < 12 else 0
        words = (q or "").strip()[:MAX_QUERY]
        return cls(
            Filter.named(which),
            number if 1 <= number <= paging.ID_MAX else None,
            entity(entity_type, entity_id),
            words or None,
        )

    def params(self) -> dict[str, str]:
        found = {"filter": self.which.value}
        if self.account is not None:
            found["account"] = str(self.account)
        if self.entity is not None:
            found["entity_type"], found["entity_id"] = self.entity
        if self.q:
            found["q"] = self.q
        return found

    @property
    def query(self) -> str:
        """The view as a query string (``filter=all&account=2``): every link of the page carries it."""
        return urlencode(self.params())

    def but(self, **changes: object) -> ListView:
        """The same view with some parts changed (the filter links, "remove the entity", "clear the search")."""
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class MessageHit:
    """A message the search found: whose, when, and a snippet with its matched words apart."""

    conversation_id: int
    message_id: int
    name: str
    stamp: str
    parts: list[tuple[str, bool]]  # the snippet's pieces, True for a matched word (shown marked)


def hit(found: Hit, clock: views.Clock) -> MessageHit:
    message: Message = found.message
    contact: Contact = found.contact
    text = found.snippet or views.preview(message)
    parts: list[tuple[str, bool]] = []
    at = 0
    for start, end in found.highlights if found.snippet else ():
        parts += [(text[at:start], False), (text[start:end], True)]
        at = end
    parts.append((text[at:], False))
    return MessageHit(
        conversation_id=message.conversation_id,
        message_id=message.id,
        name=views.contact_name(contact),
        stamp=clock.stamp(message.provider_timestamp or message.created_at),
        parts=[part for part in parts if part[0]],
    )
