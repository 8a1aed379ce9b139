"""Request bodies before anyone is authenticated: their memory together, each one's size, and their pace.

Whoever can reach the port can send bodies, and a body is read before its signature or API key is checked. So:

- **Size.** A body over its route's limit is refused with 413: up front by ``Content-Length``, or as soon as
  the bytes read pass the limit (a chunked body declares nothing).
- **Memory together.** Every connection's body bytes held in memory count against one budget of the process
  (``WAHUB_BODY_MEMORY_MB``). A chunk that does not fit is refused at once: 503 with ``Retry-After``, and the
  connection closed. Refused, not kept waiting for room: a waiting connection still holds what uvicorn read
  for it before it stopped reading the socket (up to about 300 KB), which the budget cannot see; with 500
  connections waiting one second, the peak measured twice as high (docs/benchmarks.md). Meta retries any
  webhook it did not get a 200 for, and an API client is told when to retry.
- **Pace.** A body must arrive within ``floor`` seconds plus one second per ``rate`` bytes received so far;
  one behind that is answered 408 and its connection closed. One sweep a fraction of a second checks every
  body being read: a timer per request would cost the webhook path more than the rest of its work.
- **Memory back.** Body chunks (tens of KB each) come from glibc's heap, which keeps freed pages: after a
  flood, RSS stayed about one budget above where it started. The sweep trims the heap (``malloc_trim``) once a
  peak of bodies has been freed; that alone brought it back (measured: pinning malloc's mmap threshold did not).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wahub import domain, errors
from wahub.api import errors as api_errors
from wahub.api import headers

MB = 1024 * 1024
RETRY_AFTER = 5.0  # seconds, for a body refused because the budget is full
DRAIN_BYTES = 8 * MB  # what is read and thrown away of a body too large, so that its sender sees the 413
DRAIN_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Size:
    """A route's body limits: at most ``limit`` bytes, of which at most ``held`` are in memory at once (a
    multipart upload goes to a temporary file past its first megabyte)."""

    limit: int
    held: int


# 1 MB is far above the largest send Meta takes: an interactive list of 10 sections of 10 rows, every text at
# its maximum and every character escaped as \uXXXX, is about 190 KB.
JSON = Size(1 * MB, 1 * MB)
# Meta's largest media file plus the multipart envelope; in memory: one file's spool (1 MB) and small fields.
UPLOAD = Size(max(size for _kinds, size in domain.MEDIA_TYPES.values()) + 1 * MB, 2 * MB)
# A chat export with its media (``POST /api/v1/imports``, admins only): spooled to a temporary file as an upload.
IMPORT = Size(2048 * MB, 2 * MB)


@dataclass(frozen=True, slots=True)
class Limits:
    budget: int = 32 * MB  # body bytes held in memory at once, all connections together
    floor: float = 5.0  # seconds any body may take
    rate: int = 512 * 1024  # bytes per second a body must keep up after the floor (10.9 s for 3 MB)
    check_every: float = 0.5  # seconds between two sweeps of the bodies being read
    trim_after: int = 8 * MB  # trim the heap once this many body bytes held at a peak have been freed


class Bodies:
    """The bodies being read in one process (one per app): the budget they share, and the sweep."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self.held = 0
        self.peak = 0  # the most held since the last trim
        self._reading: dict[Reading, None] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> Reading:
        """A body about to be read by the current task; ``done()`` gives back what it held."""
        # The task, from the loop seen last: asking for the running loop costs a system call (getpid) each time.
        task = asyncio.current_task(self._loop) if self._loop is not None else None
        if task is None or self._loop is None:
            task = asyncio.current_task()
            assert task is not None, "bodies are read in a task"
            self._loop = task.get_loop()
        loop = self._loop
        reading = Reading(self, loop.time(), task)  # uvloop's time is the loop's cached clock: no system call
        self._reading[reading] = None
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep(), name="body-sweep")
        return reading

    async def read(self, receive: Receive, declared: int | None, limit: int) -> bytes | None:
        """A whole body, at most ``limit`` bytes, holding its room in the budget only while it is read
        (``None`` if the client left). Raises BodyTooLarge, BodyTooSlow or Busy. (The webhook path: kept to
        the fewest calls, as ``Reading.next`` and ``take`` inlined.)"""
        if declared is not None and declared > limit:
            raise errors.BodyTooLarge(f"bodies here are limited to {limit} bytes", limit=limit)
        reading = self.start()
        chunks: list[bytes] = []
        try:
            while True:
                if chunks and reading.task.get_loop().time() > reading.deadline():
                    raise reading.too_slow()
                reading.waiting = True
                try:
                    message = await receive()
                except asyncio.CancelledError:
                    if reading.late and reading.task.uncancel() == 0:
                        raise reading.too_slow() from None
                    raise
                finally:
                    reading.waiting = False
                if message["type"] != "http.request":
                    return None
                chunk: bytes = message.get("body", b"")
                if chunk:
                    reading.received += len(chunk)
                    if reading.received > limit:
                        raise errors.BodyTooLarge(f"bodies here are limited to {limit} bytes", limit=limit)
                    if self.held + len(chunk) > self.limits.budget:
                        raise self.busy()
                    self.held += len(chunk)
                    reading.held += len(chunk)
                    chunks.append(chunk)
                    if self.held > self.peak:
                        self.peak = self.held
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            del self._reading[reading]
            self.held -= reading.held

    def busy(self) -> errors.Busy:
        return errors.Busy("too many request bodies are being read at once; retry shortly", retry_after=RETRY_AFTER)

    async def _sweep(self) -> None:
        """Every ``check_every`` seconds while bodies are read: cancel the reads behind their pace (``next``
        turns that into BodyTooSlow), and trim the heap after a peak of bodies was freed."""
        loop = asyncio.get_running_loop()
        try:
            while self._reading:
                await asyncio.sleep(self.limits.check_every)
                now = loop.time()
                for reading in list(self._reading):
                    if reading.waiting and not reading.late and now > reading.deadline():
                        reading.late = True
                        reading.task.cancel()
                self._trim_if_freed()
        finally:
            self._sweeper = None
        self._trim_if_freed()

    async def stop(self) -> None:
        """Stop the sweep (the app's shutdown)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    def _trim_if_freed(self) -> None:
        if self.peak - self.held >= self.limits.trim_after:
            self.peak = self.held
            trim_heap()


class Reading:
    """One body being read: what it received and holds of the budget, and whether the sweep found it late."""

    __slots__ = ("_bodies", "held", "late", "received", "started", "task", "waiting")

    def __init__(self, bodies: Bodies, started: float, task: asyncio.Task[object]) -> None:
        self._bodies = bodies
        self.started = started
        self.task = task  # the one reading, which the sweep cancels when it is late
        self.received = 0
        self.held = 0
        self.waiting = False  # waiting for the client: where the sweep's cancellation lands
        self.late = False

    def deadline(self) -> float:
        limits = self._bodies.limits
        return self.started + limits.floor + self.received / limits.rate

    async def next(self, receive: Receive) -> Message:
        """The next message from the client; BodyTooSlow if the sweep found this body behind its pace."""
        if self.task.get_loop().time() > self.deadline():
            raise self.too_slow()
        self.waiting = True
        try:
            return await receive()
        except asyncio.CancelledError:
            # The sweep's cancellation, unless someone else cancelled too (the server stopping): as asyncio.timeout.
            if self.late and self.task.uncancel() == 0:
                raise self.too_slow() from None
            raise
        finally:
            self.waiting = False

    def take(self, n: int, limit: int, held: int) -> None:
        """Count ``n`` more bytes received: BodyTooLarge past ``limit``, Busy if the budget has no room for what
        is kept in memory (up to ``held`` of them)."""
        self.received += n
        if self.received > limit:
            raise errors.BodyTooLarge(f"bodies here are limited to {limit} bytes", limit=limit)
        more = min(self.received, held) - self.held
        if more > 0:
            bodies = self._bodies
            if bodies.held + more > bodies.limits.budget:
                raise bodies.busy()
            bodies.held += more
            bodies.peak = max(bodies.peak, bodies.held)
            self.held += more

    def unwatch(self) -> None:
        """Stop checking this body's pace: once it is complete or answered, the app may wait on ``receive``
        (for a disconnect) as long as it likes."""
        self._bodies._reading.pop(self, None)

    def done(self) -> None:
        self._bodies._reading.pop(self, None)
        self._bodies.held -= self.held
        self.held = 0

    def too_slow(self) -> errors.BodyTooSlow:
        limits = self._bodies.limits
        return errors.BodyTooSlow(
            f"the body arrived too slowly: {self.received} bytes in {limits.floor:g} s plus 1 s per"
            f" {limits.rate} bytes",
            received=self.received,
        )


REFUSALS = (errors.BodyTooLarge, errors.BodyTooSlow, errors.Busy)


async def refuse(send: Send, exc: errors.WahubError, receive: Receive) -> None:
    """Answer ``exc`` and close the connection. A body too large is read on and thrown away for a little while
    (at most ``DRAIN_BYTES`` and ``DRAIN_SECONDS``) before the close: closing a socket with unread bytes resets
    the connection, and a client still sending (most do not look for an early answer) would lose the 413 and
    see only the reset. A body too slow or refused for room is not worth that: its connection closes at once."""
    response = api_errors.response(exc)
    response.headers["Connection"] = "close"
    start_headers = [*response.raw_headers, *headers.STRICT_HEADERS]
    start = {"type": "http.response.start", "status": response.status_code, "headers": start_headers}
    await send(start)
    if not isinstance(exc, errors.BodyTooLarge):
        await send({"type": "http.response.body", "body": response.body})
        return
    await send({"type": "http.response.body", "body": response.body, "more_body": True})
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while drained < DRAIN_BYTES:
                message = await receive()
                drained += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
    await send({"type": "http.response.body", "body": b""})


class BodyLimits:
    """Pure ASGI middleware (no BaseHTTPMiddleware, which would buffer and add a task per request): each
    request's body is held to its route's ``Size`` (``sizes`` by method and path, else ``default``), to the
    budget and to the pace. A refusal is answered here; the app then sees the client leave."""

    def __init__(
        self, app: ASGIApp, bodies: Bodies, sizes: Mapping[tuple[str, str], Size], default: Size = JSON
    ) -> None:
        self.app = app
        self._bodies = bodies
        self._sizes = sizes
        self._default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        size = self._sizes.get((scope["method"], scope["path"]), self._default)
        declared = content_length(scope)
        if declared is not None and declared > size.limit:
            too_large = errors.BodyTooLarge(f"bodies here are limited to {size.limit} bytes", limit=size.limit)
            await refuse(send, too_large, receive)
            return
        guarded = _Guarded(self._bodies.start(), size, receive, send)
        try:
            await self.app(scope, guarded.receive, guarded.send)
        except Exception:
            if guarded.refused is None:
                raise
            # The app failed on the disconnect it was given after the refusal was answered: nothing to add.
        finally:
            guarded.reading.done()


class _Guarded:
    __slots__ = ("_receive", "_send", "complete", "reading", "refused", "size", "started")

    def __init__(self, reading: Reading, size: Size, receive: Receive, send: Send) -> None:
        self.reading = reading
        self.size = size
        self._receive = receive
        self._send = send
        self.complete = False
        self.started = False
        self.refused: errors.WahubError | None = None

    async def receive(self) -> Message:
        if self.refused is not None:
            return {"type": "http.disconnect"}
        if self.complete:
            return await self._receive()
        try:
            message = await self.reading.next(self._receive)
            if message["type"] == "http.request":
                chunk: bytes = message.get("body", b"")
                if chunk:
                    self.reading.take(len(chunk), self.size.limit, self.size.held)
                if not message.get("more_body", False):
                    self.complete = True
                    self.reading.unwatch()
            return message
        except REFUSALS as exc:
            self.refused = exc
            if not self.started:
                self.started = True
                await refuse(self._send, exc, self._receive)
            return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.refused is not None:
            return  # the refusal was the answer
        if message["type"] == "http.response.start":
            self.started = True
            self.reading.unwatch()  # answering before the body is read (a 401, a 404): no pace to keep
        await self._send(message)


def content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            text = bytes(value).decode("latin-1")
            return int(text) if text.isdigit() else None
    return None


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def trim_heap() -> None:
    """Give the heap's free pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
