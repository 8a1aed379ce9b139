"""Meta Cloud API client: a thin layer over an injected aiohttp session and a base URL from settings, which
translates Meta's error codes into the classes of ``errors.py`` (``error_for``). ``provider/meta.py`` makes it
a ``Provider``.

Send reference: https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages
Error reference: https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from wahub import domain, errors
from wahub.provider.base import MediaInfo, hex_sha256
from wahub.provider.graph_groups import GroupCalls


@dataclass(frozen=True, slots=True)
class SendResult:
    wamid: str
    wa_id: str | None


@dataclass(frozen=True, slots=True)
class ExchangedToken:
    """A long-lived token from ``exchange_token`` and when it expires (None: Meta gave no lifetime)."""

    access_token: str
    expires_at: datetime | None


class GraphClient(GroupCalls):
    """Calls the Graph API. One per process; the aiohttp session is owned by the caller."""

    template_page = 100  # templates asked for per page of GET /{waba_id}/message_templates

    def __init__(self, session: aiohttp.ClientSession, base_url: str, version: str, timeout: float = 30.0) -> None:
        self._session = session
        self._base = f"{base_url.rstrip('/')}/{version}"
        # Waiting for a connection (the pool's queue, then connecting) and waiting for the answer are bounded
        # apart: only a request that was written can have reached Meta, so only the second kind of timeout
        # leaves the outcome unknown (a possible duplicate on retry); the first is a plain transient failure.
        self._seconds = timeout
        self._timeout = aiohttp.ClientTimeout(total=2 * timeout, connect=timeout, sock_read=timeout)

    async def send_message(self, phone_number_id: str, token: str, payload: dict[str, Any]) -> SendResult:
        """POST /{phone_number_id}/messages; returns Meta's wamid or raises a ProviderError."""
        body = {"messaging_product": "whatsapp", **payload}
        data = await self._call("POST", f"/{phone_number_id}/messages", token, json_body=body)
        try:
            wamid = str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise errors.TransientProviderError("Graph API answered without a message id") from exc
        contacts = data.get("contacts") or [{}]
        wa_id = contacts[0].get("wa_id") if isinstance(contacts[0], dict) else None
        return SendResult(wamid=wamid, wa_id=wa_id)

    async def mark_read(self, phone_number_id: str, token: str, wamid: str, *, typing: bool = False) -> None:
        """Mark an inbound message read (the customer sees blue ticks), optionally showing a typing indicator
        until the next message or for about 25 seconds."""
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
        if typing:
            body["typing_indicator"] = {"type": "text"}
        data = await self._call("POST", f"/{phone_number_id}/messages", token, json_body=body)
        if data.get("success") is not True:
            raise errors.TransientProviderError("Graph API did not confirm the read receipt")

    async def phone_number(self, phone_number_id: str, token: str) -> dict[str, Any]:
        """GET /{phone_number_id}: the number as Meta knows it (display number, verified name, quality rating,
        throughput tier). Proves the token can act for the number; raises a ProviderError otherwise."""
        fields = "display_phone_number,verified_name,quality_rating,throughput"
        return await self._call("GET", f"/{phone_number_id}?fields={fields}", token)

    async def smb_app_data(self, phone_number_id: str, token: str, sync_type: str) -> str | None:
        """POST /{phone_number_id}/smb_app_data: ask Meta to share a coexistence number's WhatsApp Business app
        data, ``sync_type`` ``history`` (past chats, as ``history`` webhooks) or ``smb_app_state_sync`` (its
        contacts, as ``smb_app_state_sync`` webhooks). Meta allows each once per onboarding. Returns Meta's
        ``request_id``. https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-business-app-users"""
        body = {"messaging_product": "whatsapp", "sync_type": sync_type}
        data = await self._call("POST", f"/{phone_number_id}/smb_app_data", token, json_body=body)
        request_id = data.get("request_id")
        return str(request_id)[:128] if isinstance(request_id, str | int) and request_id != "" else None

    async def media_info(self, media_id: str, token: str) -> MediaInfo:
        """GET /{media_id}: the file's download URL (it works for 5 minutes, with the bearer token) and what Meta
        knows of it. https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#retrieve-media-url"""
        data = await self._call("GET", f"/{media_id}", token)
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise errors.TransientProviderError("Graph API answered without a media URL")
        size = data.get("file_size")
        return MediaInfo(
            url=url,
            mime_type=data.get("mime_type") if isinstance(data.get("mime_type"), str) else None,
            sha256=hex_sha256(data.get("sha256")) if isinstance(data.get("sha256"), str) else None,
            file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        )

    async def download(self, url: str, token: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """Stream the bytes behind a media URL (bearer token required). A URL that has expired answers with a
        ProviderError; ask ``media_info`` for a new one."""
        headers = {"Authorization": f"Bearer {token}"}
        timeout = aiohttp.ClientTimeout(total=None, connect=self._seconds, sock_read=self._seconds)
        try:
            async with self._session.get(url, headers=headers, timeout=timeout) as response:
                if response.status >= 400:
                    raise _error(response.status, _json(await response.read()))
                async for chunk in response.content.iter_chunked(chunk_size):
                    yield chunk
        except TimeoutError as exc:
            raise errors.TransientProviderError("media download timed out") from exc
        except aiohttp.ClientError as exc:
            raise errors.TransientProviderError(f"media download failed: {type(exc).__name__}") from exc

    async def upload_media(
        self, phone_number_id: str, token: str, chunks: AsyncIterator[bytes], mime_type: str, filename: str
    ) -> str:
        """POST /{phone_number_id}/media (multipart, streamed): returns Meta's media id, good for 30 days.
        https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#upload-media"""
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", chunks, filename=filename, content_type=mime_type)
        data = await self._call("POST", f"/{phone_number_id}/media", token, form=form)
        media_id = data.get("id")
        if not isinstance(media_id, str | int) or not str(media_id):
            raise errors.TransientProviderError("Graph API answered the upload without a media id")
        return str(media_id)

    async def templates(self, waba_id: str, token: str) -> list[dict[str, Any]]:
        """GET /{waba_id}/message_templates, every page (following ``paging.next``): Meta's template objects.
        https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates/"""
        page_size = self.template_page
        fields = "name,language,status,category,components,quality_score,rejected_reason,parameter_format,id"
        path: str | None = f"/{waba_id}/message_templates?fields={fields}&limit={page_size}"
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        while path is not None:
            data = await self._call("GET", path, token)
            items = data.get("data")
            if not isinstance(items, list):
                raise errors.TransientProviderError("Graph API answered the template list without data")
            found.extend(item for item in items if isinstance(item, dict))
            paging: dict[str, Any] = data["paging"] if isinstance(data.get("paging"), dict) else {}
            after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
            # The next page by our own base and the cursor (``next`` names Meta's host, not a configured one).
            cursor = urllib.parse.quote(str(after), safe="")
            path = f"/{waba_id}/message_templates?fields={fields}&limit={page_size}&after={cursor}" if after else None
            if after in seen:
                raise errors.TransientProviderError("Graph API's template paging went round in a circle")
            seen.add(str(after))
        return found

    async def create_template(self, waba_id: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /{waba_id}/message_templates: Meta's answer (``id``, ``status``, ``category``)."""
        return await self._call("POST", f"/{waba_id}/message_templates", token, json_body=body)

    async def delete_template(self, waba_id: str, token: str, name: str, hsm_id: str | None = None) -> None:
        """DELETE /{waba_id}/message_templates?name=…: every language of ``name``, or (with ``hsm_id``, the
        template's id) that one only."""
        query = urllib.parse.urlencode({"name": name, **({"hsm_id": hsm_id} if hsm_id else {})})
        data = await self._call("DELETE", f"/{waba_id}/message_templates?{query}", token)
        if data.get("success") is not True:
            raise errors.TransientProviderError("Graph API did not confirm the template's deletion")

    async def exchange_token(self, app_id: str, app_secret: str, short_token: str) -> ExchangedToken:
        """GET /oauth/access_token?grant_type=fb_exchange_token: a short-lived user token turned into a
        long-lived one (about 60 days), with the app's id and secret and no bearer token.
        https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived"""
        query = urllib.parse.urlencode(
            {
                "grant_type": "fb_exchange_token",
                "client_id": app_id,
                "client_secret": app_secret,
                "fb_exchange_token": short_token,
            }
        )
        data = await self._call("GET", f"/oauth/access_token?{query}", None)
        token, lifetime = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token:
            raise errors.TransientProviderError("Graph API answered the token exchange without a token")
        expires_at = None
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
            expires_at = datetime.now(UTC) + timedelta(seconds=lifetime)
        return ExchangedToken(token, expires_at)

    async def debug_token(self, token: str) -> domain.TokenInfo:
        """GET /debug_token?input_token=…, asked with the token itself: its kind, validity and expiry
        (``expires_at`` 0: never, as a System User's token). https://developers.facebook.com/docs/graph-api/reference/debug_token"""
        query = urllib.parse.urlencode({"input_token": token})
        data = await self._call("GET", f"/debug_token?{query}", token)
        found = data.get("data")
        if not isinstance(found, dict):
            raise errors.TransientProviderError("Graph API answered debug_token without data")
        return token_info(found)

    async def _call(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        json_body: dict[str, Any] | None = None,
        form: aiohttp.FormData | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        try:
            async with self._session.request(
                method, self._base + path, json=json_body, data=form, headers=headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                status = response.status
        except aiohttp.ConnectionTimeoutError as exc:  # no connection within the time: nothing was sent
            raise errors.TransientProviderError("Graph API: no connection in time") from exc
        except TimeoutError as exc:
            raise errors.OutcomeUnknown("Graph API timed out") from exc
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            raise errors.TransientProviderError(f"Graph API unreachable: {type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:
            raise errors.OutcomeUnknown(f"Graph API connection failed: {type(exc).__name__}") from exc
        data = _json(raw)
        if status >= 400 or "error" in data:
            raise _error(status, data)
        return data


def token_info(data: dict[str, Any]) -> domain.TokenInfo:
    """``debug_token``'s ``data`` as a ``TokenInfo``: times are Unix seconds, 0 meaning never."""
    error = data.get("error") if isinstance(data.get("error"), dict) else None
    scopes = data["scopes"] if isinstance(data.get("scopes"), list) else []
    return domain.TokenInfo(
        valid=data.get("is_valid") is True,
        type=str(data["type"]) if isinstance(data.get("type"), str) else None,
        expires_at=_unix_time(data.get("expires_at")),
        data_access_expires_at=_unix_time(data.get("data_access_expires_at")),
        scopes=tuple(str(s) for s in scopes),
        app_id=str(data["app_id"]) if isinstance(data.get("app_id"), str | int) else None,
        error=f"{error.get('code', '-')}: {error.get('message', '')}" if error else None,
    )


def _unix_time(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _error(status: int, data: dict[str, Any]) -> errors.ProviderError:
    err = data.get("error")
    if not isinstance(err, dict):
        return error_for(None, f"Graph API answered HTTP {status}", http_status=status)
    error_data = err.get("error_data") if isinstance(err.get("error_data"), dict) else {}
    code = err.get("code") if isinstance(err.get("code"), int) else None
    subcode = err.get("error_subcode") if isinstance(err.get("error_subcode"), int) else None
    return error_for(
        code,
        str(err.get("message") or f"Graph API error {code}"),
        subcode=subcode,
        details_text=str(error_data.get("details")) if error_data and error_data.get("details") else None,
        transient=bool(err.get("is_transient")) if "is_transient" in err else None,
        http_status=status,
    )


# Meta's error codes, grouped as Meta documents them
# (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
_META_CODES: dict[int, type[errors.ProviderError]] = {
    0: errors.AccessTokenInvalid,  # AuthException
    190: errors.AccessTokenInvalid,
    4: errors.RateLimited,
    80007: errors.RateLimited,
    130429: errors.ThroughputLimited,
    131056: errors.PairLimited,  # about one message per 6 s to one recipient
    131000: errors.TransientProviderError,
    131016: errors.TransientProviderError,
    1: errors.TransientProviderError,
    2: errors.TransientProviderError,
    133004: errors.TransientProviderError,
}


# The Groups API's codes, with what wahub says of them
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/error-codes/).
_GROUP_CODES: dict[int, tuple[type[errors.ProviderError], str]] = {
    131020: (errors.PermanentProviderError, "the group has no participant besides the business: nobody to send to"),
    131041: (errors.PermanentProviderError, "the group does not exist, or the business is no longer in it"),
    131059: (errors.PermanentProviderError, "the group list's cursor expired: list again from the start"),
    131201: (errors.PermanentProviderError, "only part of the participants' changes succeeded"),
    131202: (errors.PermanentProviderError, "a participant is named twice"),
    131204: (errors.PermanentProviderError, "the group is full: a Cloud API group has at most 8 participants"),
    131207: (errors.PermanentProviderError, "WhatsApp suspended the group for breaking its policies"),
    131208: (errors.RateLimited, "too many group operations from this number: try again later"),
    131209: (errors.PermanentProviderError, "a group picture must be square"),
    131210: (errors.PermanentProviderError, "a group picture must be larger than 192x192 pixels"),
    131211: (errors.PermanentProviderError, "this number has reached its limit of groups: delete one first"),
    131212: (errors.PermanentProviderError, "that user is not a participant of the group"),
}


def group_reason(code: int | None) -> str | None:
    """What a Groups API error code means, in wahub's words (None for other codes)."""
    return _GROUP_CODES[code][1] if code is not None and code in _GROUP_CODES else None


def error_for(
    code: int | None,
    message: str,
    *,
    subcode: int | None = None,
    details_text: str | None = None,
    transient: bool | None = None,
    http_status: int | None = None,
) -> errors.ProviderError:
    """Translate Meta's error into our class, by code first, then by Meta's ``is_transient`` flag."""
    cls: type[errors.ProviderError]
    if code is not None and code in _GROUP_CODES:
        cls, reason = _GROUP_CODES[code]
        return cls(reason, code=code, subcode=subcode, title=message, details_text=details_text)
    if code is not None and code in _META_CODES:
        cls = _META_CODES[code]
    elif transient or (http_status is not None and http_status >= 500):
        cls = errors.TransientProviderError
    else:
        cls = errors.PermanentProviderError
    return cls(message, code=code, subcode=subcode, title=message, details_text=details_text)
