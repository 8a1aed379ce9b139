"""``/api/v1/users``: the people who log in (admins only)."""

from __future__ import annotations

from fastapi import APIRouter

from wahub import errors
from wahub.api import schemas
from wahub.api.deps import Admin, Ctx, ReadSession
from wahub.store import db, users

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("", response_model=list[schemas.UserOut])
async def list_users(session: ReadSession, _admin: Admin) -> list[schemas.UserOut]:
    """Every user, oldest first."""
    return [schemas.UserOut.model_validate(user) for user in await users.list_users(session)]


@router.post(
    "",
    status_code=201,
    response_model=schemas.UserCreated,
    responses={409: {"description": "a user has this email already"}},
)
async def add_user(body: schemas.UserIn, ctx: Ctx, _admin: Admin) -> schemas.UserCreated:
    """Add a user; the answer holds a one-time password to hand over (it is not shown again)."""
    password = users.new_password()
    async with db.transaction(ctx.sessions) as session:
        user = await users.add(session, body.email, body.name, body.role, password)
        out = schemas.UserOut.model_validate(user)
    return schemas.UserCreated(user=out, password=password)


@router.post("/{user_id}/disable", response_model=schemas.UserOut)
async def disable_user(user_id: schemas.Id, ctx: Ctx, _admin: Admin) -> schemas.UserOut:
    """Disable a user: they cannot log in any more, and their sessions end."""
    async with db.transaction(ctx.sessions) as session:
        user = await users.get(session, user_id)
        if user is None:
            raise errors.NotFound(f"user {user_id} does not exist")
        user = await users.disable(session, user.email)
        return schemas.UserOut.model_validate(user)
