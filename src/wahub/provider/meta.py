"""Meta's Cloud API as a ``Provider``: the send body, the media ids, and what Meta's answers mean, over the
Graph client (``provider/graph.py``, which translates Meta's error codes into ``errors.py`` classes).

Send reference: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
Media reference: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from wahub import errors
from wahub.provider import base
from wahub.provider.graph import GraphClient

KEEPS_UPLOADS = timedelta(days=29)  # Meta keeps an uploaded file 30 days; a day's margin
INVALID_PARAMETER = 100  # also Meta's answer to a media id it does not have


class Meta:
    """One account's number on Meta's Cloud API."""

    keeps_uploads = KEEPS_UPLOADS
    uploads_files = True

    def __init__(self, graph: GraphClient, account: base.Account) -> None:
        self._graph = graph
        self._number = account.number
        self._token = account.token

    async def send(self, message: base.Outbound) -> base.Sent:
        try:
            result = await self._graph.send_message(self._number, self._token, build_payload(message))
        except errors.ProviderError as exc:
            if message.upload_id is not None and _lost_the_file(exc, message.type):
                raise errors.UploadLost(
                    exc.message,
                    code=exc.code,
                    subcode=exc.subcode,
                    title=exc.title,
                    details_text=exc.details_text,
                    transient=exc.retryable,
                ) from exc
            raise
        return base.Sent(result.wamid)

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        await self._graph.mark_read(self._number, self._token, message_id, typing=typing)

    async def upload(self, chunks: AsyncIterator[bytes], mime_type: str, filename: str) -> str:
        return await self._graph.upload_media(self._number, self._token, chunks, mime_type, filename)

    async def media_info(self, media_id: str) -> base.MediaInfo:
        return await self._graph.media_info(media_id, self._token)

    def download(self, url: str) -> AsyncIterator[bytes]:
        return self._graph.download(url, self._token)

    async def check_account(self) -> dict[str, Any]:
        return {"phone_number_id": self._number, **await self._graph.phone_number(self._number, self._token)}


def providers(graph: GraphClient) -> base.Providers:
    """Meta providers for accounts, sharing one Graph client."""
    return lambda account: Meta(graph, account)


def build_payload(message: base.Outbound) -> dict[str, Any]:
    """Meta's send body for a message: the stored content is already in Meta's shape, except that a file uploaded
    to wahub (``wahub_media_id``) is named by Meta's id for its upload."""
    payload: dict[str, Any]
    to = message.recipient
    if to.group_id:
        payload = {"recipient_type": "group", "to": to.group_id, "type": message.type}
    elif to.wa_id:
        payload = {"recipient_type": "individual", "to": to.wa_id, "type": message.type}
    else:
        payload = {"recipient_type": "individual", "recipient": to.user_id, "type": message.type}
    payload.update(message.content)
    if message.reply_to:
        payload["context"] = {"message_id": message.reply_to}
    if message.reference and "biz_opaque_callback_data" not in payload:
        # Meta gives it back in every status of the message: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
        payload["biz_opaque_callback_data"] = message.reference
    if message.wahub_media_id is not None:
        if message.upload_id is None:
            raise errors.PermanentProviderError(f"the file {message.wahub_media_id} was not uploaded to Meta")
        obj = dict(payload[message.type])
        del obj["wahub_media_id"]
        obj["id"] = message.upload_id
        payload[message.type] = obj
    return payload


def _lost_the_file(exc: errors.ProviderError, kind: str) -> bool:
    """Meta's answer to a media id it does not have: code 100, "Param document['id'] is not a valid whatsapp
    business account media attachment ID"."""
    return exc.code == INVALID_PARAMETER and f"{kind}['id']" in f"{exc.message} {exc.details_text or ''}"
