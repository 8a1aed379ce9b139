"""``create_app``: the HTTP application for one ``AppContext``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

import wahub
from wahub.api import errors, webhooks
from wahub.api.context import AppContext
from wahub.api.routes import contacts, conversations, docs, events, health, media, messages, stats, subscriptions
from wahub.store.journal import EventJournal


class App:
    """The ASGI entry point: ``POST /webhooks/meta`` goes straight to the lean receiver, the rest to FastAPI
    (which also runs the lifespan: webhook keys, the event journal)."""

    def __init__(self, api: FastAPI, meta_webhook: webhooks.MetaWebhookReceiver, journal: EventJournal) -> None:
        self.api = api
        self.journal = journal
        self._meta_webhook = meta_webhook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/webhooks/meta":
            await self._meta_webhook(scope, receive, send)
            return
        await self.api(scope, receive, send)


def create_app(ctx: AppContext) -> App:
    keys = webhooks.WebhookKeys()
    journal = EventJournal(ctx.events)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await keys.refresh(ctx)
        refresher = asyncio.create_task(keys.keep_fresh(ctx))
        await journal.start()
        ctx.key_usage.start(ctx.sessions)
        try:
            yield
        finally:
            # Servers stop taking requests before the lifespan ends, so every acked body is written here.
            await journal.stop()
            await ctx.key_usage.stop(ctx.sessions)
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    app = FastAPI(
        title="wahub",
        version=wahub.__version__,
        description="Self-hosted WhatsApp Business messaging hub. Authenticate with `Authorization: Bearer <api key>`.",
        lifespan=lifespan,
        docs_url=None,  # our own /docs and /redoc (routes/docs.py): assets from the package, not a CDN
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.webhook_keys = keys
    errors.install(app)
    app.router.routes.append(Route("/webhooks/meta", webhooks.verify_meta, methods=["GET"]))
    app.include_router(messages.router)
    app.include_router(conversations.router)
    app.include_router(contacts.router)
    app.include_router(events.router)
    app.include_router(media.router)
    app.include_router(stats.router)
    app.include_router(subscriptions.router)
    app.include_router(health.router)
    app.include_router(docs.router)
    app.router.routes.append(docs.assets())

    @app.get("/", include_in_schema=False)
    async def root() -> dict[str, str]:
        return {"name": "wahub", "version": wahub.__version__, "api_docs": "/docs"}

    return App(app, webhooks.MetaWebhookReceiver(ctx, keys, journal), journal)
