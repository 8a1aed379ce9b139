"""The gate every REST call passes (basic auth, latency, injected 5xx and timeouts, Twilio's error body, the
request log) and the account-level resources: the Account, WhatsApp senders, inbound media, typing indicators.

Twilio's REST reference: https://www.twilio.com/docs/usage/api (basic auth with the Account SID and auth token,
or an API key's SID and secret; errors as `{"code", "message", "more_info", "status"}`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from faketwilio import errors, faults, ids
from faketwilio.state import FakeState

Endpoint = Callable[[Request], Awaitable[Response]]

_HANG_POLL_S = 0.05
MEDIA_LINK_TTL_S = 300
CDN_PATH = "/_cdn/media/"  # where media URLs redirect, as Twilio's do to a short-lived signed CDN URL


class RestGate:
    """Wraps REST endpoints of one app with Twilio's cross-cutting behaviour."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self._cdn_key = secrets.token_bytes(32)

    def wrap(self, handler: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            started = time.time()
            if request.method == "POST" and request.url.path.endswith("/Messages.json"):
                self.state.message_arrivals.append(started)
            try:
                request.state.form = await _form(request)
                response = await self._serve(request, handler)
            except errors.TwilioError as exc:
                response = JSONResponse(exc.body(), status_code=exc.status)
                if exc.code == 20003:
                    response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
            except ClientDisconnect:
                response = Response(status_code=400)
            self._log(request, response, started)
            return response

        return endpoint

    async def _serve(self, request: Request, handler: Endpoint) -> Response:
        current = self.state.faults
        if current.latency_ms > 0:
            await asyncio.sleep(current.latency_ms / 1000)
        if faults.roll(self.state.rng, current.timeout_rate):
            await _hang(request, current.timeout_hang_s)
            raise errors.TwilioError(20503, status=504)
        if faults.roll(self.state.rng, current.http_5xx_rate):
            raise errors.TwilioError(20500 if self.state.rng.random() < 0.5 else 20503)
        self.check_auth(request)
        account = request.path_params.get("account_sid")
        if account is not None and account != self.state.config.account_sid:
            raise errors.TwilioError(20404, request.url.path)
        return await handler(request)

    def check_auth(self, request: Request) -> None:
        """20003 unless the request carries the account's credentials (basic auth)."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username = password = ""
        if scheme.lower() != "basic" or not self.state.credentials_match(username, password):
            raise errors.TwilioError(20003)

    def _log(self, request: Request, response: Response, started: float) -> None:
        form = getattr(request.state, "form", None)
        self.state.log_request(
            {
                "time": started,
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "form": form,
                "status": response.status_code,
                "duration_ms": round((time.time() - started) * 1000, 3),
            }
        )

    # --- resources ---------------------------------------------------------------------------------------

    async def account(self, request: Request) -> Response:
        """`GET /2010-04-01/Accounts/{sid}.json`."""
        config = self.state.config
        sid = config.account_sid
        return JSONResponse(
            {
                "sid": sid,
                "owner_account_sid": sid,
                "friendly_name": config.friendly_name,
                "status": "active",
                "type": "Full",
                "auth_token": "[redacted]",
                "date_created": ids.rfc2822(0),
                "date_updated": ids.rfc2822(),
                "uri": f"/2010-04-01/Accounts/{sid}.json",
                "subresource_uris": {"messages": f"/2010-04-01/Accounts/{sid}/Messages.json"},
            }
        )

    async def senders(self, request: Request) -> Response:
        """`GET /v2/Channels/Senders?Channel=whatsapp`: the account's WhatsApp senders (one)."""
        config = self.state.config
        url = str(request.url)
        rows = [
            {
                "sid": "XE" + config.account_sid[2:],
                "status": "ONLINE",
                "sender_id": config.sender,
                "configuration": {"waba_id": None, "verification_method": None},
                "webhook": {"callback_url": config.inbound_url, "callback_method": "POST"},
                "profile": {"name": config.friendly_name},
                "properties": {"quality_rating": "HIGH", "messaging_limit": "1K"},
                "offline_reasons": None,
                "url": f"{request.base_url}v2/Channels/Senders/XE{config.account_sid[2:]}",
            }
        ]
        channel = request.query_params.get("Channel")
        if channel not in (None, "whatsapp"):
            rows = []
        meta = {
            "page": 0,
            "page_size": 50,
            "first_page_url": url,
            "previous_page_url": None,
            "url": url,
            "next_page_url": None,
            "key": "senders",
        }
        return JSONResponse({"senders": rows, "meta": meta})

    async def typing(self, request: Request) -> Response:
        """`POST /v2/Indicators/Typing.json` (messageId, channel=whatsapp): shows typing, marks the message read.
        https://www.twilio.com/docs/whatsapp/api/typing-indicators-resource"""
        form = request.state.form or {}
        message_id = str(form.get("messageId") or "")
        if form.get("channel") != "whatsapp" or message_id not in self.state.inbound:
            raise errors.TwilioError(20404, f"message {message_id}")
        self.state.typing.append({"message_id": message_id, "at": time.time()})
        return JSONResponse({"success": True})

    async def media(self, request: Request) -> Response:
        """`GET .../Messages/{message_sid}/Media/{sid}`: behind basic auth, answered with a redirect to a
        short-lived signed URL, as Twilio's media URLs are (the redirect's target needs no credentials)."""
        item = self.state.media.get(request.path_params["sid"])
        if item is None or item.message_sid != request.path_params["message_sid"]:
            raise errors.TwilioError(20404, request.url.path)
        expires = int(time.time()) + MEDIA_LINK_TTL_S
        return RedirectResponse(
            f"{CDN_PATH}{item.sid}?expires={expires}&sig={self._cdn_sig(item.sid, expires)}", status_code=307
        )

    async def cdn(self, request: Request) -> Response:
        """The signed URL a media URL redirects to: the bytes, with their type and length."""
        sid = request.path_params["sid"]
        try:
            expires = int(request.query_params.get("expires", ""))
        except ValueError:
            expires = 0
        item = self.state.media.get(sid)
        given = request.query_params.get("sig", "")
        if item is None or expires < time.time() or not hmac.compare_digest(given, self._cdn_sig(sid, expires)):
            return Response("Forbidden", status_code=403)
        return Response(item.data, media_type=item.content_type)

    def _cdn_sig(self, sid: str, expires: int) -> str:
        return hmac.new(self._cdn_key, f"{sid}:{expires}".encode(), hashlib.sha256).hexdigest()

    async def unknown(self, request: Request) -> Response:
        raise errors.TwilioError(20404, request.url.path)


async def _form(request: Request) -> dict[str, Any] | None:
    """A form body as a dict (a repeated name as a list: `MediaUrl`), or None when there is none."""
    if request.method != "POST":
        return None
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if key == "MediaUrl" or len(values) > 1 else (values[0] if values else "")
    return out


async def _hang(request: Request, limit_s: float) -> None:
    """Answer nothing until the client gives up (or `limit_s` passes), like a stuck call."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(_HANG_POLL_S)
