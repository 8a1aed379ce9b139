"""The control API under `/_fake/`: logs, faults, runtime config, contacts, simulated inbound messages.

Not part of Twilio's API: tests, benchmarks and the sandbox use it to look inside and steer the fake. Errors
are plain `{"error": {"message": ...}}` with HTTP 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from faketwilio import faults, replies
from faketwilio.config import SimulatedContact
from faketwilio.delivery import Form
from faketwilio.simulation import Simulator
from faketwilio.state import FakeState
from faketwilio.tasks import TaskSet

_RUNTIME_KEYS: dict[str, tuple[type, ...]] = {
    "inbound_url": (str, type(None)),
    "callbacks": (bool,),
    "auth_token": (str,),
    "speed": (int, float),
    "reply": (bool,),
    "reply_rate": (int, float),
    "enforce_window": (bool,),
    "public_url": (str, type(None)),
    "unreachable_numbers": (list,),
    "opted_out_numbers": (list,),
    "webhook_max_attempts": (int,),
}


class ControlError(Exception):
    """A bad control request, answered with HTTP 400."""


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
    def __init__(self, state: FakeState, simulator: Simulator, tasks: TaskSet) -> None:
        self.state = state
        self.simulator = simulator
        self.tasks = tasks

    def guard(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                response: Response = await handler(request)
            except ControlError as exc:
                return JSONResponse({"error": {"message": str(exc)}}, status_code=400)
            return response

        return endpoint

    async def requests(self, request: Request) -> Response:
        """`GET` the REST request log (filter `path_contains`); `DELETE` clears it."""
        if request.method == "DELETE":
            self.state.requests.clear()
            return JSONResponse({"success": True})
        path = request.query_params.get("path_contains")
        return JSONResponse({"data": [r for r in self.state.requests if path is None or path in r["path"]]})

    async def messages(self, request: Request) -> Response:
        """Accepted messages with their statuses and media fetches (filters `to`: wa_id or address, `sid`)."""
        to, sid = request.query_params.get("to"), request.query_params.get("sid")
        rows = [
            m.to_dict()
            for m in self.state.messages.values()
            if (to is None or to in (m.to, m.wa_id)) and (sid is None or m.sid == sid)
        ]
        return JSONResponse({"data": rows})

    async def arrivals(self, request: Request) -> Response:
        """`GET` when each send arrived, with the most in any one-second window; `DELETE` clears them."""
        if request.method == "DELETE":
            self.state.message_arrivals.clear()
            return JSONResponse({"success": True})
        times = sorted(self.state.message_arrivals)
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            best = max(best, end - start + 1)
        return JSONResponse({"data": times, "max_per_second": best})

    async def inbound_log(self, request: Request) -> Response:
        rows = [
            {"sid": m.sid, "from": m.wa_id, "form": dict(m.params), "received_at": m.received_at}
            for m in self.state.inbound.values()
        ]
        return JSONResponse({"data": rows})

    async def typing(self, request: Request) -> Response:
        return JSONResponse({"data": list(self.state.typing)})

    async def webhooks(self, request: Request) -> Response:
        """Callbacks posted: form, attempts, results (filters `sid`, `kind`, `status`, `result`)."""
        query = request.query_params
        rows = [
            w
            for w in self.state.webhooks
            if all(query.get(key) in (None, str(w.get(key))) for key in ("sid", "kind", "status", "result"))
        ]
        return JSONResponse({"data": rows})

    async def faults(self, request: Request) -> Response:
        """`GET` the fault switches, `POST` replaces them all, `DELETE` restores a healthy Twilio."""
        if request.method == "POST":
            try:
                self.state.faults = faults.parse(await _json_object(request))
            except ValueError as exc:
                raise ControlError(str(exc)) from exc
        elif request.method == "DELETE":
            self.state.faults = faults.Faults()
        return JSONResponse(self.state.faults.to_dict())

    async def config(self, request: Request) -> Response:
        """`GET` the runtime config; `POST` changes inbound_url, auth_token, speed, reply, enforce_window..."""
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
        config = self.state.config
        view = {key: getattr(config, key) for key in _RUNTIME_KEYS if key != "auth_token"}
        view |= {
            "account_sid": config.account_sid,
            "sender": config.sender,
            "seed": config.seed,
            "messaging_service_sid": config.messaging_service_sid,
        }
        return JSONResponse(view)

    async def contacts(self, request: Request) -> Response:
        return JSONResponse({"data": [{"wa_id": c.wa_id, "name": c.name} for c in self.state.config.contacts]})

    async def reset(self, request: Request) -> Response:
        """Cancel pending timelines and retries, then forget messages, media, logs and faults."""
        await self.tasks.cancel_all()
        self.state.reset()
        return JSONResponse({"success": True})

    async def inbound(self, request: Request) -> Response:
        """Make a user write now; returns the MessageSid and whether the callback was taken.

        `{"from": wa_id, "text": "...", "name"?}`; a medium with `"media": {"content_base64", "content_type"}`
        (or `"media": "sample"`: a PNG); `"location": {"latitude", "longitude", "address"?, "label"?}`;
        `"button": {"text", "payload"}`; `"reply_to"`: the MessageSid answered; `"extra"`: more form fields.
        """
        body = await _json_object(request)
        sender = body.get("from")
        if not isinstance(sender, str) or not sender.isdigit():
            raise ControlError("'from' must be the sender's WaId (digits)")
        contact = self.state.contact(sender) or SimulatedContact(sender, str(body.get("name") or "WhatsApp User"))
        if body.get("name"):
            contact = SimulatedContact(contact.wa_id, str(body["name"]))
        extra: Form = []
        message_type = None
        if isinstance(body.get("location"), dict):
            where = body["location"]
            if not all(isinstance(where.get(k), int | float) for k in ("latitude", "longitude")):
                raise ControlError("'location' needs numeric 'latitude' and 'longitude'")
            extra += [("Latitude", str(where["latitude"])), ("Longitude", str(where["longitude"]))]
            extra += [
                (name, str(where[key])) for key, name in (("address", "Address"), ("label", "Label")) if where.get(key)
            ]
            message_type = "location"
        if isinstance(body.get("button"), dict):
            extra += [
                ("ButtonText", str(body["button"].get("text", ""))),
                ("ButtonPayload", str(body["button"].get("payload", ""))),
            ]
            message_type = "button"
        if isinstance(body.get("extra"), dict):
            extra += [(str(k), str(v)) for k, v in body["extra"].items()]
        sid = await self.simulator.send_inbound(
            contact,
            str(body.get("text") or ""),
            media=self._media(body.get("media")),
            replied_to=str(body["reply_to"]) if body.get("reply_to") else None,
            extra=extra,
            message_type=message_type,
        )
        delivered = any(w["result"] == "delivered" for w in self.state.webhooks if w["sid"] == sid)
        return JSONResponse({"sid": sid, "from": contact.wa_id, "delivered": delivered})

    def _media(self, value: Any) -> list[tuple[bytes, str]]:
        if value is None:
            return []
        if value == "sample":
            return [(replies.sample_png(), "image/png")]
        if not isinstance(value, dict) or not isinstance(value.get("content_type"), str):
            raise ControlError('\'media\' must be "sample" or {"content_base64", "content_type"}')
        try:
            data = base64.b64decode(str(value.get("content_base64", "")), validate=True)
        except binascii.Error as exc:
            raise ControlError("'content_base64' is not base64") from exc
        return [(data, value["content_type"])]
