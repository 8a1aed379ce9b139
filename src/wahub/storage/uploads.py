"""Files uploaded to wahub to send (``POST /api/v1/media``, ``wahub send --file``): checked against Meta's types
and size limits, hashed, and kept in storage under their content's SHA-256; ``store/media.register_upload`` then
registers one as media of an account."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from wahub import domain, errors
from wahub.storage.base import BlobStore, content_key

CHUNK = 256 * 1024


@dataclass(frozen=True, slots=True)
class Kept:
    sha256: str
    key: str
    size: int
    mime_type: str


async def keep(
    storage: BlobStore,
    read: Callable[[int], Awaitable[bytes]],
    rewind: Callable[[], Awaitable[object]],
    mime_type: str | None,
) -> Kept:
    """Check and store a file read by ``read(n)`` (twice: once to hash and measure it, ``rewind``, once to
    store it, unless the same bytes are stored already)."""
    mime = (mime_type or "").split(";")[0].strip().lower()
    if mime not in domain.MEDIA_TYPES:
        raise errors.InvalidInput(
            f"file: Meta does not take {mime or 'files without a type'!r}; "
            f"it takes {', '.join(sorted(domain.MEDIA_TYPES))}",
            field="file",
        )
    kinds, limit = domain.MEDIA_TYPES[mime]
    digest, size = hashlib.sha256(), 0
    while chunk := await read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if size > limit:
            raise errors.InvalidInput(
                f"file: a {mime} file ({'/'.join(sorted(kinds))}) may be at most {limit:,} bytes", field="file"
            )
    if size == 0:
        raise errors.InvalidInput("file: the file is empty", field="file")
    sha = digest.hexdigest()
    key = content_key(sha)
    if await storage.size(key) is None:
        await rewind()

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await read(CHUNK):
                yield chunk

        await storage.write(key, chunks(), content_type=mime)
    return Kept(sha, key, size, mime)


def kind_of(mime_type: str) -> str:
    """The message type a file of this MIME type is sent as by default."""
    kinds = domain.MEDIA_TYPES.get(mime_type, (frozenset({"document"}), 0))[0]
    for kind in ("image", "video", "audio", "sticker"):
        if kind in kinds:
            return kind
    return "document"
