"""Backends through Apache OpenDAL (SPEC.md §10): a local folder, S3-compatible, GCS, Azure Blob, OneDrive and
memory, from one ``WAHUB_STORAGE_URL`` (Google Drive has its own client, ``gdrive.py``).

URLs (options in the query string are passed to the backend; credentials may also come from the backend's
usual environment, e.g. ``AWS_ACCESS_KEY_ID`` for S3):

- ``file:///var/lib/wahub/media``                        a local folder (the default: ``<data dir>/media``)
- ``s3://bucket/prefix?endpoint=https://…&region=…``     any S3-compatible store
- ``gs://bucket/prefix?credential_path=/etc/gcs.json``   Google Cloud Storage
- ``azblob://container/prefix?account_name=…&endpoint=…`` Azure Blob Storage
- ``onedrive://folder/path?access_token=…``              OneDrive (personal)
- ``memory://``                                          in this process only, for tests
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import opendal
import opendal.exceptions

from wahub import errors
from wahub.storage.base import READ_CHUNK

# Our scheme -> OpenDAL's service name and the option the URL's host fills.
_SERVICES: dict[str, tuple[str, str | None]] = {
    "file": ("fs", None),
    "s3": ("s3", "bucket"),
    "gs": ("gcs", "bucket"),
    "azblob": ("azblob", "container"),
    "onedrive": ("onedrive", None),
    "memory": ("memory", None),
}
# Query options that hold secrets: never shown in the label.
_SECRET_OPTIONS = {"access_token", "secret_access_key", "account_key", "credential", "refresh_token", "client_secret"}
# OpenDAL's exception classes do not share a base class (``exceptions.Error`` is one of them, not their
# parent), and its file objects raise OSError.
_FAILURES: tuple[type[Exception], ...] = (
    *(c for c in vars(opendal.exceptions).values() if isinstance(c, type) and issubclass(c, Exception)),
    OSError,
)
PARTIAL_DIR = ".partial"  # where a local folder keeps files being written, until they are renamed into place


class OpenDALStore:
    """A ``BlobStore`` on an OpenDAL operator."""

    def __init__(self, operator: opendal.AsyncOperator, label: str) -> None:
        self._op = operator
        self.label = label

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str | None = None) -> int:
        written = 0
        options: dict[str, Any] = {"content_type": content_type} if content_type else {}
        try:
            file = await self._op.open(_path(key), "wb", **options)
        except _FAILURES as exc:
            raise _storage_error("open for writing", key, exc) from exc
        try:
            async for chunk in chunks:
                if chunk:
                    await file.write(chunk)
                    written += len(chunk)
        except BaseException:
            # Not closed: the backend never commits the blob (the folder's partial file, the multipart upload
            # and the memory buffer are dropped with the writer).
            del file
            raise
        try:
            await file.close()
        except _FAILURES as exc:
            raise _storage_error("finish writing", key, exc) from exc
        return written

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise errors.InvalidInput(f"bad byte range {start}-{end}")
        if await self.size(key) is None:
            raise errors.NotFound(f"no stored media at {key}")
        try:
            file = await self._op.open(_path(key), "rb")
        except _FAILURES as exc:
            raise _storage_error("open for reading", key, exc) from exc
        try:
            if start:
                await file.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                want = READ_CHUNK if left is None else min(READ_CHUNK, left)
                try:
                    chunk = await file.read(want)
                except _FAILURES as exc:
                    raise _storage_error("read", key, exc) from exc
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield bytes(chunk)
        finally:
            await file.close()

    async def size(self, key: str) -> int | None:
        try:
            meta = await self._op.stat(_path(key))
        except opendal.exceptions.NotFound:
            return None
        except _FAILURES as exc:
            raise _storage_error("look up", key, exc) from exc
        return int(meta.content_length)

    async def delete(self, key: str) -> None:
        try:
            await self._op.delete(_path(key))
        except opendal.exceptions.NotFound:
            return
        except _FAILURES as exc:
            raise _storage_error("delete", key, exc) from exc

    async def check(self) -> None:
        try:
            await self._op.check()
        except _FAILURES as exc:
            raise errors.StorageError(f"{self.label} cannot be used: {_reason(exc)}") from exc


def from_url(url: str) -> OpenDALStore:
    """The store ``url`` names; ``errors.InvalidInput`` names what is wrong with a URL that cannot work."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in _SERVICES:
        raise errors.InvalidInput(f"storage URL scheme must be one of {', '.join(_SERVICES)}, got {scheme!r}")
    service, host_option = _SERVICES[scheme]
    options: dict[str, Any] = dict(parse_qsl(parts.query))
    path = parts.path
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise errors.InvalidInput("a file:// storage URL names a local folder: file:///absolute/path")
        if not path.startswith("/"):
            raise errors.InvalidInput("a file:// storage URL needs an absolute path: file:///absolute/path")
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        options.update(root=str(root), atomic_write_dir=str(root / PARTIAL_DIR))
    elif host_option is not None:
        if not parts.netloc:
            raise errors.InvalidInput(
                f"a {scheme}:// storage URL names its {host_option}: {scheme}://{host_option}/prefix"
            )
        options[host_option] = parts.netloc
        options["root"] = path or "/"
    elif scheme == "onedrive":
        options["root"] = "/" + (parts.netloc + path).strip("/")
    if scheme == "s3":
        options.setdefault(
            "region", os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        )
    try:
        operator = opendal.AsyncOperator(service, **options)
    except _FAILURES as exc:
        raise errors.InvalidInput(f"storage URL {label_of(url)}: {_reason(exc)}") from exc
    return OpenDALStore(operator, label_of(url))


def label_of(url: str) -> str:
    """The URL without its secret options."""
    parts = urlsplit(url)
    shown = [f"{k}={'***' if k in _SECRET_OPTIONS else v}" for k, v in parse_qsl(parts.query)]
    query = ("?" + "&".join(shown)) if shown else ""
    return f"{parts.scheme}://{parts.netloc}{parts.path}{query}"


def _path(key: str) -> str:
    clean = key.strip("/")
    if not clean or ".." in clean.split("/") or clean.startswith(PARTIAL_DIR):
        raise errors.InvalidInput(f"bad storage key {key!r}")
    return clean


def _reason(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _storage_error(doing: str, key: str, exc: Exception) -> errors.StorageError:
    return errors.StorageError(f"could not {doing} {key}: {_reason(exc)}")
