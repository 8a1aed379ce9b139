"""SharePoint / OneDrive for Business through Microsoft Graph (OpenDAL has no backend for it).

``sharepoint://contoso.sharepoint.com/sites/Marketing/wahub-media?tenant_id=…&client_id=…&client_secret=…``
names a folder (``wahub-media``) in the default document library of the site ``/sites/Marketing``. wahub signs in
as an app (client credentials, permission ``Sites.ReadWrite.All`` or ``Sites.Selected``).

Writes spool to a temporary file (in memory up to 8 MB, then on disk), so the size is known, then go up through
an upload session in 10 MiB fragments; SharePoint shows the file only when the last fragment is in, so a reader
never sees half a file. https://learn.microsoft.com/en-us/graph/api/driveitem-createuploadsession
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp

from wahub import errors
from wahub.storage import spooled
from wahub.storage.base import READ_CHUNK

GRAPH_URL = "https://graph.microsoft.com/v1.0"
LOGIN_URL = "https://login.microsoftonline.com"
FRAGMENT = 32 * 320 * 1024  # 10 MiB: fragments must be multiples of 320 KiB
SPOOL_IN_MEMORY = 8 * 1024 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=None, connect=30, sock_read=120)


class SharePointStore:
    """A ``BlobStore`` in a SharePoint document library folder."""

    def __init__(
        self,
        *,
        host: str,
        site_path: str,
        folder: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        graph_url: str = GRAPH_URL,
        login_url: str = LOGIN_URL,
    ) -> None:
        self.label = f"sharepoint://{host}{site_path}/{folder}".rstrip("/")
        self._host, self._site_path, self._folder = host, site_path, folder.strip("/")
        self._tenant, self._client_id, self._secret = tenant_id, client_id, client_secret
        self._graph, self._login = graph_url.rstrip("/"), login_url.rstrip("/")
        self._token: tuple[str, float] | None = None
        self._site_id: str | None = None

    # --- the BlobStore interface ----------------------------------------------------------------------------

    async def write(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str | None = None) -> int:
        path = _path(key)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            async for chunk in chunks:  # if this raises, nothing has been sent
                spool.write(chunk)
            total = spool.tell()
            spool.seek(0)
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
                if total == 0:
                    await self._call(http, "PUT", f"{await self._item(http, path)}:/content", data=b"")
                    return 0
                session = await self._call(
                    http,
                    "POST",
                    f"{await self._item(http, path)}:/createUploadSession",
                    json={"item": {"@microsoft.graph.conflictBehavior": "replace"}},
                )
                upload_url = str(session["uploadUrl"])
                try:
                    await _upload(http, upload_url, spool, total)
                except BaseException:
                    try:
                        async with http.delete(upload_url):  # cancel: the partial file is dropped
                            pass
                    except aiohttp.ClientError:
                        pass
                    raise
        return total

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        if start < 0 or (end is not None and end < start):
            raise errors.InvalidInput(f"bad byte range {start}-{end}")
        if end is not None and end == start:
            return
        path = _path(key)
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            url = f"{await self._item(http, path)}:/content"
            headers = await self._auth(http)
            if start or end is not None:
                headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
            try:
                async with http.get(url, headers=headers) as response:
                    if response.status == 404:
                        raise errors.NotFound(f"no stored media at {key}")
                    if response.status == 416:
                        return
                    if response.status >= 400:
                        raise _failure(response.status, await response.text(), f"read {key}")
                    async for chunk in response.content.iter_chunked(READ_CHUNK):
                        yield chunk
            except aiohttp.ClientError as exc:
                raise errors.StorageError(f"could not read {key}: {type(exc).__name__}") from exc

    async def size(self, key: str) -> int | None:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            item = await self._call(http, "GET", await self._item(http, _path(key)), missing_ok=True)
        return None if item is None else int(item.get("size", 0))

    async def delete(self, key: str) -> None:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            await self._call(http, "DELETE", await self._item(http, _path(key)), missing_ok=True)

    async def check(self) -> None:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            await self._call(http, "GET", f"{self._graph}/sites/{await self._site(http)}/drive")

    # --- Microsoft Graph -------------------------------------------------------------------------------------

    async def _item(self, http: aiohttp.ClientSession, path: str) -> str:
        full = f"{self._folder}/{path}" if self._folder else path
        return f"{self._graph}/sites/{await self._site(http)}/drive/root:/{quote(full)}"

    async def _site(self, http: aiohttp.ClientSession) -> str:
        if self._site_id is None:
            site = await self._call(http, "GET", f"{self._graph}/sites/{self._host}:{quote(self._site_path)}")
            self._site_id = str(site["id"])
        return self._site_id

    async def _auth(self, http: aiohttp.ClientSession) -> dict[str, str]:
        if self._token is None or self._token[1] < time.monotonic():
            form = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._secret,
                "scope": "https://graph.microsoft.com/.default",
            }
            try:
                async with http.post(f"{self._login}/{self._tenant}/oauth2/v2.0/token", data=form) as response:
                    body = await response.json(content_type=None)
                    if response.status >= 400 or "access_token" not in body:
                        reason = body.get("error_description") or body.get("error") or response.status
                        raise errors.StorageError(f"{self.label}: Microsoft refused the sign-in: {reason}")
            except aiohttp.ClientError as exc:
                raise errors.StorageError(f"{self.label}: cannot reach {self._login}: {type(exc).__name__}") from exc
            self._token = (str(body["access_token"]), time.monotonic() + int(body.get("expires_in", 3600)) - 60)
        return {"Authorization": f"Bearer {self._token[0]}"}

    async def _call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        url: str,
        *,
        missing_ok: bool = False,
        json: dict[str, Any] | None = None,
        data: bytes | None = None,
    ) -> Any:
        try:
            async with http.request(method, url, headers=await self._auth(http), json=json, data=data) as response:
                if response.status == 404 and missing_ok:
                    return None
                if response.status >= 400:
                    raise _failure(response.status, await response.text(), f"{method} {url}")
                return await response.json(content_type=None) if response.status != 204 else {}
        except aiohttp.ClientError as exc:
            raise errors.StorageError(f"{self.label} unreachable: {type(exc).__name__}") from exc


async def _upload(http: aiohttp.ClientSession, upload_url: str, spool: Any, total: int) -> None:
    start = 0
    while start < total:
        length = min(FRAGMENT, total - start)
        end = start + length - 1
        headers = {"Content-Range": f"bytes {start}-{end}/{total}", "Content-Length": str(length)}
        # The upload URL carries its own authorization; Microsoft refuses a bearer token on it.
        async with http.put(upload_url, data=spooled.pieces(spool, start, length), headers=headers) as response:
            if response.status >= 400:
                raise _failure(response.status, await response.text(), "upload a fragment")
            if response.status in (200, 201):
                if end != total - 1:
                    raise errors.StorageError("SharePoint finished the upload before the last fragment")
                return
        start = end + 1
    raise errors.StorageError("SharePoint did not confirm the upload")


def from_url(url: str) -> SharePointStore:
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    segments = [s for s in parts.path.split("/") if s]
    if not parts.netloc or len(segments) < 2 or segments[0] not in ("sites", "teams"):
        raise errors.InvalidInput(
            "a sharepoint:// storage URL names the host, the site and a folder: "
            "sharepoint://contoso.sharepoint.com/sites/Marketing/wahub-media?tenant_id=…&client_id=…&client_secret=…"
        )
    missing = [k for k in ("tenant_id", "client_id", "client_secret") if not options.get(k)]
    if missing:
        raise errors.InvalidInput(f"a sharepoint:// storage URL needs {', '.join(missing)} in its query")
    return SharePointStore(
        host=parts.netloc,
        site_path="/" + "/".join(segments[:2]),
        folder="/".join(segments[2:]),
        tenant_id=options["tenant_id"],
        client_id=options["client_id"],
        client_secret=options["client_secret"],
        graph_url=options.get("graph_url", GRAPH_URL),
        login_url=options.get("login_url", LOGIN_URL),
    )


def _path(key: str) -> str:
    clean = key.strip("/")
    if not clean or ".." in clean.split("/"):
        raise errors.InvalidInput(f"bad storage key {key!r}")
    return clean


def _failure(status: int, text: str, doing: str) -> errors.StorageError:
    return errors.StorageError(f"SharePoint answered {status} to {doing}: {text[:200]}")
