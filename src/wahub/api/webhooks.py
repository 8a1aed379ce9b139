"""Webhook receivers: check the signature on the raw bytes, append the body durably, answer 200.

Plain Starlette endpoints (no FastAPI dependency injection or validation) because this path carries the
most traffic and must do the least work: everything else happens in the processor after the ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from wahub.api.context import AppContext
from wahub.api.errors import error_response
from wahub.store import accounts, db, events
from wahub.store.notify import Channel
from wahub.webhook import signature

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024  # Meta batches stay far below this; larger bodies are refused, not buffered.
REFRESH_SECONDS = 10.0


class WebhookKeys:
    """The app secrets and verify tokens webhooks are checked against: settings plus every stored account.
    Kept in memory and refreshed in the background, so checking a webhook costs no database read."""

    def __init__(self) -> None:
        self.app_secrets: tuple[str, ...] = ()
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


async def receive_meta(request: Request) -> Response:
    body = await _read_body(request)
    if body is None:
        return error_response(413, "too_large", f"webhook bodies are limited to {MAX_BODY} bytes")
    header = request.headers.get("x-hub-signature-256")
    if not signature.verify_meta(_keys(request).app_secrets, body, header):
        return error_response(401, "unauthorized", "X-Hub-Signature-256 is missing or does not match")
    ctx = _ctx(request)
    async with db.transaction(ctx.sessions) as session:
        await events.append(session, "meta", body)
    ctx.notifier.notify(Channel.EVENTS)
    return Response(status_code=200)


async def _read_body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    with contextlib.suppress(ClientDisconnect):
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return None
            chunks.append(chunk)
    return b"".join(chunks)
