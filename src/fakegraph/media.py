"""Media: upload (`POST /{phone_number_id}/media`), retrieve URL (`GET /{media_id}`), delete, download.

https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
Meta's retrieve answer carries `sha256` as hex; inbound webhooks carry it base64-encoded.
Download URLs mimic lookaside.fbsbx.com: signed, valid 5 minutes, bearer token required.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import time
import zlib

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fakegraph import errors, faults, ids
from fakegraph.graph import GraphGate
from fakegraph.state import FakeState, MediaItem

MB = 1024 * 1024
# Supported MIME types and size limits from Meta's media reference.
LIMITS: dict[str, tuple[str, int]] = {
    "audio/aac": ("audio", 16 * MB),
    "audio/amr": ("audio", 16 * MB),
    "audio/mpeg": ("audio", 16 * MB),
    "audio/mp4": ("audio", 16 * MB),
    "audio/ogg": ("audio", 16 * MB),
    "text/plain": ("document", 100 * MB),
    "application/pdf": ("document", 100 * MB),
    "application/msword": ("document", 100 * MB),
    "application/vnd.ms-excel": ("document", 100 * MB),
    "application/vnd.ms-powerpoint": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("document", 100 * MB),
    "image/jpeg": ("image", 5 * MB),
    "image/png": ("image", 5 * MB),
    "image/webp": ("sticker", 500 * 1024),
    "video/3gpp": ("video", 16 * MB),
    "video/mp4": ("video", 16 * MB),
}
URL_TTL_S = 300
DOWNLOAD_PATH = "/whatsapp_business/attachments/"


def store(state: FakeState, data: bytes, mime_type: str, filename: str | None = None) -> MediaItem:
    """Keep `data` as a media object and return it (used by uploads and simulated inbound media)."""
    item = MediaItem(
        id=ids.new_media_id(),
        data=data,
        mime_type=mime_type,
        sha256=hashlib.sha256(data).hexdigest(),
        filename=filename,
        created_at=time.time(),
    )
    state.media[item.id] = item
    return item


def sample_png(rgb: tuple[int, int, int] = (37, 211, 102), size: int = 16) -> bytes:
    """A small solid-colour PNG, so simulated contacts can send real image bytes."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


class MediaEndpoints:
    """The media endpoints of one app; `url_key` signs download URLs."""

    def __init__(self, state: FakeState, gate: GraphGate) -> None:
        self.state = state
        self.gate = gate
        self.url_key = secrets.token_bytes(16)

    def base_url(self, request: Request) -> str:
        """Where clients reach fakegraph: the configured public URL or the request's own base."""
        return (self.state.config.public_url or str(request.base_url)).rstrip("/")

    def download_url(self, request: Request, item: MediaItem) -> str:
        """A signed URL for `item`, valid for five minutes."""
        expires = ids.unix_now() + URL_TTL_S
        digest = self._digest(item.id, expires)
        return f"{self.base_url(request)}{DOWNLOAD_PATH}?mid={item.id}&ext={expires}&hash={digest}"

    def _digest(self, media_id: str, expires: int) -> str:
        return hmac.new(self.url_key, f"{media_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    async def upload(self, request: Request) -> Response:
        """`POST /{phone_number_id}/media` (multipart: file, type, messaging_product) -> `{"id": ...}`."""
        phone_number_id = request.path_params["object_id"]
        if phone_number_id != self.state.config.phone_number_id:
            raise errors.unknown_object(phone_number_id, "post")
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise errors.missing_parameter("file")
        async with request.form(max_files=1) as form:
            product, mime_field, upload = form.get("messaging_product"), form.get("type"), form.get("file")
            summary: dict[str, object] = {"messaging_product": product, "type": mime_field}
            request.state.log_body = summary
            if product is None:
                raise errors.missing_parameter("messaging_product")
            if product != "whatsapp":
                raise errors.invalid_parameter(
                    f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".'
                )
            if not isinstance(upload, UploadFile):
                raise errors.missing_parameter("file")
            data = await upload.read()
            mime = (mime_field if isinstance(mime_field, str) and mime_field else upload.content_type) or ""
            mime = mime.split(";")[0].strip().lower()
            summary.update(
                {"file": {"filename": upload.filename, "content_type": upload.content_type, "size": len(data)}}
            )
            if mime not in LIMITS:
                allowed = ", ".join(sorted(LIMITS))
                raise errors.GraphError(
                    131053,
                    details="Param file must be a file with one of the following "
                    f"types: {allowed}. Received file of type '{mime}'.",
                )
            kind, limit = LIMITS[mime]
            if len(data) > limit:
                raise errors.GraphError(
                    131053, details=f"{kind} file size must be at most {limit} bytes, got {len(data)}."
                )
            item = store(self.state, data, mime, upload.filename)
            if faults.roll(self.state.rng, self.state.faults.forget_uploads):
                del self.state.media[item.id]
        return JSONResponse({"id": item.id})

    def _owned(self, request: Request, method: str) -> MediaItem:
        media_id = request.path_params["object_id"]
        item = self.state.media.get(media_id)
        owner = request.query_params.get("phone_number_id")
        if item is None or (owner is not None and owner != self.state.config.phone_number_id):
            raise errors.unknown_object(media_id, method)
        return item

    async def retrieve(self, request: Request) -> Response:
        """`GET /{media_id}` -> url, mime_type, sha256 (hex), file_size, id."""
        item = self._owned(request, "get")
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "url": self.download_url(request, item),
                "mime_type": item.mime_type,
                "sha256": item.sha256,
                "file_size": len(item.data),
                "id": item.id,
            }
        )

    async def delete(self, request: Request) -> Response:
        """`DELETE /{media_id}` -> `{"success": true}`."""
        item = self._owned(request, "delete")
        del self.state.media[item.id]
        return JSONResponse({"success": True})

    async def download(self, request: Request) -> Response:
        """The bytes behind a URL from `retrieve`, only with the bearer token and before it expires."""
        query = request.query_params
        media_id, expires_raw, digest = query.get("mid", ""), query.get("ext", ""), query.get("hash", "")
        expires = int(expires_raw) if expires_raw.isdigit() else 0
        valid = hmac.compare_digest(digest, self._digest(media_id, expires))
        item = self.state.media.get(media_id)
        if not valid or item is None or expires < ids.unix_now():
            raise errors.GraphError(
                100, "(#100) The media URL is invalid or has expired", details="", subcode=33, http_status=404
            )
        # Header values must be latin-1; keep the filename to ASCII rather than fail the download.
        filename = (item.filename or item.id).encode("ascii", "ignore").decode() or item.id
        return Response(
            item.data, media_type=item.mime_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
