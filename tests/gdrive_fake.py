"""A local fake of the Google Drive API v3 calls wahub's Drive storage makes, at the wire: the OAuth token
endpoint (refresh-token grant), files.list with the ``q`` filters wahub sends, folder create, resumable upload
sessions (new files and new revisions), files.get (metadata and ``alt=media`` with ranges) and files.delete.

It checks what Google checks and a client could get wrong: a valid bearer token on every API call (401
``authError`` otherwise), the ``q`` grammar (quotes escaped), parents that exist, chunks in order, of multiples of
256 KiB but the last, the size in ``Content-Range`` matching the session's, the file made only with the last byte.
Faults on demand: tokens revoked, 503s and short-kept chunks during uploads.

https://developers.google.com/drive/api/guides/manage-uploads#resumable
https://developers.google.com/drive/api/guides/search-files
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN = "client-1.apps.googleusercontent.com", "secret-1", "1//refresh-1"
ROOT = "0AFakeRootFolderUk9PVA"
FOLDER = "application/vnd.google-apps.folder"
UNIT = 256 * 1024


@dataclass
class Item:
    id: str
    name: str
    mime: str
    parent: str
    created: int
    content: bytes = b""


@dataclass
class Drive:
    items: dict[str, Item] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    expires_in: int = 3599  # what the token endpoint says its tokens last
    token_grants: int = 0
    chunks: list[tuple[int, int]] = field(default_factory=list)  # (start, length) of each chunk received
    fail_chunks: int = 0  # answer the next n chunks 503 without keeping them
    keep_short: int = 0  # keep only the first 256 KiB of the next n chunks (Google may keep less than sent)
    queries: list[str] = field(default_factory=list)  # every files.list ``q``
    refused: int = 0  # API calls answered 401
    # When set: after keeping the first chunk of an upload, set ``chunk_in`` and wait for ``go_on``.
    chunk_in: asyncio.Event | None = None
    go_on: asyncio.Event | None = None
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def add(self, name: str, mime: str, parent: str, content: bytes = b"") -> Item:
        item = Item(secrets.token_urlsafe(12), name, mime, parent, next(self._order), content)
        self.items[item.id] = item
        return item

    def path(self, path: str) -> Item | None:
        """The item at ``path`` from My Drive's root (the oldest of a name), for tests to look at."""
        parent = ROOT
        found = None
        for name in path.split("/"):
            named = sorted((i for i in self.items.values() if i.parent == parent and i.name == name), key=_age)
            if not named:
                return None
            found = named[0]
            parent = found.id
        return found


def _age(item: Item) -> int:
    return item.created


def _error(status: int, reason: str, message: str, location: str | None = None) -> JSONResponse:
    detail = {"message": message, "domain": "global", "reason": reason}
    if location:
        detail["location"] = location
    return JSONResponse({"error": {"code": status, "message": message, "errors": [detail]}}, status_code=status)


def _not_found(file_id: str) -> JSONResponse:
    return _error(404, "notFound", f"File not found: {file_id}.", "fileId")


_STRING = r"'((?:[^'\\]|\\.)*)'"
_CLAUSES = [
    ("name", re.compile(rf"name = {_STRING}")),
    ("parent", re.compile(rf"{_STRING} in parents")),
    ("mime=", re.compile(rf"mimeType = {_STRING}")),
    ("mime!=", re.compile(rf"mimeType != {_STRING}")),
    ("trashed", re.compile(r"trashed = (true|false)")),
]


def _parse_query(q: str) -> list[tuple[str, str]] | None:
    """The clauses of ``q`` (joined by ``and``), or None if it is not a query Drive would take."""
    clauses, position = [], 0
    while True:
        for kind, pattern in _CLAUSES:
            match = pattern.match(q, position)
            if match:
                clauses.append((kind, re.sub(r"\\(.)", r"\1", match.group(1))))
                position = match.end()
                break
        else:
            return None
        if position == len(q):
            return clauses
        if not q.startswith(" and ", position):
            return None
        position += len(" and ")


def _matches(item: Item, clauses: list[tuple[str, str]]) -> bool:
    for kind, value in clauses:
        wanted = {
            "name": item.name == value,
            "parent": item.parent == (ROOT if value == "root" else value),  # Drive's alias for My Drive
            "mime=": item.mime == value,
            "mime!=": item.mime != value,
            "trashed": value == "false",  # nothing here is ever in the bin
        }[kind]
        if not wanted:
            return False
    return True


def _resource(item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "drive#file", "id": item.id, "name": item.name, "mimeType": item.mime}
    if item.mime != FOLDER:
        out["size"] = str(len(item.content))  # Drive sends sizes as strings (int64 in JSON)
    return out


def create_app() -> Starlette:
    drive = Drive()

    def authorized(request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme == "Bearer" and token in drive.tokens

    def unauthorized() -> JSONResponse:
        drive.refused += 1
        return _error(401, "authError", "Invalid Credentials", "Authorization")

    def item_of(file_id: str) -> Item | None:
        return drive.items.get(ROOT if file_id == "root" else file_id)

    async def token(request: Request) -> Response:
        form = await request.form()
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "The OAuth client was not found."}, 401
            )
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != REFRESH_TOKEN:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}, 400
            )
        drive.token_grants += 1
        issued = "ya29." + secrets.token_urlsafe(16)
        drive.tokens.add(issued)
        return JSONResponse({"access_token": issued, "expires_in": drive.expires_in, "token_type": "Bearer"})

    async def files(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        if request.method == "POST":
            meta = await request.json()
            parent = item_of((meta.get("parents") or ["root"])[0])
            if parent is None or parent.mime != FOLDER:
                return _not_found(str(meta.get("parents")))
            if not meta.get("name"):
                return _error(400, "required", "Required parameter: name", "name")
            made = drive.add(meta["name"], meta.get("mimeType") or "application/octet-stream", parent.id)
            return JSONResponse(_resource(made))
        q = request.query_params.get("q", "")
        drive.queries.append(q)
        clauses = _parse_query(q)
        if clauses is None:
            return _error(400, "invalid", "Invalid Value", "q")
        if request.query_params.get("orderBy", "createdTime") != "createdTime":
            return _error(400, "invalid", "Invalid Value", "orderBy")
        found = sorted((i for i in drive.items.values() if _matches(i, clauses)), key=_age)
        size = int(request.query_params.get("pageSize", "100"))
        return JSONResponse({"kind": "drive#fileList", "files": [_resource(i) for i in found[:size]]})

    async def file(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        file_id = request.path_params["file_id"]
        item = item_of(file_id)
        if item is None:
            return _not_found(file_id)
        if request.method == "DELETE":
            del drive.items[item.id]
            return Response(status_code=204)
        if request.query_params.get("alt") != "media":
            return JSONResponse(_resource(item))
        if item.mime == FOLDER:
            return _error(403, "fileNotDownloadable", "Only files with binary content can be downloaded.")
        data, wanted = item.content, request.headers.get("range")
        if wanted is None:
            return Response(data, media_type="application/octet-stream")
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted)
        if match is None:
            return _error(400, "badRequest", f"Bad Range {wanted}")
        start = int(match.group(1))
        end = min(len(data), int(match.group(2)) + 1 if match.group(2) else len(data))
        if start >= len(data):
            return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
        headers = {"Content-Range": f"bytes {start}-{end - 1}/{len(data)}"}
        return Response(data[start:end], status_code=206, headers=headers)

    async def start_upload(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        if request.query_params.get("uploadType") != "resumable":
            return _error(400, "invalid", "Invalid Value", "uploadType")
        meta = await request.json()
        file_id = request.path_params.get("file_id")
        if file_id is not None:  # a new revision of a file
            target = item_of(file_id)
            if target is None or target.mime == FOLDER:
                return _not_found(file_id)
            session: dict[str, Any] = {"target": target.id}
        else:
            parent = item_of((meta.get("parents") or ["root"])[0])
            if parent is None or parent.mime != FOLDER:
                return _not_found(str(meta.get("parents")))
            session = {"name": meta.get("name") or "Untitled", "parent": parent.id}
        declared = request.headers.get("x-upload-content-length")
        session.update(data=bytearray(), total=int(declared) if declared else None, mime=meta.get("mimeType"))
        upload_id = secrets.token_urlsafe(16)
        drive.sessions[upload_id] = session
        location = f"{request.url.replace(query='')}?uploadType=resumable&upload_id={upload_id}"
        return Response(status_code=200, headers={"Location": location})

    async def upload(request: Request) -> Response:
        upload_id = request.query_params.get("upload_id", "")
        session = drive.sessions.get(upload_id)
        if session is None:
            return _error(404, "notFound", "No upload session with this id.")
        if request.method == "DELETE":
            del drive.sessions[upload_id]
            return Response(status_code=499)  # Google's answer to a cancelled upload
        body = await request.body()
        received: bytearray = session["data"]
        match = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", request.headers.get("content-range", ""))
        if match is None:
            return _error(400, "badContent", "Content-Range is missing or malformed")
        if match.group(3) != "*":
            total = int(match.group(3))
            if session["total"] is not None and total != session["total"]:
                return _error(400, "badContent", f"the upload's size is {session['total']}, not {total}")
            session["total"] = total
        if match.group(1) is None:  # a status check, or the end of an empty file
            if body:
                return _error(400, "badContent", "a body needs its byte range in Content-Range")
            if session["total"] == len(received):
                return finish(upload_id, session)
            return resume_incomplete(received)
        start, end = int(match.group(1)), int(match.group(2))
        if start != len(received):
            return _error(400, "badContent", f"the next chunk starts at {len(received)}, not {start}")
        if end - start + 1 != len(body):
            return _error(400, "badContent", "Content-Range does not match the body's length")
        last = session["total"] is not None and end == session["total"] - 1
        if session["total"] is not None and end >= session["total"]:
            return _error(400, "badContent", "the chunk goes past the upload's size")
        if not last and len(body) % UNIT:
            return _error(400, "badContent", "chunks must be multiples of 256 KiB, but the last")
        if drive.fail_chunks:
            drive.fail_chunks -= 1
            return _error(503, "backendError", "Backend Error")
        drive.chunks.append((start, len(body)))
        if drive.keep_short and len(body) > UNIT:
            drive.keep_short -= 1
            received.extend(body[:UNIT])
            return resume_incomplete(received)
        received.extend(body)
        if drive.chunk_in is not None and drive.go_on is not None and start == 0 and not last:
            drive.chunk_in.set()
            await drive.go_on.wait()
        return finish(upload_id, session) if last else resume_incomplete(received)

    def resume_incomplete(received: bytearray) -> Response:
        headers = {"Range": f"bytes=0-{len(received) - 1}"} if received else {}
        return Response(status_code=308, headers=headers)

    def finish(upload_id: str, session: dict[str, Any]) -> Response:
        del drive.sessions[upload_id]
        content = bytes(session["data"])
        if "target" in session:
            target = drive.items.get(session["target"])
            if target is None:
                return _not_found(session["target"])
            target.content = content
            if session["mime"]:
                target.mime = session["mime"]
            return JSONResponse(_resource(target), 200)
        made = drive.add(session["name"], session["mime"] or "application/octet-stream", session["parent"], content)
        return JSONResponse(_resource(made), 201)

    async def uploads(request: Request) -> Response:
        # One URL serves both, as Google's does: opening a session (POST, PATCH) and the session's own requests
        # (PUT, DELETE with ``upload_id``).
        return await (start_upload if request.method in ("POST", "PATCH") else upload)(request)

    app = Starlette(
        routes=[
            Route("/token", token, methods=["POST"]),
            Route("/drive/v3/files", files, methods=["GET", "POST"]),
            Route("/drive/v3/files/{file_id}", file, methods=["GET", "DELETE"]),
            Route("/upload/drive/v3/files", uploads, methods=["POST", "PUT", "DELETE"]),
            Route("/upload/drive/v3/files/{file_id}", uploads, methods=["PATCH", "PUT", "DELETE"]),
        ]
    )
    drive.items[ROOT] = Item(ROOT, "My Drive", FOLDER, "", next(drive._order))
    app.state.drive = drive
    return app
