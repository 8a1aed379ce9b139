"""Security headers on every answer: the API's, the webhooks', health, metrics, the API docs and the inbox.

- ``X-Content-Type-Options: nosniff``: a browser takes a JSON answer or a media file for what it says it is,
  never for a script or a page.
- ``Referrer-Policy: no-referrer``: a signed media link, or any URL with its query, is not passed on.
- ``Content-Security-Policy``: nothing may load or run from an answer (``default-src 'none'``) and no page
  may frame it, except
  - the API docs pages (``DOC_PAGES``), which run their own scripts from the package (``routes/docs.py``):
    scripts only from wahub itself; styles also inline (Redoc's styled-components write ``<style>`` elements,
    Swagger UI sets ``style`` attributes); images also ``data:`` (Swagger UI's icons); Redoc's search worker
    from a ``blob:``; requests to wahub itself (the OpenAPI document, "Try it out");
  - the inbox's pages (``web/``, the paths its ``serves_page`` names): scripts, styles, images, media and
    requests from wahub itself only, no inline script or style, forms posted to wahub only, and framed only by
    ``WAHUB_FRAME_ANCESTORS`` (``'none'`` unless an ERP that embeds the inbox is named there).
- ``Cache-Control: no-store`` on everything under ``/api/`` and on the inbox's pages: answers that needed an
  API key or a session, and the bytes of a signed media link, stay out of shared and browser caches (it
  replaces what a route set). The inbox's static files (``/static/<digest>/…``, a name that changes with their
  content) are cached for a year instead.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Message, Scope, Send

Headers = tuple[tuple[bytes, bytes], ...]

DOC_PAGES = frozenset({"/docs", "/redoc"})
STATIC_PREFIX = "/static/"

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
_NO_STORE = (b"cache-control", b"no-store")
_AUTHENTICATED: Headers = (*_STRICT, _NO_STORE)
_IMMUTABLE: Headers = (*_STRICT, (b"cache-control", b"public, max-age=31536000, immutable"))
_REPLACED = frozenset({b"cache-control", b"x-content-type-options", b"referrer-policy", b"content-security-policy"})


def inbox_policy(frame_ancestors: str = "'none'") -> str:
    """The inbox pages' Content-Security-Policy: everything from wahub itself, nothing inline, framed only by
    ``frame_ancestors`` (``config.Settings.frame_ancestors``, checked there to be CSP sources)."""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
        " media-src 'self' blob:; font-src 'self'; connect-src 'self'; manifest-src 'self';"
        f" form-action 'self'; base-uri 'none'; frame-ancestors {frame_ancestors}"
    )


def _never(_path: str) -> bool:
    return False


class SecurityHeaders:
    """Which headers each answer gets, by its path. ``is_page`` says which paths are the inbox's pages
    (``web.serves_page``); ``frame_ancestors`` who may frame them."""

    def __init__(self, frame_ancestors: str = "'none'", is_page: Callable[[str], bool] = _never) -> None:
        self.is_page = is_page
        self.page_policy = inbox_policy(frame_ancestors)
        self._page: Headers = (*_COMMON, (b"content-security-policy", self.page_policy.encode()), _NO_STORE)

    def for_path(self, path: str) -> Headers:
        if path.startswith("/api/"):
            return _AUTHENTICATED
        if path in DOC_PAGES:
            return _DOCS
        if self.is_page(path):
            return self._page
        return _STRICT

    def added(self, scope: Scope, send: Send) -> Send:
        """``send`` with the security headers added to the answer's start. (The webhook intake, the busiest
        path, writes ``STRICT_HEADERS`` into its answers itself instead.)"""
        path: str = scope["path"]
        extra = self.for_path(path)
        static = path.startswith(STATIC_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Starlette's responses and ours write header names in lower case.
                kept = [header for header in message.get("headers", ()) if header[0] not in _REPLACED]
                kept += _IMMUTABLE if static and message["status"] == 200 else extra
                message["headers"] = kept
            await send(message)

        return send_with_headers
