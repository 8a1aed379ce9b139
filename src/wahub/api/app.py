"""``create_app``: the HTTP application for one ``AppContext``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import wahub
from wahub import web
from wahub.api import bodies, errors, headers, live, webhooks
from wahub.api.context import AppContext
from wahub.api.routes import (
    accounts,
    apikeys,
    auth,
    campaigns,
    canned_replies,
    contacts,
    conversations,
    docs,
    events,
    groups,
    health,
    imports,
    media,
    messages,
    reports,
    schedules,
    search,
    stats,
    stream,
    subscriptions,
    templates,
    users,
)
from wahub.webhook import intake
from wahub.webhook.journal import EventJournal


class App:
    """The ASGI entry point: the webhook POSTs (Meta's, Twilio's) go straight to the lean receivers, the rest to
    FastAPI behind the body limits (FastAPI also runs the lifespan: webhook keys, the event journal); every answer
    gets the security headers (``api/headers.py``).

    Served by ``wahub serve``, the app applies uvicorn's proxy headers itself (``trust_proxies``): the client's
    address and scheme from ``X-Forwarded-For``/``-Proto`` of a trusted proxy matter to the API, the inbox and
    Twilio's signatures (its URL), not to Meta's webhooks, which skip that work."""

    def __init__(
        self,
        api: FastAPI,
        meta_webhook: webhooks.MetaWebhookReceiver,
        twilio_webhook: webhooks.TwilioWebhookReceiver,
        journal: EventJournal,
        body_limits: bodies.BodyLimits,
        security: headers.SecurityHeaders,
    ) -> None:
        self.api = api
        self.security = security
        self.journal = journal
        self._webhooks: dict[str, ASGIApp] = {
            "/webhooks/meta": meta_webhook,
            webhooks.INBOUND_PATH: twilio_webhook,
            webhooks.STATUS_PATH: twilio_webhook,
        }
        self._limited_api: ASGIApp = body_limits

    def trust_proxies(self, trusted_hosts: list[str] | str) -> None:
        """Take client addresses and schemes from the proxy headers of ``trusted_hosts`` (uvicorn's
        ``forwarded_allow_ips``) everywhere but on Meta's webhooks; the server itself then leaves them alone."""
        self._webhooks = {
            path: app if path == "/webhooks/meta" else _proxied(app, trusted_hosts)
            for path, app in self._webhooks.items()
        }
        self._limited_api = _proxied(self._limited_api, trusted_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._limited_api(scope, receive, send)
            return
        if scope["method"] == "POST" and (webhook := self._webhooks.get(scope["path"])) is not None:
            await webhook(scope, receive, send)  # its answers carry the headers themselves
            return
        await self._limited_api(scope, receive, self.security.added(scope, send))


def _proxied(app: ASGIApp, trusted_hosts: list[str] | str) -> ASGIApp:
    # uvicorn types its middleware with its own ASGI types; Starlette's are the same protocol.
    return cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts))


def create_app(ctx: AppContext, body_reader: bodies.Bodies | None = None) -> App:
    """The app of ``ctx``; ``body_reader`` replaces the one built from settings (tests give it short limits)."""
    keys = intake.WebhookKeys()
    journal = EventJournal(ctx.events)
    body_reader = body_reader or bodies.Bodies(bodies.Limits(budget=ctx.settings.body_memory_mb * bodies.MB))
    hub = live.Hub(
        ctx.engine,
        ctx.readers,
        ctx.notifier,
        poll=ctx.settings.stream_poll_ms / 1000,
        queue_size=ctx.settings.stream_queue_size,
        heartbeat=ctx.settings.stream_heartbeat_seconds,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await keys.refresh(ctx.settings, ctx.readers, ctx.vault)
        refresher = asyncio.create_task(keys.keep_fresh(ctx.settings, ctx.readers, ctx.vault))
        await journal.start()
        ctx.intake.open()
        ctx.key_usage.start(ctx.sessions)
        await hub.start()
        try:
            yield
        finally:
            # Servers stop taking requests before the lifespan ends, so every acked body is written here.
            await journal.stop()
            await hub.stop()
            await ctx.intake.close()
            await ctx.key_usage.stop(ctx.sessions)
            await body_reader.stop()
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    app = FastAPI(
        title="wahub",
        version=wahub.__version__,
        description="Self-hosted WhatsApp Business messaging hub. Authenticate with `Authorization: Bearer <api key>`, "
        "or as a user with the session cookies of `POST /api/v1/auth/login`.",
        lifespan=lifespan,
        docs_url=None,  # our own /docs and /redoc (routes/docs.py): assets from the package, not a CDN
        redoc_url=None,
        # What a multipart body may keep in memory: one file's spool (1 MB, then a temporary file) and small fields.
        form_limits={"max_files": 1, "max_fields": 16, "max_part_size": 64 * 1024},
    )
    app.state.ctx = ctx
    app.state.webhook_keys = keys
    app.state.stream_hub = hub
    errors.install(app)
    app.router.routes.append(Route("/webhooks/meta", webhooks.verify_meta, methods=["GET"]))
    app.include_router(messages.router)
    app.include_router(conversations.router)
    app.include_router(search.router)
    app.include_router(canned_replies.router)
    app.include_router(contacts.router)
    app.include_router(events.router)
    app.include_router(templates.router)
    app.include_router(groups.router)
    app.include_router(media.router)
    app.include_router(imports.router)
    app.include_router(schedules.router)
    app.include_router(reports.router)
    app.include_router(campaigns.router)
    app.include_router(stats.router)
    app.include_router(accounts.router)
    app.include_router(subscriptions.router)
    app.include_router(stream.router)
    app.include_router(auth.router)
    app.include_router(users.router)
    app.include_router(apikeys.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.router.routes.append(docs.assets())

    web.mount(app)  # the inbox: "/", "/login", "/c/{id}"…, its static files

    limited = bodies.BodyLimits(
        app, body_reader, {("POST", "/api/v1/media"): bodies.UPLOAD, ("POST", "/api/v1/imports"): bodies.IMPORT}
    )
    taken = intake.Intake(keys, journal, ctx.notifier, ctx.tally)
    meta = webhooks.MetaWebhookReceiver(taken, body_reader)
    twilio = webhooks.TwilioWebhookReceiver(taken, body_reader, ctx.settings.public_url)
    security = headers.SecurityHeaders(ctx.settings.frame_ancestors, web.serves_page)
    return App(app, meta, twilio, journal, limited, security)
