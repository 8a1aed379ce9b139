"""``/api/v1/media``: what wahub knows of a media file, and a short-lived signed link that streams it (with
byte ranges, for audio and video). The link needs no API key, so an ``<img src>`` or an ``<audio>`` in the
inbox can use it; it names one file and expires after ``LINK_TTL``."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.formparsers import MultiPartException

from wahub import domain, errors
from wahub.api import schemas, visibility
from wahub.api.deps import Ctx, Reader, ReadSession, Sender
from wahub.storage import remote, uploads
from wahub.store import accounts, db, media
from wahub.store.crypto import Vault
from wahub.store.models import Media

router = APIRouter(prefix="/api/v1/media", tags=["media"])

LINK_TTL = 300  # seconds
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
_POSITION_DIGITS = 18  # more digits than this: past the end of any file (and too long for int() to be cheap)
_INLINE = ("image/", "audio/", "video/")


def signed_path(ctx: Ctx, item: Media, now: float | None = None) -> str:
    return content_path(ctx.vault, item.id, LINK_TTL, now)


def content_path(vault: Vault, media_id: int, ttl: float, now: float | None = None) -> str:
    """The path of a link that streams the file for ``ttl`` seconds (to an inbox user, or to a provider that
    fetches the files it sends: ``runtime.py`` gives Twilio these, on ``WAHUB_PUBLIC_URL``)."""
    expires = int((now or time.time()) + ttl)
    signature = vault.sign(f"media:{media_id}:{expires}")
    return f"/api/v1/media/{media_id}/content?expires={expires}&sig={signature}"


# The upload's form, declared here because the route reads it itself, after the API key: FastAPI reads a form
# body before it runs any dependency, so a declared ``UploadFile`` would let anyone without a key stream a
# whole file (up to ``bodies.UPLOAD``) to a temporary file before the 401.
_UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "the file"},
        "type": {"type": "string", "description": "the file's MIME type, when its Content-Type is not it"},
        "from": {"type": "string", "description": "the account that will send it (phone_number_id or Twilio sender)"},
    },
}
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _UPLOAD_FORM}}}}
_MAX_FIELDS = 10


@router.post("", response_model=schemas.MediaOut, status_code=201, openapi_extra=_UPLOAD_BODY)
async def upload_media(request: Request, ctx: Ctx, _key: Sender) -> schemas.MediaOut:
    """Upload a file to send: it is checked against Meta's types and size limits and kept in wahub's storage;
    send it with ``{"type": "document", "document": {"wahub_media_id": <id>, "filename": "…"}}`` (or image,
    audio, video, sticker). The sender uploads it to Meta when it first sends it."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise errors.InvalidInput("Content-Type: send the file as multipart/form-data", field="Content-Type")
    try:
        form = await request.form(max_files=1, max_fields=_MAX_FIELDS)
    except MultiPartException as exc:
        raise errors.InvalidInput(f"body: the multipart form could not be read: {exc.message}", field="body") from exc
    try:
        file = form.get("file")
        if not isinstance(file, StarletteUpload):
            raise errors.InvalidInput("file: a file part named 'file' is required", field="file")
        mime_type, sender = _text_field(form, "type"), _text_field(form, "from")
        # A file declared as nothing or as octet-stream (curl's and browsers' unknown type) takes its name's type.
        declared = domain.media_type(mime_type or file.content_type, file.filename)
        kept = await uploads.keep(ctx.storage, file.read, lambda: file.seek(0), declared)
    finally:
        await form.close()
    async with db.transaction(ctx.sessions) as session:
        account = await accounts.default_sender(session, sender)
        item = await media.register_upload(session, account, kept, file.filename)
        return schemas.MediaOut.of(item, signed_path(ctx, item), LINK_TTL)


def _text_field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InvalidInput(f"{name}: a text field, not a file", field=name)
    return value


class FromUrl(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str = Field(min_length=8, max_length=2048, description="an http(s) URL of the file")
    filename: str | None = Field(default=None, min_length=1, max_length=255)
    sender: str | None = Field(
        default=None, alias="from", description="the account that will send it (phone_number_id or Twilio sender)"
    )


@router.post("/from-url", response_model=schemas.MediaOut, status_code=201)
async def media_from_url(body: FromUrl, ctx: Ctx, _key: Sender) -> schemas.MediaOut:
    """Fetch a file from a URL into wahub's storage, checked as an upload is, to send by ``wahub_media_id``:
    Meta then gets the file itself (uploaded by the sender), not a link it may fail to fetch (131053). Only
    public addresses are fetched unless ``WAHUB_ALLOW_PRIVATE_URLS`` is set; time and size are bounded."""
    fetched = await remote.fetch(body.url, allow_private=ctx.settings.allow_private_urls)
    with fetched.file as file:

        async def read(n: int) -> bytes:
            return file.read(n)

        async def rewind() -> int:
            return file.seek(0)

        kept = await uploads.keep(ctx.storage, read, rewind, fetched.mime_type)
    async with db.transaction(ctx.sessions) as session:
        account = await accounts.default_sender(session, body.sender)
        item = await media.register_upload(session, account, kept, body.filename or fetched.filename)
        return schemas.MediaOut.of(item, signed_path(ctx, item), LINK_TTL)


@router.get("/{media_id}", response_model=schemas.MediaOut)
async def get_media(media_id: schemas.Id, session: ReadSession, ctx: Ctx, principal: Reader) -> schemas.MediaOut:
    """A media file's state (``pending``, ``stored``, ``failed`` with the reason) and, once stored, a link
    that streams it for the next five minutes."""
    await visibility.check_media(session, principal, media_id)
    item = await media.get(session, media_id)
    if item is None:
        raise errors.NotFound(f"media {media_id} does not exist")
    link = signed_path(ctx, item) if item.state == media.STORED else None
    return schemas.MediaOut.of(item, link, LINK_TTL if link else None)


_FILE = {"*/*": {"schema": {"type": "string", "format": "binary"}}}


@router.get(
    "/{media_id}/content",
    response_class=StreamingResponse,
    responses={
        200: {"description": "the file, as its own type", "content": _FILE},
        206: {"description": "the byte range asked for with 'Range: bytes=a-b'", "content": _FILE},
        401: {"description": "the link is not valid or has expired: GET /api/v1/media/{id} gives a new one"},
        416: {"description": "the byte range is outside the file, or not one 'bytes=a-b' range"},
    },
)
async def media_content(
    media_id: schemas.Id,
    request: Request,
    session: ReadSession,
    ctx: Ctx,
    expires: Annotated[int, Query()],
    sig: Annotated[str, Query(max_length=100)],
) -> StreamingResponse:
    """The file's bytes, through a link from ``GET /api/v1/media/{id}``; ``Range: bytes=a-b`` gives part."""
    if expires < time.time() or not ctx.vault.verify(f"media:{media_id}:{expires}", sig):
        raise errors.Unauthorized("this media link is invalid or has expired; ask GET /api/v1/media/{id} for a new one")
    item = await media.get(session, media_id)
    if item is None or item.state != media.STORED or item.storage_key is None or item.size is None:
        raise errors.NotFound(f"media {media_id} is not stored")
    size = item.size
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=300",
        "Content-Disposition": _disposition(item),
    }
    start, end, status = 0, size, 200
    if (wanted := request.headers.get("range")) is not None:
        start, end = _byte_range(wanted, size)
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    headers["Content-Length"] = str(end - start)
    chunks = ctx.storage.read(item.storage_key, start, end)
    first = await anext(chunks, b"")  # a storage failure answers an error now, not a broken 200

    async def body() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(
        body(), status_code=status, media_type=item.mime_type or "application/octet-stream", headers=headers
    )


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """[start, end) for one ``bytes=`` range (RFC 9110 §14.1.2); several ranges are not served."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise errors.RangeNotSatisfiable(f"only one 'bytes=start-end' range is served, got {header!r}")
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - _position(last)), size
    else:
        start = _position(first)
        end = size if last == "" else min(size, _position(last) + 1)
    if start >= size or start >= end:
        raise errors.RangeNotSatisfiable(f"range {header!r} is outside the file's {size} bytes")
    return start, end


def _position(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _POSITION_DIGITS else sys.maxsize


def _disposition(item: Media) -> str:
    kind = "inline" if (item.mime_type or "").startswith(_INLINE) else "attachment"
    name = item.filename or f"media-{item.id}"
    return f"{kind}; filename*=UTF-8''{quote(name)}"
