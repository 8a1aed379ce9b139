"""A local fake of the Microsoft Graph calls wahub's SharePoint storage makes, at the wire: the client-credentials
token endpoint, site lookup, drive items by path (metadata, content with ranges, delete) and upload sessions
(fragments in order, multiples of 320 KiB but the last, the file committed with the last fragment).

https://learn.microsoft.com/en-us/graph/api/driveitem-createuploadsession
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

SITE_ID = "contoso.sharepoint.com,11111111-2222-3333-4444-555555555555,66666666-7777-8888-9999-000000000000"
TENANT, CLIENT_ID, CLIENT_SECRET = "tenant-1", "client-1", "secret-1"
UNIT = 320 * 1024


@dataclass
class Drive:
    files: dict[str, bytes] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    fragments: list[tuple[int, int]] = field(default_factory=list)  # (start, length) of each PUT


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app() -> Starlette:
    drive = Drive()

    def authorized(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme == "Bearer" and token in drive.tokens

    async def token(request: Request) -> Response:
        form = await request.form()
        if request.path_params["tenant"] != TENANT or (form.get("client_id"), form.get("client_secret")) != (
            CLIENT_ID,
            CLIENT_SECRET,
        ):
            return JSONResponse({"error": "invalid_client", "error_description": "AADSTS7000215: bad secret"}, 401)
        issued = secrets.token_urlsafe(16)
        drive.tokens.add(issued)
        return JSONResponse({"token_type": "Bearer", "expires_in": 3599, "access_token": issued})

    async def graph(request: Request) -> Response:
        if not authorized(request):
            return _error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        rest = unquote(request.path_params["rest"])
        if rest == "sites/contoso.sharepoint.com:/sites/Marketing":
            return JSONResponse({"id": SITE_ID, "name": "Marketing"})
        if rest == f"sites/{SITE_ID}/drive":
            return JSONResponse({"id": "b!drive", "driveType": "documentLibrary"})
        match = re.fullmatch(rf"sites/{re.escape(SITE_ID)}/drive/root:/(.+?)(:/content|:/createUploadSession)?", rest)
        if match is None:
            return _error(404, "itemNotFound", f"no route {rest}")
        path, action = match.group(1), match.group(2)
        if action == ":/createUploadSession" and request.method == "POST":
            upload_id = secrets.token_urlsafe(8)
            drive.sessions[upload_id] = {"path": path, "data": bytearray()}
            return JSONResponse(
                {"uploadUrl": f"{request.base_url}upload/{upload_id}", "expirationDateTime": "2030-01-01T00:00:00Z"}
            )
        if action == ":/content" and request.method == "PUT":
            drive.files[path] = await request.body()
            return JSONResponse({"name": path, "size": len(drive.files[path])}, 201)
        if path not in drive.files:
            return _error(404, "itemNotFound", "The resource could not be found.")
        data = drive.files[path]
        if request.method == "DELETE":
            del drive.files[path]
            return Response(status_code=204)
        if action == ":/content":
            wanted = request.headers.get("range")
            if wanted is None:
                return Response(data, media_type="application/octet-stream")
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            start, end = int(first), min(len(data), int(last) + 1 if last else len(data))
            if start >= len(data):
                return Response(status_code=416)
            headers = {"Content-Range": f"bytes {start}-{end - 1}/{len(data)}"}
            return Response(data[start:end], status_code=206, headers=headers)
        return JSONResponse({"name": path, "size": len(data)})

    async def upload(request: Request) -> Response:
        session = drive.sessions.get(request.path_params["upload_id"])
        if session is None:
            return _error(404, "itemNotFound", "upload session not found")
        if request.method == "DELETE":
            drive.sessions.pop(request.path_params["upload_id"])
            return Response(status_code=204)
        if "authorization" in request.headers:
            return _error(401, "unauthenticated", "the upload URL must be called without Authorization")
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers.get("content-range", ""))
        body = await request.body()
        if match is None:
            return _error(400, "invalidRequest", "Content-Range is required")
        start, end, total = (int(g) for g in match.groups())
        received = session["data"]
        if start != len(received) or end - start + 1 != len(body):
            return _error(416, "invalidRange", f"expected a fragment from {len(received)}")
        if end != total - 1 and len(body) % UNIT:
            return _error(400, "invalidRequest", "fragments must be a multiple of 320 KiB")
        received.extend(body)
        drive.fragments.append((start, len(body)))
        if end == total - 1:
            drive.files[session["path"]] = bytes(received)
            drive.sessions.pop(request.path_params["upload_id"])
            return JSONResponse({"name": session["path"], "size": total}, 201)
        return JSONResponse({"nextExpectedRanges": [f"{end + 1}-"]}, 202)

    app = Starlette(
        routes=[
            Route("/login/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
            Route("/upload/{upload_id}", upload, methods=["PUT", "DELETE"]),
            Route("/v1.0/{rest:path}", graph, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )
    app.state.drive = drive
    return app
