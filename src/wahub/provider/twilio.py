"""Twilio's Messaging API for WhatsApp as a ``Provider``, through the official ``twilio`` SDK and its aiohttp
client (``AsyncTwilioHttpClient``) on the process's one aiohttp session; Twilio's error codes are translated in
``twilio_codes.py``.

Send reference: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
WhatsApp with Twilio: https://www.twilio.com/docs/whatsapp/api (media by URL, templates as Content SIDs with
``ContentVariables``, locations as a ``geo:`` persistent action).
Inbound media: https://www.twilio.com/docs/messaging/api/media-resource (its URL wants basic auth).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any, TypeVar, cast

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from wahub import errors, twilio_codes
from wahub.provider import base

log = logging.getLogger(__name__)
T = TypeVar("T")

API_VERSION = "2010-04-01"
STATUS_PATH = "/webhooks/twilio/status"
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
CAPTIONED = ("image", "video")  # Twilio sends a Body with these as their caption; a document takes none


class _Http(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's aiohttp client on an injected session (the caller's, one per process), basic auth as a header,
    and its request logs at DEBUG (the SDK writes eight INFO lines per call). Each call has two timeouts, as the
    Graph client's: one to get a connection (a pool's wait included; none in time means nothing was sent, and
    the send may go again at once) and one for each read of the answer (a lost answer: the message may have
    been sent). The SDK would pass one number, which aiohttp takes as a total for both."""

    def __init__(self, session: aiohttp.ClientSession, timeout: float) -> None:
        super().__init__(pool_connections=False, timeout=timeout, logger=log)
        self.session = session

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = _basic(*auth)
        seconds = timeout or self.timeout
        limits = aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds)
        self.log_request({"method": method.upper(), "url": url})
        async with self.session.request(
            method.upper(),
            url,
            params=cast(Any, params),
            data=data,
            headers=headers,
            timeout=limits,
            allow_redirects=allow_redirects,
        ) as answer:
            text = await answer.text()
        self.log_response(answer.status, answer)
        return Response(answer.status, text, answer.headers)

    def log_request(self, kwargs: dict[str, Any]) -> None:
        log.debug("Twilio API request", extra={"method": kwargs["method"], "url": kwargs["url"]})

    def log_response(self, status_code: int, response: Any) -> None:
        log.debug("Twilio API answered", extra={"status": status_code})

    async def close(self) -> None:
        """The session is the caller's to close."""


class TwilioClient:
    """What Twilio providers share in a process: the aiohttp session, the API's base URL (None: Twilio's own,
    api.twilio.com and messaging.twilio.com; faketwilio's in tests and the sandbox) and the timeout."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str | None = None, timeout: float = 30.0) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = timeout
        self._http = _Http(session, timeout)

    def client(self, account: base.Account) -> Client:
        """An SDK client acting for ``account``: its API key when it has one, else its auth token."""
        if not account.account_sid:
            raise errors.PermanentProviderError("the Twilio account has no Account SID")
        username, password = account.api_key or (account.account_sid, account.token)
        client = Client(username, password, account_sid=account.account_sid, http_client=self._http)
        if self.base_url:
            client.api.base_url = self.base_url
            client.messaging.base_url = self.base_url
        return client

    @property
    def api_url(self) -> str:
        return self.base_url or "https://api.twilio.com"


class Twilio:
    """One WhatsApp sender of a Twilio account. ``public_url``: where Twilio reaches this wahub (status
    callbacks); ``media_link``: a signed public URL of a file uploaded to wahub, which Twilio fetches."""

    keeps_uploads = timedelta(0)
    uploads_files = False

    def __init__(
        self, http: TwilioClient, account: base.Account, public_url: str, media_link: Callable[[int], str]
    ) -> None:
        self._http = http
        self._account = account
        self._client = http.client(account)
        self._callback = public_url.rstrip("/") + STATUS_PATH
        self._media_link = media_link

    async def send(self, message: base.Outbound) -> base.Sent:
        params = build_params(message, self._account, self._callback, self._media_link)
        sent = await _call(self._client.api.v2010.account.messages.create_async(**params))
        sid = getattr(sent, "sid", None)
        if not isinstance(sid, str) or not sid:
            raise errors.OutcomeUnknown("Twilio answered the send without a message SID")
        return base.Sent(sid)

    async def mark_read(self, message_id: str, *, typing: bool = False) -> None:
        """Twilio has no read receipt of its own: a typing indicator marks the message read and shows typing
        (https://www.twilio.com/docs/whatsapp/api/typing-indicators-resource); without one, nothing is sent."""
        if typing:
            indicators = self._client.messaging.v2.typing_indicator
            await _call(indicators.create_async(channel="whatsapp", message_id=message_id))

    async def upload(self, chunks: AsyncIterator[bytes], mime_type: str, filename: str) -> str:
        raise errors.PermanentProviderError("Twilio takes files by URL, not by upload")

    async def media_info(self, media_id: str) -> base.MediaInfo:
        """Where an inbound medium is: ``media_id`` is ``<MessageSid>/<MediaSid>`` (``webhook/twilio.py``), and
        the URL is built on the configured API, so the account's credentials never go anywhere else."""
        message_sid, _, media_sid = media_id.partition("/")
        if not message_sid or not media_sid:
            raise errors.PermanentProviderError(f"not a Twilio media id: {media_id!r}")
        url = (
            f"{self._http.api_url}/{API_VERSION}/Accounts/{self._account.account_sid}"
            f"/Messages/{message_sid}/Media/{media_sid}"
        )
        return base.MediaInfo(url=url, mime_type=None, sha256=None, file_size=None, hashed=False)

    async def download(self, url: str, chunk_size: int = 256 * 1024) -> AsyncIterator[bytes]:
        """Stream a medium with basic auth. Twilio answers with a redirect to a short-lived CDN URL; aiohttp
        follows it and drops the credentials when the redirect leaves the API's host."""
        username, password = self._account.api_key or (self._account.account_sid or "", self._account.token)
        headers = {"Authorization": _basic(username, password)}
        timeout = aiohttp.ClientTimeout(total=None, connect=self._http.timeout, sock_read=self._http.timeout)
        try:
            async with self._http.session.get(url, headers=headers, timeout=timeout) as response:
                if response.status >= 400:
                    raise _http_error(response.status, await response.read())
                expected = response.content_length
                received = 0
                async for chunk in response.content.iter_chunked(chunk_size):
                    received += len(chunk)
                    yield chunk
                if expected is not None and received != expected:
                    raise errors.MediaRejected(f"size mismatch: Twilio said {expected} bytes, got {received}")
        except TimeoutError as exc:
            raise errors.TransientProviderError("media download timed out") from exc
        except aiohttp.ClientError as exc:
            raise errors.TransientProviderError(f"media download failed: {type(exc).__name__}") from exc

    async def check_account(self) -> dict[str, Any]:
        """The account (status, name) and whether Twilio lists the sender among its WhatsApp senders."""
        sid = self._account.account_sid
        account = await _call(self._client.api.v2010.accounts(sid).fetch_async())
        senders = await _call(self._client.messaging.v2.channels_senders.list_async(channel="whatsapp"))
        ours = next((s for s in senders if getattr(s, "sender_id", None) == self._account.number), None)
        return {
            "account_sid": sid,
            "friendly_name": getattr(account, "friendly_name", None),
            "status": getattr(account, "status", None),
            "sender": self._account.number,
            "sender_status": getattr(ours, "status", None) if ours is not None else "not listed by Twilio",
            "messaging_service_sid": self._account.messaging_service_sid,
        }


def providers(http: TwilioClient, public_url: str | None, media_link: Callable[[int], str]) -> base.Providers:
    """Twilio providers for accounts, sharing one client; without a public URL none can be made (Twilio could
    neither post the statuses nor fetch the media)."""

    def provider(account: base.Account) -> base.Provider:
        if not public_url:
            raise errors.PermanentProviderError(
                "WAHUB_PUBLIC_URL is not set: Twilio needs it to post statuses and fetch media"
            )
        return Twilio(http, account, public_url, media_link)

    return provider


def build_params(
    message: base.Outbound, account: base.Account, callback: str, media_link: Callable[[int], str]
) -> dict[str, Any]:
    """The SDK's ``messages.create`` arguments for a message: the stored content is in Meta's shape (what the
    API takes for every provider); ``sending/rules.py`` refused before queueing what Twilio cannot send."""
    to = message.recipient
    if to.group_id or not to.wa_id:
        raise errors.PermanentProviderError("Twilio sends only to a phone number (no groups, no user ids)")
    params: dict[str, Any] = {"to": f"whatsapp:+{to.wa_id}", "from_": account.number, "status_callback": callback}
    if account.messaging_service_sid:
        params["messaging_service_sid"] = account.messaging_service_sid
    obj = message.content.get(message.type)
    obj = obj if isinstance(obj, Mapping) else {}
    if message.type == "text":
        params["body"] = str(obj.get("body", ""))
    elif message.type in MEDIA_TYPES:
        params["media_url"] = [_media_url(message, obj, media_link)]
        if message.type in CAPTIONED and obj.get("caption"):
            params["body"] = str(obj["caption"])
    elif message.type == "location":
        label = obj.get("name") or obj.get("address") or "Location"
        params["persistent_action"] = [f"geo:{obj.get('latitude')},{obj.get('longitude')}|{label}"]
        params["body"] = str(label)
    elif message.type == "template" and obj.get("content_sid"):
        params["content_sid"] = str(obj["content_sid"])
        variables = obj.get("content_variables")
        if variables:
            params["content_variables"] = json.dumps(variables, ensure_ascii=False, separators=(",", ":"))
    else:
        raise errors.PermanentProviderError(f"Twilio cannot send this {message.type} message")
    return params


def _media_url(message: base.Outbound, obj: Mapping[str, Any], media_link: Callable[[int], str]) -> str:
    if message.wahub_media_id is not None:
        return media_link(message.wahub_media_id)
    if isinstance(obj.get("link"), str):
        return str(obj["link"])
    raise errors.PermanentProviderError("Twilio takes media by URL: give 'link' or 'wahub_media_id'")


async def _call(call: Coroutine[Any, Any, T]) -> T:
    """Run an SDK call, translating what goes wrong into ``errors.py``: Twilio's code when it answered, a lost
    answer (the call may have been carried out) apart from a connection never made."""
    try:
        return await call
    except TwilioRestException as exc:
        code = exc.code if isinstance(exc.code, int) and exc.code != exc.status else None
        raise twilio_codes.error_for(code, str(exc.msg), http_status=exc.status) from exc
    except aiohttp.ConnectionTimeoutError as exc:  # no connection within the time: nothing was sent
        raise errors.TransientProviderError("Twilio API: no connection in time") from exc
    except TimeoutError as exc:
        raise errors.OutcomeUnknown("Twilio API timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        raise errors.TransientProviderError(f"Twilio API unreachable: {type(exc).__name__}") from exc
    except aiohttp.ClientError as exc:
        raise errors.OutcomeUnknown(f"Twilio API connection failed: {type(exc).__name__}") from exc
    except (TwilioException, ValueError) as exc:  # an answer the SDK could not read
        raise errors.OutcomeUnknown(f"Twilio API answered unreadably: {type(exc).__name__}") from exc


def _http_error(status: int, raw: bytes) -> errors.ProviderError:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        body = {}
    body = body if isinstance(body, dict) else {}
    code = body.get("code") if isinstance(body.get("code"), int) else None
    return twilio_codes.error_for(code, str(body.get("message") or f"HTTP {status}"), http_status=status)


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
