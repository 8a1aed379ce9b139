"""Google's resumable upload protocol, from an open session on: chunks of a multiple of 256 KiB (but the last),
each answered ``308 Resume Incomplete`` with the ``Range`` Google kept (which may be less than was sent), the last
with ``200``/``201`` and the file; after a 5xx or a cut connection, ``Content-Range: bytes */total`` asks how much
arrived and the upload goes on from there.
https://developers.google.com/drive/api/guides/manage-uploads#resumable
"""

from __future__ import annotations

import json
import re
from typing import IO

import aiohttp

from wahub import errors
from wahub.storage import spooled

CHUNK = 32 * 256 * 1024  # 8 MiB: chunks must be multiples of 256 KiB, but the last
RESUMES = 3  # times one upload goes on after a 5xx or a cut connection


async def upload(http: aiohttp.ClientSession, session: str, spool: IO[bytes], total: int) -> None:
    """Send the spool's ``total`` bytes to the upload ``session`` (its URL carries its own authorization)."""
    offset, resumes = 0, 0
    while True:
        length = min(CHUNK, total - offset)
        last = offset + length >= total
        span = f"{offset}-{offset + length - 1}" if length else "*"
        headers = {"Content-Range": f"bytes {span}/{total}", "Content-Length": str(length)}
        try:
            body = spooled.pieces(spool, offset, length)
            async with http.put(session, data=body, headers=headers, allow_redirects=False) as response:
                status, persisted, text = response.status, response.headers.get("Range"), await response.text()
        except (aiohttp.ClientError, TimeoutError):
            status, persisted, text = 0, None, ""
        if status in (200, 201):
            if not last:
                raise errors.StorageError("Google Drive finished the upload before the last chunk")
            return
        if status == 308:  # Resume Incomplete: go on from what Google kept, which may be less than was sent
            moved, offset = offset, _kept(persisted, total)
            if offset > moved:
                continue
        elif status and status < 500:
            raise failure(status, text, "upload a chunk")
        resumes += 1  # a 5xx, a cut connection, or a chunk Google did not keep any of
        if resumes > RESUMES:
            raise errors.StorageError(f"Google Drive upload interrupted {resumes} times (last: {status or 'cut'})")
        if status != 308:
            where = await _where(http, session, total)
            if where is None:
                return
            offset = where


async def _where(http: aiohttp.ClientSession, session: str, total: int) -> int | None:
    """How much of an interrupted upload Google kept (None: all of it, the file exists)."""
    headers = {"Content-Range": f"bytes */{total}"}
    try:
        async with http.put(session, data=b"", headers=headers, allow_redirects=False) as response:
            if response.status in (200, 201):
                return None
            if response.status == 308:
                return _kept(response.headers.get("Range"), total)
            raise failure(response.status, await response.text(), "ask how much of an upload arrived")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise errors.StorageError(f"Google Drive unreachable while uploading: {type(exc).__name__}") from exc


def _kept(persisted: str | None, total: int) -> int:
    """The next offset from a 308's ``Range: bytes=0-N`` (no header: nothing kept)."""
    match = re.fullmatch(r"bytes=0-(\d+)", persisted or "")
    if persisted is not None and (match is None or int(match.group(1)) >= total):
        raise errors.StorageError(f"Google Drive sent a bad Range {persisted!r}")
    return 0 if match is None else int(match.group(1)) + 1


def failure(status: int, text: str, doing: str) -> errors.StorageError:
    """Google's reason (``error.message`` and ``errors[0].reason`` of its JSON) in a ``StorageError``."""
    reason = text[:200]
    try:
        error = json.loads(text)["error"]
        details = error.get("errors") or [{}]
        reason = f"{error.get('message')} ({details[0].get('reason') or error.get('status')})"
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return errors.StorageError(f"Google Drive answered {status} to {doing}: {reason}")
