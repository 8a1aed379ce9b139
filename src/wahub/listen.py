"""The listening sockets wahub hands to uvicorn (``Server.serve(sockets=...)``): its own port, and the sandbox's
fakes on private loopback ports."""

from __future__ import annotations

import socket


def tcp_socket(family: socket.AddressFamily = socket.AF_INET) -> socket.socket:
    """A TCP socket to bind and listen on, made with its protocol named. asyncio's own event loop turns Nagle's
    algorithm off (``TCP_NODELAY``) on the connections it accepts only when the socket's protocol is
    ``IPPROTO_TCP``; with the default of 0 it leaves it on, and a response written in two parts (uvicorn's headers,
    then the body) waits for the client's delayed ACK: 40 ms on Linux per request. uvloop (``wahub serve``) turns
    it off either way; the stdlib's loop serves where uvloop is not installed, in CLI commands and in tests."""
    return socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)


def loopback(backlog: int = 128) -> socket.socket:
    """A socket listening on a free port of 127.0.0.1."""
    sock = tcp_socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    return sock
