"""The control API under `/_fake/`: logs, faults, runtime config, contacts, injected inbound messages.

Not part of Meta's API: tests, benchmarks and the sandbox UI use it to look inside and steer the fake.
Errors here are plain `{"error": {"message": ...}}` with HTTP 400/404.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fakegraph import faults, media
from fakegraph.config import SimulatedContact
from fakegraph.simulation import Simulator, inbound_media
from fakegraph.state import FakeState
from fakegraph.tasks import TaskSet

_RUNTIME_KEYS = {
    "callback_url": (str, type(None)),
    "app_secret": (str,),
    "access_token": (str, type(None)),
    "speed": (int, float),
    "reply": (bool,),
    "reply_rate": (int, float),
    "enforce_window": (bool,),
    "strict_templates": (bool,),
    "max_groups": (int,),
    "public_url": (str, type(None)),
    "unreachable_numbers": (list,),
    "webhook_max_attempts": (int,),
    "webhook_batch_max": (int,),
    "webhook_batch_window_ms": (int, float),
}
_MEDIA_KINDS = {
    "image": "image/png",
    "document": "application/pdf",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "sticker": "image/webp",
}


class ControlError(Exception):
    """A bad control request; answered with HTTP 400 (or `status`)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ControlError(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


class ControlEndpoints:
    """`/_fake/*` of one app."""

    def __init__(self, state: FakeState, simulator: Simulator, tasks: TaskSet) -> None:
        self.state = state
        self.simulator = simulator
        self.tasks = tasks

    def guard(self, handler: Any) -> Any:
        """Turn `ControlError` into a JSON error response."""

        async def endpoint(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except ControlError as exc:
                return _error(str(exc), exc.status)
            return response

        return endpoint

    async def requests(self, request: Request) -> Response:
        """`GET` the Graph request log; `DELETE` clears it."""
        if request.method == "DELETE":
            self.state.requests.clear()
            return JSONResponse({"success": True})
        path = request.query_params.get("path_contains")
        rows = [r for r in self.state.requests if path is None or path in r["path"]]
        return JSONResponse({"data": rows})

    async def messages(self, request: Request) -> Response:
        """Accepted messages with their statuses so far (filters: `to`, `wamid`)."""
        to, wamid = request.query_params.get("to"), request.query_params.get("wamid")
        rows = [
            m.to_dict()
            for m in self.state.messages.values()
            if (to is None or to in (m.to, m.wa_id)) and (wamid is None or m.wamid == wamid)
        ]
        return JSONResponse({"data": rows})

    async def arrivals(self, request: Request) -> Response:
        """`GET` when each `POST /messages` arrived (epoch seconds, in order), with the largest count of them in
        any one-second window; `?phone_number_id=` only those of that number, and `by_number` every number's
        own; `DELETE` clears them."""
        if request.method == "DELETE":
            self.state.message_arrivals.clear()
            return JSONResponse({"success": True})
        wanted = request.query_params.get("phone_number_id")
        by_number: dict[str, list[float]] = {}
        for stamp, number in self.state.message_arrivals:
            by_number.setdefault(number, []).append(stamp)
        times = by_number.get(wanted, []) if wanted else [t for t, _ in self.state.message_arrivals]
        return JSONResponse(
            {
                "data": times,
                "max_per_second": max_in_window(sorted(times), 1.0),
                "by_number": {
                    n: {"count": len(t), "max_per_second": max_in_window(sorted(t), 1.0)} for n, t in by_number.items()
                },
            }
        )

    async def inbound_log(self, request: Request) -> Response:
        """Messages simulated users sent, and whether the business marked them read."""
        rows = [
            {
                "wamid": m.wamid,
                "from": m.wa_id,
                "type": m.type,
                "message": m.message,
                "received_at": m.received_at,
                "read_by_business": m.read_by_business,
            }
            for m in self.state.inbound.values()
        ]
        return JSONResponse({"data": rows})

    async def webhooks(self, request: Request) -> Response:
        """Webhooks posted: payload, attempts, HTTP results (filters: `wamid`, `kind`, `result`)."""
        query = request.query_params
        wamid = query.get("wamid")
        rows = [
            w
            for w in self.state.webhooks
            if (wamid is None or wamid in w["wamids"])
            and all(query.get(key) in (None, str(w.get(key))) for key in ("kind", "result"))
        ]
        return JSONResponse({"data": rows})

    async def faults(self, request: Request) -> Response:
        """`GET` the fault switches, `POST` replaces them all, `DELETE` restores a healthy Meta."""
        if request.method == "POST":
            try:
                self.state.faults = faults.parse(await _json_object(request))
            except ValueError as exc:
                raise ControlError(str(exc)) from exc
        elif request.method == "DELETE":
            self.state.faults = faults.Faults()
        return JSONResponse(self.state.faults.to_dict())

    def _config_view(self) -> dict[str, Any]:
        config = self.state.config
        view = {key: getattr(config, key) for key in _RUNTIME_KEYS}
        view.update(
            {
                "phone_number_id": config.phone_number_id,
                "waba_id": config.waba_id,
                "app_id": config.app_id,
                "display_phone_number": config.display_phone_number,
                "seed": config.seed,
            }
        )
        return view

    async def config(self, request: Request) -> Response:
        """`GET` the runtime config; `POST` changes callback_url, app_secret, speed, reply..."""
        if request.method == "POST":
            body = await _json_object(request)
            unknown = sorted(set(body) - set(_RUNTIME_KEYS))
            if unknown:
                raise ControlError(f"cannot change: {', '.join(unknown)}; changeable: {', '.join(_RUNTIME_KEYS)}")
            for key, value in body.items():
                if (isinstance(value, bool) and bool not in _RUNTIME_KEYS[key]) or not isinstance(
                    value, _RUNTIME_KEYS[key]
                ):
                    raise ControlError(f"{key} has the wrong type")
                if key == "speed" and not (isinstance(value, int | float) and value > 0):
                    raise ControlError("speed must be positive")
            for key, value in body.items():
                setattr(self.state.config, key, value)
        return JSONResponse(self._config_view())

    async def contacts(self, request: Request) -> Response:
        """The simulated contacts."""
        rows = [{"wa_id": c.wa_id, "name": c.name, "user_id": c.user_id} for c in self.state.config.contacts]
        return JSONResponse({"data": rows})

    async def reset(self, request: Request) -> Response:
        """Cancel pending timelines and retries, then forget messages, media, logs and faults."""
        await self.tasks.cancel_all()
        self.simulator.batcher.discard()
        self.state.reset()
        return JSONResponse({"success": True})

    async def inbound(self, request: Request) -> Response:
        """Make a user send a message now: `{"from", "text"}` or `{"from", "type", ...}`; returns the wamid.

        Accepted types: text (`text`), image/document/audio/video/sticker (optional `content_base64`, `tamper`,
        `mime_type`, `caption`, `filename`), location (`latitude`, `longitude`, `name`, `address`),
        reaction (`message_id`, `emoji`), or any raw message object under `message`.
        `context` (a wamid) makes it a reply to that message.
        """
        body = await _json_object(request)
        sender = body.get("from")
        if not isinstance(sender, str) or not sender.isdigit():
            raise ControlError("'from' must be the sender's wa_id (digits)")
        contact = self.state.contact(sender) or SimulatedContact(sender, str(body.get("name") or "WhatsApp User"))
        if body.get("name"):
            contact = SimulatedContact(contact.wa_id, str(body["name"]), contact.user_id)
        context = None
        if body.get("context"):
            context = {"from": self.state.config.display_phone_number, "id": str(body["context"])}
        raw = body.get("message")
        if raw is not None:
            if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
                raise ControlError("'message' must be a message object with a 'type'")
            wamid = await self.simulator.send_inbound(contact, raw["type"], None, context, extra=raw)
        else:
            kind = str(body.get("type") or "text")
            wamid = await self.simulator.send_inbound(contact, kind, self._content(kind, body), context)
        entries = [w for w in self.state.webhooks if w["wamid"] == wamid]
        return JSONResponse(
            {"wamid": wamid, "from": contact.wa_id, "delivered": any(w["result"] == "delivered" for w in entries)}
        )

    def _content(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        if kind == "text":
            text = body.get("text")
            if not isinstance(text, str) or not text:
                raise ControlError("'text' is required for a text message")
            return {"body": text}
        if kind in _MEDIA_KINDS:
            return self._media_content(kind, body)
        if kind == "location":
            if not all(isinstance(body.get(k), int | float) for k in ("latitude", "longitude")):
                raise ControlError("'latitude' and 'longitude' must be numbers")
            return {k: body[k] for k in ("latitude", "longitude", "name", "address") if k in body}
        if kind == "reaction":
            if not body.get("message_id"):
                raise ControlError("'message_id' is required for a reaction")
            return {"message_id": body["message_id"], "emoji": str(body.get("emoji", "👍"))}
        raise ControlError(f"unsupported type {kind!r}; pass a raw 'message' object instead")

    def _media_content(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        encoded = body.get("content_base64")
        if encoded is None:
            data, mime = media.sample_png(), "image/png"
            if kind != "image":
                mime = str(body.get("mime_type") or _MEDIA_KINDS[kind])
                data = f"fakegraph sample {kind}\n".encode()
        else:
            try:
                data = base64.b64decode(str(encoded), validate=True)
            except binascii.Error as exc:
                raise ControlError("'content_base64' is not base64") from exc
            mime = str(body.get("mime_type") or _MEDIA_KINDS[kind])
        item = media.store(self.state, data, mime, body.get("filename"))
        if body.get("tamper"):
            # The bytes served no longer match the SHA-256 Meta reports (a corrupted or substituted file).
            item.data = data + b"\x00tampered"
        content = inbound_media(item)
        if body.get("caption") and kind in ("image", "video", "document"):
            content["caption"] = str(body["caption"])
        if kind == "document":
            content["filename"] = str(body.get("filename") or f"{item.id}.pdf")
        if kind == "audio":
            content["voice"] = bool(body.get("voice", False))
        return content


def max_in_window(times: list[float], window: float) -> int:
    """The most of these sorted times inside any half-open window of this length."""
    return busiest_window(times, window)[0]


def busiest_window(times: list[float], window: float) -> tuple[int, int]:
    """The most of these sorted times inside any half-open window of this length, and the index of the first."""
    best, start, at = 0, 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        if end - start + 1 > best:
            best, at = end - start + 1, start
    return best, at
