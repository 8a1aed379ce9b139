"""The media fetcher: downloads the media that inbound messages name into storage, right away (Meta's download
URL lives 5 minutes), checked against Meta's SHA-256 and streamed in constant memory. Twilio states no SHA-256:
its media are hashed as they download (through a temporary file, so they too are stored by content).

A medium is claimed with a lease in one short transaction, fetched outside any transaction, and its result
recorded in another. Each try asks Meta for a fresh URL, so an expired one never stops a retry. Files are
content-addressed (``sha256/ab/cd/<hex>``): the same bytes are stored once and any number of media rows point at
them, and a file already stored is not downloaded again. The SHA-256 is checked while the bytes stream through;
on a mismatch the write is abandoned before the store commits it, so a tampered file is never visible.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.provider import base
from wahub.storage.base import READ_CHUNK, BlobStore, content_key
from wahub.store import counters, db, media
from wahub.store.crypto import Vault
from wahub.store.models import Media, utcnow
from wahub.worker import numbers, retry

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)  # a 100 MB document on a slow link must finish within it
BATCH = 8  # media fetched at once by one worker
MAX_BYTES = 100 * 1024 * 1024 + 1024 * 1024  # Meta's largest (documents, 100 MB), with a margin


@dataclass(frozen=True, slots=True)
class _Job:
    media_id: int
    provider_media_id: str
    sha256: str | None  # hex, from the webhook
    mime_type: str | None
    provider: base.Provider
    attempts: int
    source: str = "Meta"  # the provider, as reasons name it


class MediaFetcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        providers: base.Providers,
        vault: Vault,
        store: BlobStore,
        tally: counters.Tally | None = None,
    ) -> None:
        self._sessions = sessions
        self._tally = tally if tally is not None else counters.Tally()
        self._providers = providers
        self._vault = vault
        self._store = store

    async def run_once(self) -> int:
        """Claim and fetch one batch; returns how many media it took."""
        async with db.transaction(self._sessions) as session:
            claimed = await media.claim(session, BATCH, LEASE)
            jobs = [
                _Job(
                    item.id,
                    item.provider_media_id,
                    base.hex_sha256(item.sha256),
                    item.mime_type,
                    self._providers(numbers.provider_account(account, self._vault)),
                    item.attempts,
                    account.provider.capitalize(),
                )
                for item, account in claimed
            ]
        await asyncio.gather(*(self._fetch(job) for job in jobs))
        return len(jobs)

    async def _fetch(self, job: _Job) -> None:
        try:
            key, size, digest, mime, fetched = await self._download(job)
        except errors.MediaRejected as exc:
            log.warning("media rejected", extra={"media_id": job.media_id, "reason": exc.message})
            rejected = exc.message
            await self._record(job, lambda item: media.failed(item, rejected))
            self._counted("failed")
        except errors.ProviderError as exc:
            if exc.retryable:
                await self._later(job, exc, f"{job.source}: {exc.code or '-'}: {exc.message}")
            else:
                reason = f"{job.source} no longer gives this media ({exc.code or '-'}: {exc.message})"
                await self._record(job, lambda item: media.failed(item, reason))
                self._counted("failed")
        except errors.StorageError as exc:
            self._tally.count("wahub_storage_errors_total", {"operation": "store", "error": type(exc).__name__})
            await self._later(job, exc, f"storage: {exc.message}")
        except Exception as exc:
            log.exception("fetching media failed unexpectedly", extra={"media_id": job.media_id})
            await self._later(job, exc, "unexpected error (see the log)")
        else:
            await self._record(job, lambda item: media.stored(item, key, size, mime, digest))
            self._counted("stored")
            if fetched:
                self._tally.count("wahub_media_downloaded_bytes_total", amount=size)

    def _counted(self, result: str) -> None:
        self._tally.count("wahub_media_downloads_total", {"result": result})

    async def _download(self, job: _Job) -> tuple[str, int, str, str | None, bool]:
        """Store the medium's bytes unless stored already: (key, size, SHA-256, MIME type, downloaded)."""
        info = await job.provider.media_info(job.provider_media_id)
        expected = job.sha256 or info.sha256
        if info.file_size is not None and info.file_size > MAX_BYTES:
            raise errors.MediaRejected(f"{job.source} says the file is {info.file_size} bytes, over {MAX_BYTES}")
        mime = job.mime_type or info.mime_type
        if expected is None and not info.hashed:
            return await self._spooled(job, info, mime)
        if expected is None:
            raise errors.MediaRejected(f"{job.source} gave no SHA-256 for this media: it cannot be verified")
        key = content_key(expected)
        size = await self._store.size(key)
        if size is not None:
            return key, size, expected, mime, False  # the same bytes are stored already
        digest = hashlib.sha256()
        written = 0

        async def checked() -> AsyncIterator[bytes]:
            nonlocal written
            async for chunk in job.provider.download(info.url):
                written += len(chunk)
                if written > MAX_BYTES:
                    raise errors.MediaRejected(f"the download exceeded {MAX_BYTES} bytes")
                digest.update(chunk)
                yield chunk
            # Before the store commits the blob: a mismatch abandons the write.
            if digest.hexdigest() != expected:
                raise errors.MediaRejected(
                    f"SHA-256 mismatch: Meta said {expected}, the download is {digest.hexdigest()}"
                )
            if info.file_size is not None and written != info.file_size:
                raise errors.MediaRejected(f"size mismatch: Meta said {info.file_size} bytes, got {written}")

        await self._store.write(key, checked(), content_type=mime)
        return key, written, expected, mime, True

    async def _spooled(
        self, job: _Job, info: base.MediaInfo, mime: str | None
    ) -> tuple[str, int, str, str | None, bool]:
        """A medium whose provider states no SHA-256 (Twilio): downloaded once into a temporary file while it is
        hashed (the provider checks the length its server announced), then stored under its content's key
        unless those bytes are stored already. Constant memory; the temporary file goes when this returns."""
        digest = hashlib.sha256()
        written = 0
        with tempfile.TemporaryFile(prefix="wahub-media-") as spool:
            async for chunk in job.provider.download(info.url):
                written += len(chunk)
                if written > MAX_BYTES:
                    raise errors.MediaRejected(f"the download exceeded {MAX_BYTES} bytes")
                digest.update(chunk)
                spool.write(chunk)
            if written == 0:
                raise errors.MediaRejected(f"{job.source} served an empty file")
            sha = digest.hexdigest()
            key = content_key(sha)
            size = await self._store.size(key)
            if size is not None:
                return key, size, sha, mime, True
            spool.seek(0)

            async def chunks() -> AsyncIterator[bytes]:
                while data := spool.read(READ_CHUNK):
                    yield data

            await self._store.write(key, chunks(), content_type=mime)
        return key, written, sha, mime, True

    async def _later(self, job: _Job, exc: Exception, error: str) -> None:
        decision = retry.decide(exc, job.attempts, retry.MEDIA_FETCH, utcnow())
        if decision is None:
            await self._record(job, lambda item: media.failed(item, f"gave up after {job.attempts} tries: {error}"))
            self._counted("failed")
            return
        self._counted("retried")
        log.info("media fetch will be retried", extra={"media_id": job.media_id, "delay": round(decision.delay, 1)})
        await self._record(job, lambda item: media.retry_at(item, decision.when, error))

    async def _record(self, job: _Job, change: Callable[[Media], None]) -> None:
        async with db.transaction(self._sessions) as session:
            item = await media.get(session, job.media_id)
            if item is not None and item.state == media.FETCHING:
                change(item)
