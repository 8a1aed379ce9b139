"""Full-text search over messages, and conversations found by a message or by part of a contact's name or number.

``messages.search_text`` holds what a message is found by (``search_text.indexed_text``, written with the message
by whoever writes it). Each database indexes that column in its own way (migration 0012 builds both):

- SQLite: ``messages_fts``, an FTS5 table with external content (the text stays in ``messages.search_text``),
  kept in step by triggers on ``messages`` (insert, update of ``search_text``, delete, cascades included).
- PostgreSQL: a GIN index over ``PG_VECTOR``, a ``tsvector`` of the column with ASCII punctuation read as spaces
  (so ``invoice_2024.pdf`` is three words, as in FTS5), under the ``simple`` configuration: messages come in
  every language, so no stemming and no stop words; the last word's prefix match stands in for stemming.
  ``pg_trgm`` GIN indexes on ``contacts.profile_name`` and ``contacts.wa_id`` serve ``ILIKE '%…%'``.

The models do not describe these objects (an FTS5 table and expression indexes are not portable schema):
``modeled`` keeps them out of Alembic's comparison of the models with the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import paging
from wahub.store.models import Contact, Conversation, Message
from wahub.store.search_text import PUNCTUATION, Query, fts5_match, number_digits, tsquery

if TYPE_CHECKING:
    from alembic.runtime.environment import NameFilterParentNames, NameFilterType

FTS_TABLE = "messages_fts"
# FTS5's shadow tables (external content: no _content table).
FTS_TABLES = frozenset({FTS_TABLE, *(f"{FTS_TABLE}_{suffix}" for suffix in ("data", "idx", "docsize", "config"))})
FTS_TRIGGERS = ("messages_fts_insert", "messages_fts_update", "messages_fts_delete")
PG_INDEXES = frozenset({"ix_messages_search_text", "ix_contacts_profile_name_trgm", "ix_contacts_wa_id_trgm"})

# ``%`` stays out of the translated set: a literal percent sign in SQL trips drivers' parameter styles, and
# PostgreSQL's parser splits words at ``%`` anyway.
_PG_FROM = "'" + PUNCTUATION.replace("%", "").replace("'", "''") + "'"
_PG_TO = "'" + " " * len(PUNCTUATION.replace("%", "")) + "'"
_SIMPLE = "'simple'::regconfig"
# The indexed expression; a query must spell it the same way for PostgreSQL to use the index.
PG_VECTOR = f"to_tsvector({_SIMPLE}, translate(search_text, {_PG_FROM}, {_PG_TO}))"

CURSOR = "s"
SNIPPET_TOKENS = 12  # words around the first match in a snippet
_START, _STOP = "\x02", "\x03"  # match markers in the databases' snippets (search_text holds no control characters)
_HEADLINE = (
    f"StartSel={_START}, StopSel={_STOP}, MaxWords={2 * SNIPPET_TOKENS}, MinWords={SNIPPET_TOKENS}, MaxFragments=1"
)


def modeled(name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames) -> bool:
    """Alembic's ``include_name``: False for the search objects, which the models do not describe."""
    return not ((type_ == "table" and name in FTS_TABLES) or (type_ == "index" and name in PG_INDEXES))


@dataclass(frozen=True, slots=True)
class Hit:
    """A message found, with its contact, and a snippet of its text whose ``highlights`` are the matched words
    as (start, end) offsets."""

    message: Message
    contact: Contact
    snippet: str | None
    highlights: tuple[tuple[int, int], ...]


def _postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _fts_column() -> sa.ColumnClause[Any]:
    # FTS5's hidden column named after its table: ``messages_fts MATCH ?`` and the first argument of snippet().
    return sa.literal_column(FTS_TABLE)


_FTS = sa.table(FTS_TABLE, sa.column("rowid", sa.Integer))


def _fts_matches(query: Query) -> sa.ColumnElement[bool]:
    return _fts_column().bool_op("MATCH")(fts5_match(query))


def _pg_vector() -> sa.ColumnElement[Any]:
    return sa.func.to_tsvector(
        sa.literal_column(_SIMPLE),
        sa.func.translate(Message.search_text, sa.literal_column(_PG_FROM), sa.literal_column(_PG_TO)),
    )


def _pg_query(query: Query) -> sa.ColumnElement[Any]:
    return sa.func.to_tsquery(sa.literal_column(_SIMPLE), tsquery(query))


async def find_messages(
    session: AsyncSession,
    query: Query,
    *,
    limit: int,
    cursor: str | None = None,
    visible: sa.ColumnElement[bool] | None = None,
) -> paging.Page[Hit]:
    """Messages whose text matches ``query``, newest first, ``limit`` after ``cursor``; ``visible`` (a condition
    on ``Conversation``) keeps only the conversations the caller may see."""
    if query.empty:
        return paging.Page([], None)
    key: sa.ColumnElement[int] | sa.orm.InstrumentedAttribute[int]
    if _postgres(session):
        key = Message.id
        wanted = _pg_query(query)
        snippet = sa.func.ts_headline(sa.literal_column(_SIMPLE), Message.search_text, wanted, _HEADLINE)
        stmt = sa.select(Message, Contact, snippet).where(_pg_vector().bool_op("@@")(wanted))
    else:
        # From the FTS table, newest first by its rowid: FTS5 walks its index backwards and stops at the limit.
        key = _FTS.c.rowid
        snippet = sa.func.snippet(_fts_column(), 0, _START, _STOP, "…", SNIPPET_TOKENS)
        stmt = (
            sa.select(Message, Contact, snippet)
            .select_from(_FTS)
            .join(Message, Message.id == _FTS.c.rowid)
            .where(_fts_matches(query))
        )
    stmt = stmt.join(Contact, Contact.id == Message.contact_id)
    if visible is not None:
        stmt = stmt.join(Conversation, Conversation.id == Message.conversation_id).where(visible)
    if cursor:
        stmt = stmt.where(key < paging.decode(CURSOR, cursor))
    rows = (await session.execute(stmt.order_by(key.desc()).limit(limit + 1))).all()
    hits = [Hit(message, contact, *_marked(text)) for message, contact, text in rows[:limit]]
    more = len(rows) > limit and hits
    return paging.Page(hits, paging.encode(CURSOR, hits[-1].message.id) if more else None)


def _marked(text: str | None) -> tuple[str | None, tuple[tuple[int, int], ...]]:
    """The snippet without its match markers, and where the marked words are in it."""
    if text is None:
        return None, ()
    plain: list[str] = []
    spans: list[tuple[int, int]] = []
    at, start = 0, None
    for piece in re.split(f"([{_START}{_STOP}])", text):
        if piece == _START:
            start = at
        elif piece == _STOP:
            if start is not None and at > start:
                spans.append((start, at))
            start = None
        else:
            plain.append(piece)
            at += len(piece)
    return "".join(plain), tuple(spans)


def _contains(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contact_match(query: Query) -> sa.ColumnElement[bool] | None:
    """Contacts whose name holds every word typed (case-insensitive, anywhere in the name), or whose number
    holds the digits typed (``+49 151`` finds 4915123…); None when nothing was typed."""
    words = query.text.replace('"', " ").split()
    if not words:
        return None
    found = [sa.and_(*(Contact.profile_name.ilike(_contains(word), escape="\\") for word in words[:8]))]
    if (digits := number_digits(query.text)) is not None:
        found.append(Contact.wa_id.like(f"%{digits}%"))
    return sa.or_(*found)


def conversation_match(session: AsyncSession, query: Query) -> sa.ColumnElement[bool]:
    """Conversations whose contact matches (``contact_match``) or that hold a message matching ``query``."""
    found = []
    if (who := contact_match(query)) is not None:
        found.append(Conversation.contact_id.in_(sa.select(Contact.id).where(who)))
    if not query.empty:
        if _postgres(session):
            holding = sa.select(Message.conversation_id).where(_pg_vector().bool_op("@@")(_pg_query(query)))
        else:
            ids = sa.select(_FTS.c.rowid).where(_fts_matches(query))
            holding = sa.select(Message.conversation_id).where(Message.id.in_(ids))
        found.append(Conversation.id.in_(holding))
    return sa.or_(*found) if found else sa.false()
