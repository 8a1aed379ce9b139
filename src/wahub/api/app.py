"""``create_app``: the HTTP application for one ``AppContext``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.routing import Route

import wahub
from wahub.api import errors, webhooks
from wahub.api.context import AppContext
from wahub.api.routes import health, messages


def create_app(ctx: AppContext) -> FastAPI:
    keys = webhooks.WebhookKeys()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await keys.refresh(ctx)
        refresher = asyncio.create_task(keys.keep_fresh(ctx))
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher

    app = FastAPI(
        title="wahub",
        version=wahub.__version__,
        description="Self-hosted WhatsApp Business messaging hub. Authenticate with `Authorization: Bearer <api key>`.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.webhook_keys = keys
    errors.install(app)
    app.router.routes.append(Route("/webhooks/meta", webhooks.verify_meta, methods=["GET"]))
    app.router.routes.append(Route("/webhooks/meta", webhooks.receive_meta, methods=["POST"]))
    app.include_router(messages.router)
    app.include_router(health.router)

    @app.get("/", include_in_schema=False)
    async def root() -> dict[str, str]:
        return {"name": "wahub", "version": wahub.__version__, "api_docs": "/docs"}

    return app
