"""wahub's listening sockets (its port, the sandbox's fakes) turn Nagle's algorithm off on the connections they
accept under asyncio's own event loop too: uvicorn writes a response's headers and body apart, and with Nagle on
the body waited for the client's delayed ACK, 40 ms per request (every API test paid it: /healthz took 48 ms)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from wahub import listen, runtime


class Accepted(asyncio.Protocol):
    def __init__(self, found: asyncio.Queue[int]) -> None:
        self.found = found

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        self.found.put_nowait(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        transport.close()


@pytest.mark.parametrize(
    "make", [listen.loopback, lambda: runtime._bind("127.0.0.1", 0)], ids=["loopback", "wahub serve's port"]
)
async def test_accepted_connections_have_nagle_off_on_the_stdlib_loop(make: Callable[[], socket.socket]) -> None:
    loop = asyncio.get_running_loop()
    assert not type(loop).__module__.startswith("uvloop")  # uvloop sets TCP_NODELAY itself: this is the other case
    found: asyncio.Queue[int] = asyncio.Queue()
    sock = make()
    server = await loop.create_server(lambda: Accepted(found), sock=sock)
    try:
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        assert await asyncio.wait_for(found.get(), 5) != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
