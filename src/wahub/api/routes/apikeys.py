"""``/api/v1/api-keys``: keys for programs (admins only). The key itself is shown once, when it is made."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from wahub import errors
from wahub.api import schemas
from wahub.api.deps import Admin, Ctx, ReadSession
from wahub.store import apikeys, db
from wahub.store.apikeys import Scope
from wahub.store.models import ApiKey

router = APIRouter(prefix="/api/v1/api-keys", tags=["api keys"])


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="what the key is for")
    scopes: list[Scope] = Field(
        default_factory=list, max_length=3, description="what it may do: send, read, admin; empty: all three"
    )


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="the 8 characters after 'wahub_' that name the key")
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> ApiKeyOut:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            scopes=sorted(apikeys.scopes_of(row)),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


class ApiKeyCreated(BaseModel):
    api_key: ApiKeyOut
    key: str = Field(description="the key: store it now, it is not shown again")


@router.get("", response_model=list[ApiKeyOut])
async def list_api_keys(session: ReadSession, _admin: Admin) -> list[ApiKeyOut]:
    """Every API key (never the key itself), oldest first."""
    return [ApiKeyOut.of(row) for row in await apikeys.list_keys(session)]


@router.post("", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(body: ApiKeyIn, ctx: Ctx, _admin: Admin) -> ApiKeyCreated:
    """Make an API key with these scopes; the answer holds the key, shown only this once."""
    async with db.transaction(ctx.sessions) as session:
        row, key = await apikeys.create(session, body.name, apikeys.parse_scopes(body.scopes))
        return ApiKeyCreated(api_key=ApiKeyOut.of(row), key=key)


@router.delete(
    "/{api_key_id}",
    status_code=204,
    response_class=Response,
    responses={409: {"description": "this is the key the request is made with"}},
)
async def revoke_api_key(api_key_id: schemas.Id, ctx: Ctx, admin: Admin) -> Response:
    """Revoke an API key: requests made with it get 401 from then on. A key cannot revoke itself (``wahub apikey
    revoke`` can)."""
    if admin.kind == "key" and admin.id == api_key_id:
        raise errors.Conflict("an API key cannot revoke itself: use another key, a session or wahub apikey revoke")
    async with db.transaction(ctx.sessions) as session:
        row = await session.get(ApiKey, api_key_id)
        if row is None:
            raise errors.NotFound(f"API key {api_key_id} does not exist")
        await apikeys.revoke(session, row.prefix)
    return Response(status_code=204)
