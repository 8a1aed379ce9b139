"""Media: one row per provider media id and account, created when a message names it (state ``pending``);
the media worker downloads it into storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain
from wahub.storage.uploads import Kept
from wahub.store import queues, upsert
from wahub.store.keys import pairs_in as keys_in
from wahub.store.models import Account, Media, utcnow

PENDING = "pending"
FETCHING = "fetching"
STORED = "stored"
FAILED = "failed"


async def register_many(
    session: AsyncSession, refs: Sequence[tuple[int, domain.MediaRef]]
) -> dict[tuple[int, str], int]:
    """Media rows for (account_id, ref) pairs, created once; returns their ids by (account_id, media id)."""
    if not refs:
        return {}
    now = utcnow()
    rows = [
        {
            "account_id": account_id,
            "provider_media_id": ref.media_id,
            "mime_type": ref.mime_type,
            "sha256": ref.sha256,
            "filename": (ref.filename or "")[:512] or None,
            "size": None,
            "state": PENDING,
            "storage_key": None,
            "error": None,
            "attempts": 0,
            "run_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for account_id, ref in {(a, r.media_id): (a, r) for a, r in refs}.values()
    ]
    await upsert.insert_ignore_many(session, Media.__table__, rows)  # type: ignore[arg-type]
    keys = {(a, r.media_id) for a, r in refs}
    stmt = sa.select(Media.id, Media.account_id, Media.provider_media_id).where(
        keys_in(Media.account_id, Media.provider_media_id, keys)
    )
    return {(row.account_id, row.provider_media_id): row.id for row in await session.execute(stmt)}


_MEDIA: sa.Table = Media.__table__  # type: ignore[assignment]
# Pending and due, or being fetched by a worker whose claim ran out (it crashed, or hung).
QUEUE = queues.Queue(
    _MEDIA,
    due=lambda now: sa.or_(
        sa.and_(_MEDIA.c.state == PENDING, _MEDIA.c.run_at <= now),
        sa.and_(_MEDIA.c.state == FETCHING, _MEDIA.c.locked_until < now),
    ),
    lease="locked_until",
    count_attempt=True,
    claimed={"state": FETCHING},
    touched="updated_at",
)


async def claim(session: AsyncSession, limit: int, lease: timedelta) -> list[tuple[Media, Account]]:
    """Media due for fetching (pending and due, or fetching by a worker whose claim ran out), with their
    accounts; they stay ours until ``lease`` passes. The caller commits the claim before downloading."""
    claimed = await QUEUE.claim(session, limit, lease=lease)
    if not claimed:
        return []
    rows = await session.execute(
        sa.select(Media, Account)
        .join(Account, Account.id == Media.account_id)
        .where(Media.id.in_([row.id for row in claimed]))
        .execution_options(populate_existing=True)
    )
    return list(rows.tuples().all())


def stored(item: Media, key: str, size: int, mime_type: str | None, sha256: str) -> None:
    """The file is completely in storage under ``key`` (content-addressed: other media may share it)."""
    item.state = STORED
    item.storage_key = key
    item.size = size
    item.sha256 = sha256
    item.mime_type = item.mime_type or mime_type
    item.error = None
    item.locked_until = None
    item.updated_at = utcnow()


def retry_at(item: Media, when: datetime, error: str) -> None:
    item.state = PENDING
    item.run_at = when
    item.error = error
    item.locked_until = None
    item.updated_at = utcnow()


def failed(item: Media, reason: str) -> None:
    """Fetching gave up for good: the reason says why (Meta no longer has it, the bytes did not match...)."""
    item.state = FAILED
    item.error = reason
    item.locked_until = None
    item.updated_at = utcnow()


async def get(session: AsyncSession, media_id: int) -> Media | None:
    return await session.get(Media, media_id)


async def retry_failed(session: AsyncSession, media_id: int | None = None) -> int:
    """Failed media (or the one named) go back to ``pending``, due now, with their tries reset: ``wahub media
    retry``, after an outage or a fix. Media Meta no longer has fail again, with that reason."""
    stmt = sa.update(Media).where(Media.state == FAILED)
    if media_id is not None:
        stmt = stmt.where(Media.id == media_id)
    now = utcnow()
    result = await session.execute(
        stmt.values(state=PENDING, attempts=0, run_at=now, locked_until=None, updated_at=now).execution_options(
            synchronize_session=False
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


UPLOAD_PREFIX = "upload:"


async def register_upload(session: AsyncSession, account: Account, kept: Kept, given_name: str | None) -> Media:
    """A file uploaded to wahub to send, kept in storage (``storage/uploads.keep``), as media of ``account``; the
    same bytes uploaded again for the same account are the same media (its filename is the latest one given)."""
    return await register_stored(session, account.id, kept, given_name, prefix=UPLOAD_PREFIX)


IMPORT_PREFIX = "import:"


async def register_stored(
    session: AsyncSession, account_id: int, kept: Kept, given_name: str | None, *, prefix: str
) -> Media:
    """Media already in storage (an upload, a chat export's file), named ``prefix`` + its SHA-256 for the account:
    the same bytes registered again are the same media, its filename the latest one given."""
    sha256, key, size, mime_type = kept.sha256, kept.key, kept.size, kept.mime_type
    filename = (given_name or "").replace("\\", "/").rsplit("/", 1)[-1][:255] or None
    provider_media_id = prefix + sha256
    now = utcnow()
    await session.execute(
        upsert.insert_ignore(
            session,
            Media.__table__,  # type: ignore[arg-type]
            {
                "account_id": account_id,
                "provider_media_id": provider_media_id,
                "mime_type": mime_type,
                "sha256": sha256,
                "filename": filename,
                "size": size,
                "state": STORED,
                "storage_key": key,
                "attempts": 0,
                "run_at": now,
                "created_at": now,
                "updated_at": now,
            },
        )
    )
    item = (
        await session.scalars(
            sa.select(Media).where(Media.account_id == account_id, Media.provider_media_id == provider_media_id)
        )
    ).one()
    if filename:
        item.filename = filename
    return item


async def register_stored_many(
    session: AsyncSession, account_id: int, files: Sequence[tuple[Kept, str]], *, prefix: str
) -> dict[str, int]:
    """``register_stored`` for many (kept, filename) pairs in two statements; returns media ids by SHA-256. Media
    registered already keep their filename."""
    if not files:
        return {}
    now = utcnow()
    rows = [
        {
            "account_id": account_id,
            "provider_media_id": prefix + kept.sha256,
            "mime_type": kept.mime_type,
            "sha256": kept.sha256,
            "filename": name.replace("\\", "/").rsplit("/", 1)[-1][:255] or None,
            "size": kept.size,
            "state": STORED,
            "storage_key": kept.key,
            "attempts": 0,
            "run_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for kept, name in {kept.sha256: (kept, name) for kept, name in files}.values()
    ]
    await upsert.insert_ignore_many(session, Media.__table__, rows)  # type: ignore[arg-type]
    stmt = sa.select(Media.id, Media.sha256).where(
        Media.account_id == account_id, Media.provider_media_id.in_([r["provider_media_id"] for r in rows])
    )
    return {row.sha256: row.id for row in await session.execute(stmt)}


def is_upload(item: Media) -> bool:
    return item.provider_media_id.startswith(UPLOAD_PREFIX)


def uploaded(item: Media, upload_id: str) -> None:
    """Meta took the file and named it ``upload_id`` (usable to send it for 30 days)."""
    item.upload_id = upload_id
    item.uploaded_at = utcnow()
    item.updated_at = item.uploaded_at


def upload_lost(item: Media) -> None:
    """Meta no longer has the file it took (deleted, expired): the next send uploads it again."""
    item.upload_id = None
    item.uploaded_at = None
    item.updated_at = utcnow()
