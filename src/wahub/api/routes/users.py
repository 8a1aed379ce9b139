"""``/api/v1/users``: the people who log in (admins only)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

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
        user = await users.disable(session, await _email_of(session, user_id))
        return schemas.UserOut.model_validate(user)


@router.post("/{user_id}/enable", response_model=schemas.UserOut)
async def enable_user(user_id: schemas.Id, ctx: Ctx, _admin: Admin) -> schemas.UserOut:
    """Let a disabled user log in again."""
    async with db.transaction(ctx.sessions) as session:
        user = await users.enable(session, await _email_of(session, user_id))
        return schemas.UserOut.model_validate(user)


@router.post("/{user_id}/reset-password", response_model=schemas.UserCreated)
async def reset_password(user_id: schemas.Id, ctx: Ctx, _admin: Admin) -> schemas.UserCreated:
    """Give a user a new one-time password (in the answer, not shown again); their sessions end."""
    password = users.new_password()
    async with db.transaction(ctx.sessions) as session:
        user = await users.reset_password(session, await _email_of(session, user_id), password)
        return schemas.UserCreated(user=schemas.UserOut.model_validate(user), password=password)


async def _email_of(session: AsyncSession, user_id: int) -> str:
    user = await users.get(session, user_id)
    if user is None:
        raise errors.NotFound(f"user {user_id} does not exist")
    return user.email
