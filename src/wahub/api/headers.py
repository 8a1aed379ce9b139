"""Security headers on every answer: the API's, the webhooks', health, metrics and the API docs.

- ``X-Content-Type-Options: nosniff``: a browser takes a JSON answer or a media file for what it says it is,
  never for a script or a page.
- ``Referrer-Policy: no-referrer``: a signed media link, or any URL with its query, is not passed on.
- ``Content-Security-Policy``: nothing may load or run from an answer (``default-src 'none'``) and no page
  may frame it, except the API docs pages (``DOC_PAGES``), which run their own scripts from the package
  (``routes/docs.py``): scripts only from wahub itself; styles also inline (Redoc's styled-components write
  ``<style>`` elements, Swagger UI sets ``style`` attributes); images also ``data:`` (Swagger UI's icons);
  Redoc's search worker from a ``blob:``; requests to wahub itself (the OpenAPI document, "Try it out").
- ``Cache-Control: no-store`` on everything under ``/api/``: answers that needed an API key, and the bytes of a
  signed media link, stay out of shared and browser caches (it replaces what a route set).
"""

from __future__ import annotations

from starlette.types import Message, Scope, Send

Headers = tuple[tuple[bytes, bytes], ...]

DOC_PAGES = frozenset({"/docs", "/redoc"})

STRICT = b"default-src 'none'; frame-ancestors 'none'"
DOCS = (
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    b" font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none';"
    b" base-uri 'none'; form-action 'none'"
)
_COMMON: Headers = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"))
STRICT_HEADERS: Headers = (*_COMMON, (b"content-security-policy", STRICT))
_STRICT = STRICT_HEADERS
_DOCS: Headers = (*_COMMON, (b"content-security-policy", DOCS))
_AUTHENTICATED: Headers = (*_STRICT, (b"cache-control", b"no-store"))
_REPLACED = frozenset({b"cache-control", b"x-content-type-options", b"referrer-policy", b"content-security-policy"})


def added(scope: Scope, send: Send) -> Send:
    """``send`` with the security headers added to the answer's start. (The webhook intake, the busiest path,
    writes ``STRICT_HEADERS`` into its answers itself instead.)"""
    path: str = scope["path"]
    if path.startswith("/api/"):
        extra = _AUTHENTICATED
    elif path in DOC_PAGES:
        extra = _DOCS
    else:
        extra = _STRICT

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            # Starlette's responses and ours write header names in lower case.
            kept = [header for header in message.get("headers", ()) if header[0] not in _REPLACED]
            kept += extra
            message["headers"] = kept
        await send(message)

    return send_with_headers
