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
from wahub.api import schemas
from wahub.store import counters

log = logging.getLogger(__name__)

_STATUS: dict[type[errors.WahubError], tuple[int, str]] = {
    errors.NotFound: (404, "not_found"),
    errors.Unauthorized: (401, "unauthorized"),
    errors.Forbidden: (403, "forbidden"),
    errors.WindowClosed: (422, "window_closed"),
    errors.RangeNotSatisfiable: (416, "range_not_satisfiable"),
    errors.BodyTooLarge: (413, "too_large"),
    errors.BodyTooSlow: (408, "too_slow"),
    errors.InvalidInput: (422, "invalid_input"),
    errors.Conflict: (409, "conflict"),
    errors.NoAccount: (422, "no_account"),
    errors.TransientProviderError: (502, "provider_unavailable"),
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


# What each error status means, for the OpenAPI document: every answer of these has the ErrorBody shape.
_MEANING = {
    400: "the body could not be read: not UTF-8 JSON, or broken form data",
    401: "no valid API key ('Authorization: Bearer <key>') or user session (the cookie set by /api/v1/auth/login)",
    403: "the API key's scopes or the user's role do not allow this, or a session's CSRF token is missing",
    404: "nothing has this id",
    408: "the body arrived too slowly",
    409: "a conflict with what exists",
    413: "the body is larger than this route takes",
    416: "the byte range asked for is outside the file",
    422: "the input is not valid: details.errors names each field and its problem",
    429: "this API key is over its rate limit: retry after Retry-After seconds",
    502: "Meta did not answer, or answered with a transient error: try again later",
    503: "the database or the media storage is not answering, or the server is busy: retry after Retry-After seconds",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}}}


def install(app: FastAPI) -> None:
    _document(app)
    app.add_exception_handler(errors.WahubError, _wahub_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    for unavailable in (db_errors.OperationalError, db_errors.InterfaceError, db_errors.TimeoutError):
        app.add_exception_handler(unavailable, _database_unavailable)
    app.add_exception_handler(db_errors.DataError, _unstorable)  # type: ignore[arg-type]
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


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    in_path = [err for err in exc.errors() if tuple(err.get("loc", ()))[:1] == ("path",)]
    if in_path:
        # Path parameters are ids (``schemas.Id``): one that is no number, or beyond any row's, names nothing.
        name, value = in_path[0]["loc"][-1], str(in_path[0].get("input"))
        return error_response(404, "not_found", f"{name} {value[:40]} does not exist")
    problems: list[dict[str, Any]] = []
    for err in exc.errors():
        problem = _problem(err, request.headers.get("content-type"))
        if problem not in problems:
            problems.append(problem)
    first = problems[0] if problems else {"field": "body", "problem": "invalid"}
    if "position" in first:
        message = f"body is not valid JSON at character {first['position']}"
    else:
        message = f"{first['field']}: {first['problem']}"
    return error_response(422, "invalid_input", message, {"errors": problems})


def _problem(err: Mapping[str, Any], content_type: str | None) -> dict[str, Any]:
    """One field's problem, in words: FastAPI's JSON error has a position where a field goes, and a body it did
    not parse as JSON (no Content-Type, or another one) reaches the model as bytes."""
    loc = [str(part) for part in err.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    if err.get("type") == "json_invalid":
        position = err["loc"][-1]
        reason = err.get("ctx", {}).get("error", "invalid")
        return {"field": "body", "problem": f"not valid JSON at character {position}: {reason}", "position": position}
    if not loc and isinstance(err.get("input"), bytes):
        if content_type:
            problem = f"the body is sent as {content_type[:100]}; send it as application/json"
        else:
            problem = "the header is missing; send the body as application/json"
        return {"field": "Content-Type", "problem": problem}
    return {"field": ".".join(loc) or "body", "problem": str(err.get("msg", "invalid"))}


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400:  # FastAPI could not parse the body: "There was an error parsing the body"
        message = "the body could not be read: send UTF-8 JSON (multipart/form-data for uploads)"
        return error_response(400, "invalid_body", message, headers=exc.headers)
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


async def _unstorable(request: Request, exc: db_errors.DataError) -> JSONResponse:
    # PostgreSQL's text and JSONB cannot hold U+0000 (SQLite can): the client's text, not a fault of ours.
    # Found by the database rather than checked in every field: the refused statement's transaction is undone.
    if "NUL" in str(exc.orig) or "\\u0000" in str(exc.orig):
        message = "the input has a NUL character (U+0000), which the database cannot store; remove it"
        return error_response(422, "invalid_input", message)
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error; the server log has the details")


def _document(app: FastAPI) -> None:
    """Have ``/openapi.json`` declare the errors each API operation can answer, all with one body
    (``schemas.ErrorBody``): a client knows what to expect, and the schemathesis test holds the API to it."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()  # FastAPI keeps it as app.openapi_schema: completed in place, once
            for path, operations in spec["paths"].items():
                if path.startswith("/api/"):
                    for operation in operations.values():
                        _declare_errors(operation)
            found = spec["components"]["schemas"]
            for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's: none of our answers has it
                found.pop(unused, None)
            error = schemas.ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
            found.update(error.pop("$defs"), ErrorBody=error)
            return spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_errors(operation: dict[str, Any]) -> None:
    parameters = operation.get("parameters", [])
    statuses = {503}
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    if parameters:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 408, 413, 422}
    if operation.get("security"):
        statuses |= {401, 403, 429}
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses |= {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for status in sorted(statuses):
        declared = responses.setdefault(str(status), {"description": _MEANING[status]})
        if status == 422:  # FastAPI's says "Validation Error"
            declared["description"] = _MEANING[status]
        declared["content"] = body
        if status in (429, 503):
            declared["headers"] = _RETRY_AFTER
