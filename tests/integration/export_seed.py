"""A conversation to export, written straight into the store and the storage backend: texts (one with markup,
one over several lines), a reply with a reaction, a photo and a document with their bytes in storage, a failed
send, a system line, and a history message stored last though written first."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.domain import ContactRef
from wahub.storage.base import BlobStore, content_key
from wahub.store import contacts, conversations, db
from wahub.store.models import Account, Media, Message, StatusRecord

NUMBER = "34612345678"
T0 = datetime(2026, 1, 20, 10, 0, tzinfo=UTC)
PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg " * 1000
PDF = b"%PDF-1.4 an invoice\n" * 300
MARKUP = "Hola <script>alert(1)</script> & <b>bye</b>"
MULTILINE = "line one\nline two\n\nline four"

# What the text export of the seeded conversation says, line for line (times in UTC).
TXT = (
    "20/01/2026, 09:30 - +34612345678: from the history\n"
    f"20/01/2026, 10:00 - +34612345678: {MARKUP}\n"
    f"20/01/2026, 10:01 - test: {MULTILINE}\n"
    "20/01/2026, 10:02 - +34612345678: IMG-20260120-WA0001.jpg (file attached)\n"
    "a photo\n"
    "20/01/2026, 10:03 - test: invoice 7.pdf (file attached)\n"
    "20/01/2026, 10:05 - test: see you\n"
    "20/01/2026, 10:06 - Ana changed their phone number\n"
)


@dataclass(frozen=True, slots=True)
class Seeded:
    conversation_id: int
    message_ids: list[int]  # in time order


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _file(session: AsyncSession, storage: BlobStore, account: Account, data: bytes, **fields: Any) -> int:
    sha = hashlib.sha256(data).hexdigest()
    await storage.write(content_key(sha), _one(data))
    row = Media(
        account_id=account.id,
        provider_media_id=f"media-{uuid.uuid4().hex}",
        sha256=sha,
        size=len(data),
        state="stored",
        storage_key=content_key(sha),
        **fields,
    )
    session.add(row)
    await session.flush()
    return row.id


async def seed(
    sessions: async_sessionmaker[AsyncSession], storage: BlobStore, account: Account, number: str = NUMBER
) -> Seeded:
    async with db.transaction(sessions) as session:
        contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=number, name="Ana"))
        conversation = await conversations.get_or_create(session, account.id, contact.id)
        photo = await _file(session, storage, account, PHOTO, mime_type="image/jpeg")
        pdf = await _file(session, storage, account, PDF, mime_type="application/pdf", filename="invoice 7.pdf")

        def message(minute: int, direction: str, type_: str, content: dict[str, Any], **more: Any) -> Message:
            row = Message(
                account_id=account.id,
                conversation_id=conversation.id,
                contact_id=contact.id,
                direction=direction,
                type=type_,
                status=more.pop("status", "received" if direction == "inbound" else "delivered"),
                content=content,
                raw={"seeded": minute},
                provider_timestamp=T0 + timedelta(minutes=minute),
                **more,
            )
            session.add(row)
            return row

        rows = [
            message(0, "inbound", "text", {"text": {"body": MARKUP}}, wamid=f"wamid.in1.{number}"),
            message(
                1,
                "outbound",
                "text",
                {"text": {"body": MULTILINE}},
                wamid=f"wamid.out1.{number}",
                status="read",
                reply_to_wamid=f"wamid.in1.{number}",
                reactions={number: "👍"},
            ),
            message(
                2, "inbound", "image", {"image": {"caption": "a photo"}}, wamid=f"wamid.in2.{number}", media_id=photo
            ),
            message(3, "outbound", "document", {"document": {"filename": "invoice 7.pdf"}}, media_id=pdf),
            message(4, "inbound", "reaction", {"reaction": {"emoji": "👍"}}, target_wamid=f"wamid.out1.{number}"),
            message(
                5,
                "outbound",
                "text",
                {"text": {"body": "see you"}},
                status="failed",
                error_code=131026,
                error_title="Message undeliverable",
            ),
            message(
                6,
                "inbound",
                "system",
                {"system": {"body": "Ana changed their phone number", "type": "user_changed_number"}},
            ),
        ]
        await session.flush()
        # Stored last, written first: a message of the coexistence history.
        history = message(-30, "inbound", "text", {"text": {"body": "from the history"}}, wamid=f"wamid.h1.{number}")
        await session.flush()
        session.add(
            StatusRecord(
                account_id=account.id,
                wamid=f"wamid.out1.{number}",
                status="read",
                recipient=number,
                timestamp=T0 + timedelta(minutes=2),
                message_id=rows[1].id,
                raw={"status": "read"},
            )
        )
        return Seeded(conversation.id, [history.id, *(r.id for r in rows)])
