"""The interface every media storage backend offers, and that one contract test suite checks for each.

Keys are relative paths (``sha256/ab/cd/abcd…``). A blob becomes visible only once completely written: a
reader never sees half a file, whatever the backend (a local folder writes aside and renames, S3 completes a
multipart upload, memory stores on close). Reads stream in chunks and take a byte range, for audio and video.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Protocol

READ_CHUNK = 256 * 1024


def content_key(sha256_hex: str) -> str:
    """Where bytes with this SHA-256 are kept: the same bytes are stored once."""
    return f"sha256/{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"


class BlobStore(Protocol):
    """A place to keep media files."""

    #: what the backend is, without secrets, for ``/readyz`` and logs (``s3://bucket/prefix``)
    label: str

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str | None = None) -> int:
        """Stream ``chunks`` into ``key`` (replacing what was there); returns the bytes written. The blob is
        visible only once this returns; if ``chunks`` raises, nothing is left behind under ``key``."""
        ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of ``key`` from ``start`` up to ``end`` (exclusive; None: to the end), in chunks.
        Raises ``errors.NotFound`` if there is no such blob."""
        ...

    async def size(self, key: str) -> int | None:
        """The blob's size in bytes, or None if there is no such blob."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; removing one that is not there is not an error."""
        ...

    async def check(self) -> None:
        """Raise ``errors.StorageError`` if the backend cannot be reached or used now."""
        ...
