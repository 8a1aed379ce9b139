"""Google Drive through the Drive API v3, wahub's own client: OpenDAL's gdrive service talks only to Google's fixed
hosts, so nothing could test it.

``gdrive://wahub/media?refresh_token=…&client_id=…&client_secret=…`` names the folder ``wahub/media`` in the
user's My Drive (its folders are created when missing). ``folder_id=…`` starts the path at another folder (one
shared with the user) instead of My Drive's root; ``access_token=…`` takes the place of the three OAuth options
when something else keeps a token fresh. Keys are paths below the folder: ``sha256/ab/cd/<hex>`` is the file
``<hex>`` in the folder ``sha256/ab/cd``. ``api_url`` and ``token_url`` point it elsewhere (the tests' fake).
OAuth scope ``https://www.googleapis.com/auth/drive.file`` is enough for folders wahub creates itself.

Writes spool to a temporary file (in memory up to 8 MB, then on disk) and go up through a resumable upload
session (``resumable.py``) in chunks of 8 MiB (multiples of 256 KiB, Google's unit), starting again from where
Google says it stopped after a 5xx or a cut connection. Drive creates the file, or the new revision of the one
already there, only when the last chunk is in, so a reader never sees half a file; a failed write cancels the
session.
https://developers.google.com/drive/api/guides/manage-uploads#resumable
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import aiohttp

from wahub import errors
from wahub.storage import resumable
from wahub.storage.base import READ_CHUNK
from wahub.storage.opendal_store import label_of

API_URL = "https://www.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - an address, not a secret
FOLDER = "application/vnd.google-apps.folder"
SPOOL_IN_MEMORY = 8 * 1024 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=None, connect=30, sock_read=120)
ALL_DRIVES = {"supportsAllDrives": "true"}
Http = aiohttp.ClientSession
OPTIONS = {"access_token", "refresh_token", "client_id", "client_secret", "folder_id", "api_url", "token_url"}


class DriveStore:
    """A ``BlobStore`` in a Google Drive folder."""

    def __init__(
        self,
        *,
        label: str,
        folder: list[str],
        folder_id: str = "root",
        access_token: str | None = None,
        refresh_token: str | None = None,
        client_id: str = "",
        client_secret: str = "",
        api_url: str = API_URL,
        token_url: str = TOKEN_URL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self._base, self._root = folder, folder_id
        self._refresh, self._client_id, self._secret = refresh_token, client_id, client_secret
        self._api, self._token_url = api_url.rstrip("/"), token_url
        self._clock = clock
        # (token, when to get the next one): a given access token is used until Google refuses it
        self._token: tuple[str, float] | None = (access_token, math.inf) if access_token else None
        self._folders: dict[str, str] = {}  # folder path below the root -> its id
        self._creating = asyncio.Lock()

    # --- the BlobStore interface ----------------------------------------------------------------------------

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str | None = None) -> int:
        *dirs, name = _segments(key)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            async for chunk in chunks:  # if this raises, nothing has been sent
                spool.write(chunk)
            total = spool.tell()
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
                try:
                    parent = await self._folder_id(http, [*self._base, *dirs], create=True)
                    assert parent is not None
                    existing = _id(await self._child(http, parent, name, folder=False))
                    session = await self._open_session(http, parent, name, existing, total, content_type)
                except errors.StorageError:
                    self._folders.clear()  # a folder deleted in Drive: the next try looks the path up again
                    raise
                try:
                    await resumable.upload(http, session, spool, total)
                except BaseException:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.delete(session):  # cancel: Drive drops what it received
                            pass
                    raise
        return total

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise errors.InvalidInput(f"bad byte range {start}-{end}")
        *dirs, name = _segments(key)
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            found = await self._file(http, dirs, name)
            if found is None:
                raise errors.NotFound(f"no stored media at {key}")
            if end is not None and end == start:
                return
            headers = {"Range": f"bytes={start}-{'' if end is None else end - 1}"} if start or end is not None else {}
            url = f"{self._api}/drive/v3/files/{found['id']}"
            response = await self._send(http, "GET", url, params={"alt": "media", **ALL_DRIVES}, headers=headers)
            async with response:
                if response.status == 404:
                    raise errors.NotFound(f"no stored media at {key}")
                if response.status == 416:
                    return
                if response.status >= 400:
                    raise resumable.failure(response.status, await response.text(), f"read {key}")
                try:
                    async for chunk in response.content.iter_chunked(READ_CHUNK):
                        yield chunk
                except aiohttp.ClientError as exc:
                    raise errors.StorageError(f"could not read {key}: {type(exc).__name__}") from exc

    async def size(self, key: str) -> int | None:
        *dirs, name = _segments(key)
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            found = await self._file(http, dirs, name)
        return None if found is None else int(found.get("size", 0))

    async def delete(self, key: str) -> None:
        *dirs, name = _segments(key)
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            found = await self._file(http, dirs, name)
            if found is not None:  # deleted for good, not moved to the bin
                url = f"{self._api}/drive/v3/files/{found['id']}"
                await self._json(http, "DELETE", url, params=ALL_DRIVES, missing_ok=True)

    async def check(self) -> None:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            folder = await self._folder_id(http, self._base, create=True)
            url = f"{self._api}/drive/v3/files/{folder}"
            item = await self._json(http, "GET", url, params={"fields": "id,mimeType", **ALL_DRIVES})
            if item.get("mimeType") != FOLDER:
                raise errors.StorageError(f"{self.label}: {'/'.join(self._base) or self._root} is not a folder")

    # --- folders and files by name ----------------------------------------------------------------------------

    async def _file(self, http: Http, dirs: list[str], name: str) -> dict[str, Any] | None:
        parent = await self._folder_id(http, [*self._base, *dirs], create=False)
        return None if parent is None else await self._child(http, parent, name, folder=False)

    async def _folder_id(self, http: Http, path: list[str], *, create: bool) -> str | None:
        """The id of the folder ``path`` below the root, made (with its parents) when missing if ``create``."""
        parent = self._root
        for depth, name in enumerate(path, 1):
            known = "/".join(path[:depth])
            found = self._folders.get(known) or _id(await self._child(http, parent, name, folder=True))
            if found is None:
                if not create:
                    return None
                async with self._creating:  # one folder of a name, whatever this process writes at once
                    found = _id(await self._child(http, parent, name, folder=True))
                    found = found or await self._mkdir(http, parent, name)
            self._folders[known] = parent = found
        return parent

    async def _mkdir(self, http: Http, parent: str, name: str) -> str:
        body = {"name": name, "mimeType": FOLDER, "parents": [parent]}
        await self._json(http, "POST", f"{self._api}/drive/v3/files", params={"fields": "id", **ALL_DRIVES}, json=body)
        # Drive allows two folders of one name: if another process made one too, everyone takes the oldest.
        found = _id(await self._child(http, parent, name, folder=True))
        if found is None:
            raise errors.StorageError(f"{self.label}: Google Drive lost the folder {name!r} it just made")
        return found

    async def _child(self, http: Http, parent: str, name: str, *, folder: bool) -> dict[str, Any] | None:
        """The oldest file (or folder) called ``name`` in ``parent`` that is not in the bin."""
        kind = f"mimeType {'=' if folder else '!='} '{FOLDER}'"
        query = f"name = '{_quoted(name)}' and '{_quoted(parent)}' in parents and {kind} and trashed = false"
        params = {"q": query, "fields": "files(id,size)", "orderBy": "createdTime", "pageSize": "1", **ALL_DRIVES}
        params["includeItemsFromAllDrives"] = "true"
        listed = await self._json(http, "GET", f"{self._api}/drive/v3/files", params=params)
        files = listed.get("files") or []
        return dict(files[0]) if files else None

    async def _open_session(
        self, http: Http, parent: str, name: str, existing: str | None, total: int, content_type: str | None
    ) -> str:
        """A resumable upload session's URL: a new file in ``parent``, or a new revision of ``existing``."""
        mime = content_type or "application/octet-stream"
        headers = {"X-Upload-Content-Type": mime, "X-Upload-Content-Length": str(total)}
        params = {"uploadType": "resumable", "fields": "id,size", **ALL_DRIVES}
        if existing is None:
            method, url = "POST", f"{self._api}/upload/drive/v3/files"
            meta: dict[str, Any] = {"name": name, "parents": [parent], "mimeType": mime}
        else:
            method, url, meta = "PATCH", f"{self._api}/upload/drive/v3/files/{existing}", {"mimeType": mime}
        response = await self._send(http, method, url, params=params, json=meta, headers=headers)
        async with response:
            if response.status >= 400:
                raise resumable.failure(response.status, await response.text(), f"start uploading {name}")
            location = response.headers.get("Location")
        if not location:
            raise errors.StorageError(f"{self.label}: Google Drive opened no upload session")
        return location

    # --- HTTP and OAuth -------------------------------------------------------------------------------------

    async def _json(
        self,
        http: Http,
        method: str,
        url: str,
        *,
        params: dict[str, str],
        json: dict[str, Any] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        response = await self._send(http, method, url, params=params, json=json)
        async with response:
            if response.status == 404 and missing_ok:
                return None
            if response.status >= 400:
                raise resumable.failure(
                    response.status, await response.text(), f"{method} {url.removeprefix(self._api)}"
                )
            try:
                return await response.json(content_type=None) if response.status != 204 else {}
            except (aiohttp.ClientError, ValueError) as exc:
                raise errors.StorageError(f"{self.label}: Google Drive answered {method} badly") from exc

    async def _send(
        self,
        http: Http,
        method: str,
        url: str,
        *,
        params: dict[str, str],
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> aiohttp.ClientResponse:
        """The response to an authorized call (the caller releases it); signs in again once on a 401."""
        for attempt in (1, 2):
            auth = await self._auth(http)
            try:
                response = await http.request(
                    method, url, params=params, json=json, headers={**(headers or {}), **auth}
                )
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise errors.StorageError(f"{self.label} unreachable: {type(exc).__name__}") from exc
            if response.status == 401 and attempt == 1 and self._refresh is not None:
                response.release()
                self._token = None  # revoked, or expired before its time: get another
                continue
            return response
        raise AssertionError("unreachable")

    async def _auth(self, http: Http) -> dict[str, str]:
        if self._token is None or self._token[1] <= self._clock():
            self._token = await self._sign_in(http)
        return {"Authorization": f"Bearer {self._token[0]}"}

    async def _sign_in(self, http: Http) -> tuple[str, float]:
        """A fresh access token from the refresh token, kept until a minute before Google says it lapses.
        https://developers.google.com/identity/protocols/oauth2/web-server#offline"""
        if self._refresh is None:
            raise errors.StorageError(f"{self.label}: Google refused the access token and there is no refresh_token")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh,
            "client_id": self._client_id,
            "client_secret": self._secret,
        }
        try:
            async with http.post(self._token_url, data=form) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise errors.StorageError(f"{self.label}: cannot reach {self._token_url}: {type(exc).__name__}") from exc
        if response.status >= 400 or not isinstance(body, dict) or "access_token" not in body:
            reason = (body.get("error_description") or body.get("error")) if isinstance(body, dict) else None
            raise errors.StorageError(f"{self.label}: Google refused the sign-in: {reason or response.status}")
        return str(body["access_token"]), self._clock() + int(body.get("expires_in", 3600)) - 60


def from_url(url: str, *, clock: Callable[[], float] = time.monotonic) -> DriveStore:
    """The store ``url`` names; ``errors.InvalidInput`` says what is wrong with one that cannot work. ``clock``
    (seconds) decides when an access token is due for renewal."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    folder = [unquote(s) for s in (parts.netloc + parts.path).split("/") if s]
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise errors.InvalidInput(f"a gdrive:// storage URL takes no {', '.join(unknown)} (it takes {sorted(OPTIONS)})")
    if ".." in folder:
        raise errors.InvalidInput("a gdrive:// storage URL's folder path cannot contain '..'")
    missing = [k for k in ("refresh_token", "client_id", "client_secret") if not options.get(k)]
    if missing and not options.get("access_token"):
        raise errors.InvalidInput(
            f"a gdrive:// storage URL needs {', '.join(missing)} (or an access_token) in its query: "
            "gdrive://wahub/media?refresh_token=…&client_id=…&client_secret=…"
        )
    return DriveStore(
        label=label_of(url),
        folder=folder,
        folder_id=options.get("folder_id") or "root",
        access_token=options.get("access_token"),
        refresh_token=None if missing else options["refresh_token"],
        client_id=options.get("client_id", ""),
        client_secret=options.get("client_secret", ""),
        api_url=options.get("api_url", API_URL),
        token_url=options.get("token_url", TOKEN_URL),
        clock=clock,
    )


def _segments(key: str) -> list[str]:
    segments = key.strip("/").split("/")
    if not all(segments) or ".." in segments:
        raise errors.InvalidInput(f"bad storage key {key!r}")
    return segments


def _id(item: dict[str, Any] | None) -> str | None:
    return None if item is None else str(item["id"])


def _quoted(value: str) -> str:
    """``value`` inside single quotes of a files.list query (``\\`` and ``'`` escaped)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
