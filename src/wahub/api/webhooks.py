"""The webhooks' HTTP edge: read the body, hand it to the intake (``webhook/intake.py``: signature, journal,
count, wake-up), answer by its outcome. The POST is a bare ASGI app (``MetaWebhookReceiver``) that ``app.py``
puts in front of FastAPI: this path carries the most traffic, and FastAPI's routing and middleware would cost a
third of its throughput (SPEC §10) for nothing it needs.
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
from wahub.webhook.intake import MetaIntake, Outcome, WebhookKeys

MAX_BODY = 3 * 1024 * 1024  # Meta batches stay far below this; larger bodies are refused, not buffered.
_REFUSED = {errors.BodyTooLarge: Outcome.TOO_LARGE, errors.BodyTooSlow: Outcome.TOO_SLOW, errors.Busy: Outcome.BUSY}
# This path's answers carry the security headers themselves (api/headers.py): the busiest path, spared a
# wrapper around ``send``.
SECURED = STRICT_HEADERS
_OK = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0"), *SECURED]}
_EMPTY = {"type": "http.response.body", "body": b""}


async def verify_meta(request: Request) -> Response:
    """Meta's subscription check: echo ``hub.challenge`` when ``hub.verify_token`` is ours."""
    keys: WebhookKeys = request.app.state.webhook_keys
    challenge = keys.challenge(request.query_params)
    if challenge is None:
        return error_response(403, "forbidden", "verify token does not match")
    return PlainTextResponse(challenge)


class MetaWebhookReceiver:
    """``POST /webhooks/meta``: read the body (3 MB cap, within the process's body budget and pace:
    ``api/bodies.py``), let the intake check and journal it, answer 200 once it is durable."""

    def __init__(self, intake: MetaIntake, body_reader: bodies.Bodies) -> None:
        self._intake = intake
        self._bodies = body_reader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw = await self._bodies.read(receive, bodies.content_length(scope), MAX_BODY)
        except bodies.REFUSALS as exc:
            self._intake.counted(_REFUSED[type(exc)])
            await bodies.refuse(send, exc, receive)
            return
        if raw is None:  # the sender left
            return
        outcome = await self._intake.accept(raw, _header(scope, b"x-hub-signature-256"))
        if outcome is Outcome.ACCEPTED:
            await send(_OK)
            await send(_EMPTY)
        elif outcome is Outcome.BAD_SIGNATURE:
            await _respond(send, 401, "unauthorized", "X-Hub-Signature-256 is missing or does not match")
        else:  # not stored, so not acknowledged: Meta retries on anything but 200
            await _respond(send, 503, "unavailable", "the event could not be stored; retry later")


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
