"""Sending part of a spooled file (the SharePoint and Google Drive writers spool first: their upload sessions
need the total size) without holding that part in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import IO

from wahub.storage.base import READ_CHUNK


async def pieces(spool: IO[bytes], offset: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of ``spool`` from ``offset``, 256 KiB at a time, as an aiohttp request body (give it a
    ``Content-Length``): aiohttp sends each piece as the socket takes it, where a whole 8–10 MiB part handed over
    as bytes would sit in memory twice, as the bytes and in the transport's buffer."""
    spool.seek(offset)
    while length > 0 and (piece := spool.read(min(READ_CHUNK, length))):
        length -= len(piece)
        yield piece
