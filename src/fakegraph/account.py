"""Read-only account objects: the phone number, the WhatsApp Business Account, its templates and numbers.

`GET /{id}` is shared with media: the same path answers for a phone number, a WABA or a media id,
as on graph.facebook.com.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fakegraph import errors, templates
from fakegraph.media import MediaEndpoints
from fakegraph.state import FakeState


class AccountEndpoints:
    """Graph objects of the single phone number and WABA fakegraph plays."""

    def __init__(self, state: FakeState, media: MediaEndpoints) -> None:
        self.state = state
        self.media = media

    def phone_number(self) -> dict[str, Any]:
        """The phone number object as `GET /{phone_number_id}` returns it."""
        config = self.state.config
        digits = config.display_phone_number
        return {
            "verified_name": config.verified_name,
            "code_verification_status": "VERIFIED",
            "display_phone_number": f"+{digits[0]} {digits[1:4]}-{digits[4:7]}-{digits[7:]}"
            if len(digits) == 11
            else f"+{digits}",
            "quality_rating": "GREEN",
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"},
            "messaging_limit_tier": "TIER_1K",
            "id": config.phone_number_id,
        }

    async def get_object(self, request: Request) -> Response:
        """`GET /{id}`: phone number, WABA, or a media object's URL."""
        object_id = request.path_params["object_id"]
        config = self.state.config
        if object_id == config.phone_number_id:
            return JSONResponse(self._fields(request, self.phone_number()))
        if object_id == config.waba_id:
            waba = {
                "id": config.waba_id,
                "name": f"{config.verified_name} WABA",
                "currency": "USD",
                "timezone_id": "1",
                "message_template_namespace": "fakegraph_sandbox_namespace",
            }
            return JSONResponse(self._fields(request, waba))
        return await self.media.retrieve(request)

    async def delete_object(self, request: Request) -> Response:
        """`DELETE /{id}`: only media can be deleted."""
        return await self.media.delete(request)

    async def phone_numbers(self, request: Request) -> Response:
        """`GET /{waba_id}/phone_numbers`."""
        self._require_waba(request, "get")
        return JSONResponse(
            {"data": [self.phone_number()], "paging": {"cursors": {"before": "MAZDZD", "after": "MAZDZD"}}}
        )

    async def message_templates(self, request: Request) -> Response:
        """`GET /{waba_id}/message_templates` with `limit`, `after`, `name`, `status`."""
        self._require_waba(request, "get")
        query = request.query_params
        limit_raw = query.get("limit")
        if limit_raw is not None and not limit_raw.isdigit():
            raise errors.invalid_parameter("Param limit must be a positive integer")
        base = (self.state.config.public_url or str(request.base_url)).rstrip("/") + request.url.path
        return JSONResponse(
            templates.page(
                base,
                self.state.templates,
                limit=int(limit_raw) if limit_raw else None,
                after=query.get("after"),
                name=query.get("name"),
                status=query.get("status"),
            )
        )

    def _require_waba(self, request: Request, method: str) -> None:
        object_id = request.path_params["object_id"]
        if object_id != self.state.config.waba_id:
            raise errors.unknown_object(object_id, method)

    @staticmethod
    def _fields(request: Request, obj: dict[str, Any]) -> dict[str, Any]:
        """Honour Graph's `fields=` selection (the id always comes back)."""
        wanted = request.query_params.get("fields")
        if not wanted:
            return obj
        names = {name.strip() for name in wanted.split(",")} | {"id"}
        return {key: value for key, value in obj.items() if key in names}
