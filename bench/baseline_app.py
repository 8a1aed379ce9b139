"""The baseline of the ingest benchmark: a bare ASGI app that reads the request body and answers 200.

It does what any webhook receiver must do at the least (take the bytes off the socket, answer), so wahub's
figures divided by this one's tell what wahub's own work costs, whatever the machine. Served by uvicorn
like wahub: ``python -m uvicorn baseline_app:app --app-dir bench --no-access-log``.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, Any]

_START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
_BODY = {"type": "http.response.body", "body": b""}


async def app(scope: Message, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send(_START)
    await send(_BODY)
