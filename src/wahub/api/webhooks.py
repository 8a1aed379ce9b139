"""The webhooks' HTTP edge: read the body, hand it to the intake (``webhook/intake.py``: signature, journal,
count, wake-up), answer by its outcome. The POSTs are bare ASGI apps (``MetaWebhookReceiver``,
``TwilioWebhookReceiver``) that ``app.py`` puts in front of FastAPI: this path carries the most traffic, and
FastAPI's routing and middleware would cost a third of its throughput (SPEC §10) for nothing it needs.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from wahub import errors
from wahub.api import bodies
from wahub.api.errors import error_response
from wahub.api.headers import STRICT_HEADERS
from wahub.webhook.intake import Intake, Outcome, WebhookKeys
from wahub.webhook.sources import Source

MAX_BODY = 3 * 1024 * 1024  # Meta batches stay far below this; larger bodies are refused, not buffered.
_REFUSED = {errors.BodyTooLarge: Outcome.TOO_LARGE, errors.BodyTooSlow: Outcome.TOO_SLOW, errors.Busy: Outcome.BUSY}
# This path's answers carry the security headers themselves (api/headers.py): the busiest path, spared a
# wrapper around ``send``.
SECURED = STRICT_HEADERS
_OK = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0"), *SECURED]}
_EMPTY = {"type": "http.response.body", "body": b""}
INBOUND_PATH = "/webhooks/twilio"
STATUS_PATH = "/webhooks/twilio/status"
# An inbound message's answer: TwiML that sends nothing back (wahub answers through its outbox).
_EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_TWIML_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/xml; charset=utf-8"),
        (b"content-length", str(len(_EMPTY_TWIML)).encode()),
        *SECURED,
    ],
}
_TWIML = {"type": "http.response.body", "body": _EMPTY_TWIML}


async def verify_meta(request: Request) -> Response:
    """Meta's subscription check: echo ``hub.challenge`` when ``hub.verify_token`` is ours."""
    keys: WebhookKeys = request.app.state.webhook_keys
    challenge = keys.challenge(request.query_params)
    if challenge is None:
        return error_response(403, "forbidden", "verify token does not match")
    return PlainTextResponse(challenge)


class _Receiver:
    """A webhook POST: read the body (3 MB cap, within the process's body budget and pace: ``api/bodies.py``),
    let the intake check and journal it, answer 200 once it is durable, 401 for a bad signature, 503 when it
    could not be stored (the provider retries on anything but 2xx)."""

    provider = "meta"
    signature_header = b"x-hub-signature-256"
    signature_name = "X-Hub-Signature-256"

    def __init__(self, intake: Intake, body_reader: bodies.Bodies) -> None:
        self._intake = intake
        self._bodies = body_reader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw = await self._bodies.read(receive, bodies.content_length(scope), MAX_BODY)
        except bodies.REFUSALS as exc:
            self._intake.counted(_REFUSED[type(exc)], self.provider)
            await bodies.refuse(send, exc, receive)
            return
        if raw is None:  # the sender left
            return
        outcome = await self._accept(scope, raw, _header(scope, self.signature_header))
        if outcome is Outcome.ACCEPTED:
            await self._ok(scope, send)
        elif outcome is Outcome.BAD_SIGNATURE:
            await _respond(send, 401, "unauthorized", f"{self.signature_name} is missing or does not match")
        else:  # not stored, so not acknowledged
            await _respond(send, 503, "unavailable", "the event could not be stored; retry later")

    async def _accept(self, scope: Scope, raw: bytes, signature: str | None) -> Outcome:
        return await self._intake.accept(raw, signature)

    async def _ok(self, scope: Scope, send: Send) -> None:
        await send(_OK)
        await send(_EMPTY)


class MetaWebhookReceiver(_Receiver):
    """``POST /webhooks/meta``, signed with ``X-Hub-Signature-256`` over the raw body."""


class TwilioWebhookReceiver(_Receiver):
    """``POST /webhooks/twilio`` (inbound messages, answered with empty TwiML: no automatic reply) and
    ``POST /webhooks/twilio/status`` (status callbacks), signed with ``X-Twilio-Signature`` over the URL Twilio
    requested and the form: ``public_url`` (``WAHUB_PUBLIC_URL``) when a proxy stands in front, else the URL
    the request itself names (its scheme, ``Host`` and path)."""

    provider = "twilio"
    signature_header = b"x-twilio-signature"
    signature_name = "X-Twilio-Signature"

    def __init__(self, intake: Intake, body_reader: bodies.Bodies, public_url: str | None) -> None:
        super().__init__(intake, body_reader)
        self._public_url = public_url.rstrip("/") if public_url else None

    async def _accept(self, scope: Scope, raw: bytes, signature: str | None) -> Outcome:
        source = Source.TWILIO_STATUS if scope["path"] == STATUS_PATH else Source.TWILIO
        return await self._intake.accept_twilio(source, raw, self.url(scope), signature)

    def url(self, scope: Scope) -> str:
        """The URL Twilio signed."""
        base = self._public_url
        if base is None:
            host = _header(scope, b"host")
            if host is None:
                server = scope.get("server") or ("localhost", None)
                host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
            base = f"{scope.get('scheme', 'http')}://{host}"
        query: bytes = scope.get("query_string", b"")
        path: str = scope["path"]
        return base + path + (f"?{query.decode('latin-1')}" if query else "")

    async def _ok(self, scope: Scope, send: Send) -> None:
        if scope["path"] == STATUS_PATH:
            await super()._ok(scope, send)
            return
        await send(_TWIML_START)
        await send(_TWIML)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _respond(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *SECURED]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
