"""The gate every Graph API call passes: version check, latency, injected 5xx/timeouts, the bearer token,
Graph error bodies, and the request log.

Handlers behind the gate read the parsed JSON body from `request.state.body` and raise
`errors.GraphError`; the gate turns that into Meta's error response.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from fakegraph import errors, faults
from fakegraph.state import FakeState

Endpoint = Callable[[Request], Awaitable[Response]]

_VERSION = re.compile(r"v\d+\.\d+")
# How often a hanging request looks whether its client gave up.
_HANG_POLL_S = 0.05


class GraphGate:
    """Wraps Graph endpoints of one app with Meta's cross-cutting behaviour."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    def wrap(self, handler: Endpoint, *, bearer: bool = True) -> Endpoint:
        """The endpoint `handler` as Meta would serve it; `bearer` False: it takes no access token (the token
        exchange carries the app's id and secret instead)."""

        async def endpoint(request: Request) -> Response:
            started = time.time()
            if request.method == "POST" and request.url.path.endswith("/messages"):
                # /{version}/{phone_number_id}/messages: Meta counts each number's sends on their own.
                self.state.message_arrivals.append((started, request.url.path.rsplit("/", 2)[-2]))
            request.state.body = await _read_json(request)
            try:
                response = await self._serve(request, handler, bearer)
            except errors.GraphError as exc:
                response = JSONResponse(exc.body(), status_code=exc.http_status)
            except ClientDisconnect:
                # The caller went away mid-request (an upload cut short): nothing to answer, nothing stored.
                response = Response(status_code=400)
            self._log(request, response, started)
            return response

        return endpoint

    async def _serve(self, request: Request, handler: Endpoint, bearer: bool) -> Response:
        version = request.path_params.get("version")
        if version is not None and not _VERSION.fullmatch(version):
            raise errors.unknown_path(request.url.path)
        current = self.state.faults
        if current.latency_ms > 0:
            await asyncio.sleep(current.latency_ms / 1000)
        if faults.roll(self.state.rng, current.timeout_rate):
            await _hang(request, current.timeout_hang_s)
            raise errors.GraphError(2, http_status=504)
        if faults.roll(self.state.rng, current.http_5xx_rate):
            if self.state.rng.random() < 0.5:
                raise errors.GraphError(131000, http_status=500)
            raise errors.GraphError(2, http_status=503)
        if bearer:
            self.check_token(request)
        return await handler(request)

    def check_token(self, request: Request) -> None:
        """Raise 190 unless the request carries a token fakegraph accepts (header or query): the configured one
        or a registered one that has neither expired nor been revoked (`tokens.TokenBook`)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            token = request.query_params.get("access_token", "")
        refused = self.state.tokens.refusal(token.strip())
        if refused is not None:
            raise refused

    def _log(self, request: Request, response: Response, started: float) -> None:
        body = getattr(request.state, "log_body", None)
        if body is None:
            body = request.state.body
        self.state.log_request(
            {
                "time": started,
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "body": body,
                "status": response.status_code,
                "duration_ms": round((time.time() - started) * 1000, 3),
            }
        )


async def _read_json(request: Request) -> Any:
    """The JSON body, `{}` when there is none, or the raw text when it is not JSON.

    Multipart bodies are left for the handler to stream through `request.form()`.
    """
    if request.headers.get("content-type", "").startswith("multipart/"):
        return None
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")[:2000]


async def _hang(request: Request, limit_s: float) -> None:
    """Answer nothing until the client disconnects (or `limit_s` passes), like a stuck Graph call.

    Polling for the disconnect lets the server shut down once the client gave up, instead of
    holding a task for the whole hang.
    """
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(_HANG_POLL_S)


def object_body(request: Request) -> dict[str, Any]:
    """The JSON object a handler works on; anything else counts as empty, as Graph treats it."""
    body = request.state.body
    return body if isinstance(body, dict) else {}


async def unknown_path(request: Request) -> Response:
    """Graph's answer for paths it has no endpoint for (wrapped by the gate)."""
    raise errors.unknown_path(request.url.path)
