"""What the bench scripts that start servers share: a free port, waiting for a server to listen, and the one
error a bench raises when it cannot measure."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


class BenchError(Exception):
    """The bench could not measure (a server did not start, a tool is missing...)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Return once something listens on ``port``; BenchError if ``proc`` exits first (with its log's tail) or
    nothing listens within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the server exited:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise BenchError(f"the server did not listen on {port}")
