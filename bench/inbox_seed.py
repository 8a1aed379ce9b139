"""The archive ``bench/inbox_api.py`` measures: 1,000,000 messages, 10,000 contacts and 20,000 conversations (one
of 50,000 messages), written straight into the database as fast as it takes them (executemany in one
transaction on SQLite, COPY on PostgreSQL), shaped as wahub stores them (``search_text`` from wahub's own
``search_text.indexed_text``)."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from wahub.store.search_text import indexed_text

BIG = 50_000  # messages in the one large conversation


def vocabulary(rng: random.Random, size: int = 5_000) -> list[str]:
    """Pronounceable made-up words, most frequent first (Zipf: the word of rank r appears ~1/r as often)."""
    syllables = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"] + ["qua", "sha", "tri", "ber", "lon"]
    words: dict[str, None] = {}
    while len(words) < size:
        words["".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 4))))] = None
    return list(words)


@dataclass(frozen=True, slots=True)
class Archive:
    messages: int
    contacts: int
    conversations: int
    words: list[str]
    big_ids: list[int]  # message ids of the large conversation, oldest first


def texts(rng: random.Random, words: list[str], n: int) -> list[str]:
    weights = [1 / rank for rank in range(1, len(words) + 1)]
    return [" ".join(rng.choices(words, weights, k=rng.randint(3, 20))).capitalize() for _ in range(n)]


def message_rows(
    archive_size: int, conversations: int, rng: random.Random, words: list[str]
) -> Iterator[tuple[Any, ...]]:
    """(id, account, conversation, contact, direction, type, wamid, status, content, search_text, created_at)
    in id order; conversation 1 (the large one) gets every ``archive_size / BIG``-th message."""
    pool = texts(rng, words, 20_000)
    start = datetime(2025, 12, 1, tzinfo=UTC)
    step = timedelta(days=365) / archive_size
    every = max(archive_size // BIG, 1)
    for n in range(1, archive_size + 1):
        conversation = 1 if n % every == 0 and n // every <= BIG else rng.randint(2, conversations)
        contact = (conversation - 1) // 2 + 1
        account = 1 + (conversation - 1) % 2
        inbound = rng.random() < 0.7
        kind, content = _content(rng, rng.choice(pool), n)
        yield (
            n,
            account,
            conversation,
            contact,
            "inbound" if inbound else "outbound",
            kind,
            f"wamid.bench.{n}",
            "received" if inbound else "read",
            json.dumps(content),
            indexed_text(kind, content),
            (start + step * n).replace(tzinfo=None),
        )


def _content(rng: random.Random, text: str, n: int) -> tuple[str, dict[str, Any]]:
    roll = rng.random()
    if roll < 0.80:
        return "text", {"text": {"body": text}}
    if roll < 0.88:
        return "image", {"image": {"id": str(n), "mime_type": "image/jpeg", "caption": text[:60]}}
    if roll < 0.92:
        name = "_".join(text.lower().split()[:3]) + ".pdf"
        return "document", {"document": {"id": str(n), "mime_type": "application/pdf", "filename": name}}
    if roll < 0.96:
        return "audio", {"audio": {"id": str(n), "mime_type": "audio/ogg", "voice": True}}
    if roll < 0.98:
        return "sticker", {"sticker": {"id": str(n), "mime_type": "image/webp"}}
    return "location", {"location": {"latitude": 38.7, "longitude": -9.1, "name": text[:30]}}


def contact_rows(contacts: int, rng: random.Random, words: list[str]) -> list[tuple[Any, ...]]:
    now = datetime(2025, 12, 1)
    return [
        (n, 1, f"49151{n:07d}", f"{rng.choice(words).capitalize()} {rng.choice(words).capitalize()}", now, now)
        for n in range(1, contacts + 1)
    ]


def conversation_rows(conversations: int) -> list[tuple[Any, ...]]:
    now = datetime(2025, 12, 1)
    return [(n, 1 + (n - 1) % 2, (n - 1) // 2 + 1, 0, now) for n in range(1, conversations + 1)]


MESSAGE_COLUMNS = (
    "id, account_id, conversation_id, contact_id, direction, type, wamid, status, content, search_text, created_at"
)
# Conversations' last message and last inbound one, from the messages (one statement, both databases).
LAST_MESSAGE = (
    "UPDATE conversations SET last_message_at = m.last, last_inbound_at = m.inbound FROM (SELECT conversation_id, "
    "max(created_at) AS last, max(CASE WHEN direction = 'inbound' THEN created_at END) AS inbound FROM messages "
    "GROUP BY conversation_id) AS m WHERE m.conversation_id = conversations.id"
)


def seed_sqlite(path: str, archive: Archive, rng: random.Random) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO contacts (id, account_id, wa_id, profile_name, created_at, updated_at) VALUES (?,?,?,?,?,?)",
            contact_rows(archive.contacts, rng, archive.words),
        )
        conn.executemany(
            "INSERT INTO conversations (id, account_id, contact_id, unread_count, created_at) VALUES (?,?,?,?,?)",
            conversation_rows(archive.conversations),
        )
        rows = message_rows(archive.messages, archive.conversations, rng, archive.words)
        conn.executemany(
            f"INSERT INTO messages ({MESSAGE_COLUMNS}, possible_duplicate) VALUES (?,?,?,?,?,?,?,?,?,?,?,0)", rows
        )
        conn.execute(LAST_MESSAGE)
        conn.execute("COMMIT")
    finally:
        conn.close()


def seed_postgres(url: str, archive: Archive, rng: random.Random) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        indexes = conn.execute(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname IN ('messages', 'contacts', 'conversations') "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        with conn.cursor() as cur:
            with cur.copy(
                "COPY contacts (id, account_id, wa_id, profile_name, created_at, updated_at) FROM STDIN"
            ) as cp:
                for row in contact_rows(archive.contacts, rng, archive.words):
                    cp.write_row(row)
            with cur.copy("COPY conversations (id, account_id, contact_id, unread_count, created_at) FROM STDIN") as cp:
                for row in conversation_rows(archive.conversations):
                    cp.write_row(row)
            with cur.copy(f"COPY messages ({MESSAGE_COLUMNS}, possible_duplicate) FROM STDIN") as cp:
                for row in message_rows(archive.messages, archive.conversations, rng, archive.words):
                    cp.write_row((*row, False))
        conn.execute(LAST_MESSAGE)
        for table in ("contacts", "conversations", "messages"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        for _, definition in indexes:
            conn.execute(definition)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
