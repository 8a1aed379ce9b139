"""Fetching a file from a URL a user gave (``POST /api/v1/media/from-url``), without letting that URL reach
inside the network: every address a host name resolves to, on every redirect, must be public unless
``WAHUB_ALLOW_PRIVATE_URLS`` is set (the connection then uses exactly the addresses checked, so a second DNS
answer cannot swap them). The download is bounded in time and in size (Meta's limit for the file's type), and
spooled to a temporary file (8 MB in memory, then disk)."""

from __future__ import annotations

import ipaddress
import socket
import tempfile
from dataclasses import dataclass
from typing import IO, Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from wahub import domain, errors

TIMEOUT = aiohttp.ClientTimeout(total=120, connect=10, sock_read=30)
MAX_REDIRECTS = 5
SPOOL_IN_MEMORY = 8 * 1024 * 1024
CHUNK = 256 * 1024


class _PublicOnly(AbstractResolver):
    """Resolves with the system's resolver and refuses hosts with any non-public address."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            _must_be_public(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


# IPv6 ranges that ``is_global`` (Python 3.11) passes but that reach IPv4 addresses or are not unicast on the
# Internet. The ones carrying an IPv4 address are refused whole rather than judged by the address inside: a
# gateway may turn them into anything (127.0.0.1 included), and no real file host is reached only that way.
_NOT_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # IPv4-compatible (deprecated), with :: and ::1
        "::ffff:0:0/96",  # IPv4-mapped
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local use
        "2001::/32",  # Teredo
        "2002::/16",  # 6to4
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
        "ff00::/8",  # multicast
    )
)


def is_public(address: str) -> bool:
    """Whether a URL may reach ``address``: a global unicast address that carries no other address inside."""
    ip = ipaddress.ip_address(address)
    if not ip.is_global or ip.is_multicast:
        return False
    return not (isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _NOT_PUBLIC_V6))


def _must_be_public(host: str, address: str) -> None:
    ip = ipaddress.ip_address(address)
    if not is_public(address):
        raise errors.InvalidInput(
            f"url: {host} is a private, loopback or reserved address ({ip}); wahub fetches only public URLs "
            "unless WAHUB_ALLOW_PRIVATE_URLS is set",
            field="url",
        )


def _check_literal(url: URL, allow_private: bool) -> None:
    """aiohttp does not resolve an address written in the URL itself: check it here."""
    if url.scheme not in ("http", "https") or not url.host:
        raise errors.InvalidInput("url: only http and https URLs are fetched", field="url")
    if allow_private:
        return
    try:
        ipaddress.ip_address(url.host)
    except ValueError:
        return  # a name: the resolver checks what it resolves to
    _must_be_public(url.host, url.host)


@dataclass
class Fetched:
    file: IO[bytes]
    mime_type: str
    filename: str | None


async def fetch(url: str, *, allow_private: bool) -> Fetched:
    """Download ``url`` into a spooled temporary file (the caller closes it); ``errors.InvalidInput`` names
    what is wrong (not http(s), private address, unreachable, not a type Meta takes, too large, too slow)."""
    target = URL(url)
    _check_literal(target, allow_private)
    connector = aiohttp.TCPConnector(resolver=None if allow_private else _PublicOnly())
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - handed to the caller
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as http:
            response = await _follow(http, target, allow_private)
            if response.status >= 400:
                raise errors.InvalidInput(f"url: the server answered {response.status}", field="url")
            name = response.url.path.rsplit("/", 1)[-1] or None
            mime = domain.media_type(response.content_type, name)
            if mime not in domain.MEDIA_TYPES:
                raise errors.InvalidInput(
                    f"url: Meta does not take {mime or 'files without a type'!r} "
                    f"(it takes {', '.join(sorted(domain.MEDIA_TYPES))})",
                    field="url",
                )
            limit = domain.MEDIA_TYPES[mime][1]
            if response.content_length is not None and response.content_length > limit:
                raise errors.InvalidInput(f"url: a {mime} file may be at most {limit:,} bytes", field="url")
            size = 0
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise errors.InvalidInput(f"url: a {mime} file may be at most {limit:,} bytes", field="url")
                spool.write(chunk)
            response.release()
    except errors.WahubError:
        spool.close()
        raise
    except TimeoutError as exc:
        spool.close()
        raise errors.InvalidInput("url: the download took too long", field="url") from exc
    except aiohttp.ClientError as exc:
        spool.close()
        cause: Any = exc.__cause__ or exc.__context__
        if isinstance(cause, errors.InvalidInput):
            raise cause from exc
        raise errors.InvalidInput(f"url: could not download it ({type(exc).__name__})", field="url") from exc
    spool.seek(0)
    return Fetched(spool, mime, name)


async def fetch_data(url: str, *, allow_private: bool, limit: int) -> bytes:
    """The body of ``url`` (a report's CSV or workbook), with the same address checks as ``fetch`` and at most
    ``limit`` bytes; ``errors.InvalidInput`` for a URL wahub does not fetch, ``errors.ReportSourceError`` for
    one that fails now (unreachable, an error status, too slow)."""
    target = URL(url)
    _check_literal(target, allow_private)
    connector = aiohttp.TCPConnector(resolver=None if allow_private else _PublicOnly())
    body = bytearray()
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as http:
            response = await _follow(http, target, allow_private)
            if response.status >= 400:
                response.release()
                raise errors.ReportSourceError(f"url: the server answered {response.status}")
            async for chunk in response.content.iter_chunked(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise errors.InvalidInput(f"url: the file is larger than {limit:,} bytes", field="url")
            response.release()
    except TimeoutError as exc:
        raise errors.ReportSourceError("url: the download took too long") from exc
    except aiohttp.ClientError as exc:
        cause: Any = exc.__cause__ or exc.__context__
        if isinstance(cause, errors.InvalidInput):
            raise cause from exc
        raise errors.ReportSourceError(f"url: could not download it ({type(exc).__name__})") from exc
    return bytes(body)


async def _follow(http: aiohttp.ClientSession, url: URL, allow_private: bool) -> aiohttp.ClientResponse:
    """GET ``url``, following redirects here so that each hop's address is checked."""
    for _ in range(MAX_REDIRECTS + 1):
        response = await http.get(url, allow_redirects=False, headers={"User-Agent": "wahub"})
        if response.status not in (301, 302, 303, 307, 308):
            return response
        location = response.headers.get("Location")
        response.release()
        if not location:
            raise errors.InvalidInput("url: a redirect without a Location", field="url")
        url = url.join(URL(location))
        _check_literal(url, allow_private)
    raise errors.InvalidInput(f"url: more than {MAX_REDIRECTS} redirects", field="url")
