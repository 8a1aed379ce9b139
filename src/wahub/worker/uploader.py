"""Files uploaded to wahub, uploaded again to a provider before a message names them.

The provider's id for an upload is kept on the media row (``media.uploaded``) while the provider keeps the file
(``Provider.keeps_uploads``), so a file sent many times is uploaded once; sends of one file claimed together
share one upload. A provider that lost a file earlier than it said (``errors.UploadLost``) gets it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.provider import base
from wahub.storage.base import BlobStore
from wahub.store import db, media
from wahub.store.models import utcnow

log = logging.getLogger(__name__)


class Uploader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], storage: BlobStore | None) -> None:
        self._sessions = sessions
        self._storage = storage
        self._uploads: dict[int, asyncio.Future[str]] = {}  # files being uploaded, by wahub media id

    async def with_upload(self, provider: base.Provider, message: base.Outbound) -> tuple[base.Outbound, bool]:
        """The message with the provider's id for its file (``upload_id``), uploading the file first unless the
        provider has it from an upload it still keeps; and whether it was uploaded just now."""
        media_id = message.wahub_media_id
        if media_id is None or not provider.uploads_files:  # Twilio fetches the file from a link of ours
            return message, False
        async with db.transaction(self._sessions) as session:
            item = await media.get(session, media_id)
            if item is None or item.storage_key is None:
                raise errors.PermanentProviderError(f"the uploaded file {media_id} is gone from wahub")
            recent = item.uploaded_at is not None and item.uploaded_at > utcnow() - provider.keeps_uploads
            upload_id, key = (item.upload_id if recent else None), item.storage_key
            mime, filename = item.mime_type or "application/octet-stream", item.filename or f"media-{item.id}"
        fresh = upload_id is None
        if upload_id is None:
            # Sends of one file claimed together share one upload: the first uploads, the others wait for it.
            uploading = self._uploads.get(media_id)
            if uploading is not None:
                upload_id = await asyncio.shield(uploading)
            else:
                uploading = self._uploads[media_id] = asyncio.get_running_loop().create_future()
                uploading.add_done_callback(_retrieved)
                try:
                    upload_id = await self._upload(provider, media_id, key, mime, filename)
                    uploading.set_result(upload_id)
                except BaseException as exc:
                    uploading.set_exception(exc if isinstance(exc, Exception) else errors.StorageError("stopped"))
                    raise
                finally:
                    del self._uploads[media_id]
        return dataclasses.replace(message, upload_id=upload_id), fresh

    async def forget(self, message: base.Outbound) -> None:
        """The provider no longer has the file it took earlier (deleted, expired, or a sandbox that restarted):
        forget its id for it, so that the next send uploads the file anew."""
        media_id, stale = message.wahub_media_id, message.upload_id
        log.info("the provider no longer has an uploaded file; uploading it again", extra={"media_id": media_id})
        if media_id is None:
            return
        async with db.transaction(self._sessions) as session:
            item = await media.get(session, media_id)
            if item is not None and item.upload_id == stale:  # another send may have uploaded it again already
                media.upload_lost(item)

    async def _upload(self, provider: base.Provider, media_id: int, key: str, mime: str, filename: str) -> str:
        """Upload a stored file to the provider and remember its id for it; returns the id."""
        if self._storage is None:
            raise errors.StorageError("this sender has no media storage to upload from")
        if await self._storage.size(key) is None:
            raise errors.PermanentProviderError(f"the uploaded file {media_id} is gone from the storage")
        reading = _Reading(self._storage.read(key))
        try:
            upload_id = await provider.upload(reading.chunks(), mime, filename)
        except errors.ProviderError as exc:
            # The storage failing mid-stream reaches us as a broken upload: say what really broke.
            if reading.failure is not None:
                raise reading.failure from exc
            raise
        async with db.transaction(self._sessions) as session:
            item = await media.get(session, media_id)
            if item is not None:
                media.uploaded(item, upload_id)
        return upload_id


class _Reading:
    """A stored file streamed into an upload, keeping the storage's own error: the HTTP client turns a body that
    fails mid-stream into a connection error of its own."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self._source = source
        self.failure: errors.StorageError | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._source:
                yield chunk
        except errors.StorageError as exc:
            self.failure = exc
            raise


def _retrieved(future: asyncio.Future[str]) -> None:
    """An upload's failure reaches each send that waited for it; with none waiting, asyncio must not warn."""
    if not future.cancelled():
        future.exception()
