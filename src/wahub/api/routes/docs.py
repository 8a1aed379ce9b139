"""``/docs`` (Swagger UI) and ``/redoc``: pages of our own on assets vendored in the package
(``api/static/docs``, versions and licences in its README), so the API reference works on a closed network.
No inline script: the pages run under ``Content-Security-Policy: script-src 'self'``."""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent.parent / "static" / "docs"
ASSETS_PATH = "/docs/assets"

router = APIRouter(include_in_schema=False)


def assets() -> Mount:
    """The vendored files, at ``/docs/assets/…``."""
    return Mount(ASSETS_PATH, app=StaticFiles(directory=ASSETS), name="docs-assets")


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return _page(
        "wahub API",
        f'<link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">\n',
        '<div id="swagger-ui" data-openapi-url="/openapi.json"></div>\n'
        f'<script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>\n'
        f'<script src="{ASSETS_PATH}/swagger-init.js"></script>\n',
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    return _page(
        "wahub API",
        "",
        f'<redoc spec-url="/openapi.json"></redoc>\n<script src="{ASSETS_PATH}/redoc.standalone.js"></script>\n',
    )
