"""Webhook receivers: check the signature on the raw bytes, append the body durably, answer 200.

This path carries the most traffic and must do the least work: everything else happens in the processor
after the ack. The POST is a bare ASGI app (``MetaWebhookReceiver``) that ``app.py`` puts in front of FastAPI.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from wahub import errors
from wahub.api import bodies
from wahub.api.context import AppContext
from wahub.api.errors import error_response
from wahub.api.headers import STRICT_HEADERS
from wahub.store import accounts, counters
from wahub.store.journal import EventJournal
from wahub.wakeups import Channel
from wahub.webhook import signature

log = logging.getLogger(__name__)

MAX_BODY = 3 * 1024 * 1024  # Meta batches stay far below this; larger bodies are refused, not buffered.
REFRESH_SECONDS = 10.0
_REQUESTS = {
    result: ("wahub_webhook_requests_total", counters.labels_text({"provider": "meta", "result": result}))
    for result in ("accepted", "bad_signature", "too_large", "too_slow", "busy", "unavailable")
}
_REFUSED = {errors.BodyTooLarge: "too_large", errors.BodyTooSlow: "too_slow", errors.Busy: "busy"}
# This path's answers carry the security headers themselves (api/headers.py): the busiest path, spared a
# wrapper around ``send``.
SECURED = STRICT_HEADERS


class WebhookKeys:
    """The app secrets and verify tokens webhooks are checked against: settings plus every stored account.
    Kept in memory and refreshed in the background, so checking a webhook costs no database read."""

    def __init__(self) -> None:
        self.app_secrets: tuple[str, ...] = ()
        # ``signature.key_id`` of each app secret, in the same order: recorded with the events it verifies.
        self.key_ids: tuple[str, ...] = ()
        self.verify_tokens: tuple[str, ...] = ()

    async def refresh(self, ctx: AppContext) -> None:
        secrets: list[str] = []
        tokens: list[str] = []
        settings = ctx.settings
        if settings.app_secret is not None:
            secrets.append(settings.app_secret.get_secret_value())
        if settings.verify_token is not None:
            tokens.append(settings.verify_token.get_secret_value())
        async with ctx.readers() as session, session.begin():
            for account in await accounts.all_accounts(session):
                if account.provider != "meta":
                    continue
                creds = accounts.credentials(account, ctx.vault)
                secrets.append(creds.app_secret)
                if creds.verify_token:
                    tokens.append(creds.verify_token)
        self.app_secrets = tuple(dict.fromkeys(s for s in secrets if s))
        self.key_ids = tuple(signature.key_id(s) for s in self.app_secrets)
        self.verify_tokens = tuple(dict.fromkeys(t for t in tokens if t))

    async def keep_fresh(self, ctx: AppContext) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh(ctx)
            except Exception:
                log.exception("could not refresh webhook keys; keeping the previous ones")


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _keys(request: Request) -> WebhookKeys:
    keys: WebhookKeys = request.app.state.webhook_keys
    return keys


async def verify_meta(request: Request) -> Response:
    """Meta's subscription check: echo ``hub.challenge`` when ``hub.verify_token`` is ours."""
    params = request.query_params
    token = params.get("hub.verify_token", "")
    known = any(hmac.compare_digest(token.encode(), t.encode()) for t in _keys(request).verify_tokens)
    if params.get("hub.mode") != "subscribe" or not token or not known:
        return error_response(403, "forbidden", "verify token does not match")
    return PlainTextResponse(params.get("hub.challenge", ""))


class MetaWebhookReceiver:
    """``POST /webhooks/meta`` as a bare ASGI app: read the body (3 MB cap, within the process's body budget
    and pace: ``api/bodies.py``), check the signature on the raw bytes, append to the journal (group commit),
    answer 200. FastAPI's routing and middleware would cost a third of the throughput here (SPEC §10), and this
    route needs none of them."""

    def __init__(self, ctx: AppContext, keys: WebhookKeys, journal: EventJournal, body_reader: bodies.Bodies) -> None:
        self._ctx = ctx
        self._keys = keys
        self._journal = journal
        self._bodies = body_reader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw = await self._bodies.read(receive, bodies.content_length(scope), MAX_BODY)
        except bodies.REFUSALS as exc:
            self._counted(_REFUSED[type(exc)])
            await bodies.refuse(send, exc, receive)
            return
        if raw is None:  # the sender left
            return
        keys = self._keys
        secrets, key_ids = keys.app_secrets, keys.key_ids  # one refresh's pair, whatever happens while checking
        signer = signature.meta_signer(secrets, raw, _header(scope, b"x-hub-signature-256"))
        if signer is None:
            self._counted("bad_signature")
            await _respond(send, 401, "unauthorized", "X-Hub-Signature-256 is missing or does not match")
            return
        try:
            await self._journal.append("meta", raw, key_ids[signer])
        except Exception:
            # Not stored, so not acknowledged: Meta retries on anything but 200.
            self._counted("unavailable")
            await _respond(send, 503, "unavailable", "the event could not be stored; retry later")
            return
        self._ctx.notifier.notify(Channel.EVENTS)
        self._counted("accepted")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0"), *SECURED]})
        await send({"type": "http.response.body", "body": b""})

    def _counted(self, result: str) -> None:
        self._ctx.tally.bump(_REQUESTS[result])


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
