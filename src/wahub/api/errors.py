"""The one place where errors become HTTP statuses: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as db_errors
from starlette.exceptions import HTTPException as StarletteHTTPException

from wahub import errors
from wahub.store import counters

log = logging.getLogger(__name__)

_STATUS: dict[type[errors.WahubError], tuple[int, str]] = {
    errors.NotFound: (404, "not_found"),
    errors.Unauthorized: (401, "unauthorized"),
    errors.WindowClosed: (422, "window_closed"),
    errors.RangeNotSatisfiable: (416, "range_not_satisfiable"),
    errors.BodyTooLarge: (413, "too_large"),
    errors.BodyTooSlow: (408, "too_slow"),
    errors.InvalidInput: (422, "invalid_input"),
    errors.Conflict: (409, "conflict"),
    errors.NoAccount: (422, "no_account"),
}

_HTTP_CODES = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.WahubError, _wahub_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    for unavailable in (db_errors.OperationalError, db_errors.InterfaceError, db_errors.TimeoutError):
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(Exception, _unexpected)


async def _wahub_error(request: Request, exc: errors.WahubError) -> JSONResponse:
    if isinstance(exc, errors.StorageError):
        return _storage_unavailable(request, exc)
    return response(exc)


def response(exc: errors.WahubError) -> JSONResponse:
    """The answer to ``exc``; also for the bare ASGI parts (webhook intake, body limits), which have no Request."""
    if isinstance(exc, errors.TooManyRequests | errors.Busy):
        retry_after = str(max(1, math.ceil(exc.retry_after)))  # whole seconds (RFC 9110), never 0
        status, code = (429, "rate_limited") if isinstance(exc, errors.TooManyRequests) else (503, "busy")
        return error_response(status, code, exc.message, exc.details, {"Retry-After": retry_after})
    status, code = next((value for cls, value in _STATUS.items() if isinstance(exc, cls)), (422, "invalid_input"))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(status, code, exc.message, exc.details, headers)


def _storage_unavailable(request: Request, exc: errors.StorageError) -> JSONResponse:
    # Not the client's fault, and the same request may work shortly: an upload kept nothing, a read sent nothing.
    log.error("media storage failed on %s %s: %s", request.method, request.url.path, exc.message[:200])
    tally: counters.Tally = request.app.state.ctx.tally
    tally.count("wahub_storage_errors_total", {"operation": "api", "error": type(exc).__name__})
    return error_response(
        503, "storage_unavailable", f"the media storage failed: {exc.message}", headers={"Retry-After": "5"}
    )


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        problems.append({"field": ".".join(loc) or "body", "problem": str(err.get("msg", "invalid"))})
    first = problems[0] if problems else {"field": "body", "problem": "invalid"}
    return error_response(422, "invalid_input", f"{first['field']}: {first['problem']}", {"errors": problems})


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The database is down, unreachable, out of connections or locked past its timeout: nothing was done or
    # acknowledged, and the same request can be sent again (with its Idempotency-Key, a send stays single).
    first = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()[0][:200]
    log.error("database unavailable on %s %s: %s", request.method, request.url.path, first)
    return error_response(
        503, "unavailable", "the database is not answering; try again shortly", headers={"Retry-After": "2"}
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; the server log has the details")
