"""The admin pages (``/admin/…``, admins only: ``auth.AdminViewer``): users, API keys, accounts, webhook
subscriptions with their failed deliveries, and the statistics dashboard.

Plain HTML forms, each with the CSRF token (checked before anything else of the form is read). A change answers
a redirect back to its page with a fixed notice (``?done=…``), except where a secret is shown once (a new API
key, a user's one-time password): that page is the answer itself. Writes go through the store functions the
API's routes use (``api/routes/users.py``, ``apikeys.py``, ``subscriptions.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import RedirectResponse, Response

from wahub import errors
from wahub.api import schemas
from wahub.api.deps import Ctx, ReadSession
from wahub.api.routes import subscriptions as api_subscriptions
from wahub.store import apikeys, db, paging, users
from wahub.store.models import ApiKey, utcnow
from wahub.web import administration, auth
from wahub.web.auth import AdminViewer
from wahub.web.deps import LocalClock, Templates
from wahub.web.templating import Pages


class _Page(APIRoute):
    """An admin page's route: what names nothing (a user, key, subscription or delivery gone, or a bad id) is a
    page saying so (404), not the API's JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except errors.NotFound:
                pages: Pages = request.app.state.pages
                return pages.render("admin/refused.html", status=404, title="Not found", reason=_MISSING)

        return handle


_MISSING = "There is no such user, API key, subscription or delivery (any more). Go back and reload the page."
router = APIRouter(prefix="/admin", include_in_schema=False, route_class=_Page)

SECTIONS = {
    "stats": "Statistics",
    "users": "Users",
    "api-keys": "API keys",
    "accounts": "Accounts",
    "webhooks": "Webhooks",
}
NOTICES = {
    "disabled": "The user is disabled: they cannot log in, and their sessions have ended.",
    "enabled": "The user can log in again.",
    "revoked": "The API key is revoked: requests made with it are refused from now on.",
    "replayed": "The deliveries are queued again and are being sent now.",
    "none-replayed": "There was nothing to send again.",
}
DoneParam = Annotated[str | None, Query(max_length=20)]


def _id(value: str) -> int:
    """An id from a path: anything else names nothing (404)."""
    if not value.isascii() or not value.isdigit() or not 1 <= int(value[:11]) <= paging.ID_MAX:
        raise errors.NotFound("nothing has this id")
    return int(value)


def _page(
    request: Request, pages: Templates, clock: LocalClock, section: str, *, status: int = 200, **context: Any
) -> Response:
    context.setdefault("notice", NOTICES.get(str(request.query_params.get("done"))))
    context.setdefault("error", None)
    return pages.render(
        f"admin/{section.replace('-', '_')}.html",
        status=status,
        csrf=auth.csrf_token(request) or "",
        section=section,
        sections=SECTIONS,
        when=lambda at: administration.when(clock, at),
        zone=str(clock.zone),
        **context,
    )


def _back(section: str, done: str) -> Response:
    return RedirectResponse(f"/admin/{section}?done={done}", status_code=303)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


@router.get("")
async def admin_home(_admin: AdminViewer) -> Response:
    return RedirectResponse("/admin/stats", status_code=303)


# --- statistics ------------------------------------------------------------------------------------------


@router.get("/stats")
async def stats_page(
    request: Request,
    session: ReadSession,
    _admin: AdminViewer,
    pages: Templates,
    clock: LocalClock,
    days: Annotated[str | None, Query(max_length=4)] = None,
) -> Response:
    """``GET /api/v1/stats`` as a dashboard: the figures, the rates, and messages per day as a chart."""
    found = await administration.dashboard(session, administration.period(days), utcnow())
    return _page(request, pages, clock, "stats", board=found, periods=administration.PERIODS)


# --- users -----------------------------------------------------------------------------------------------


async def _users_page(
    request: Request, ctx: Ctx, pages: Templates, clock: LocalClock, status: int = 200, **context: Any
) -> Response:
    async with ctx.readers() as session, session.begin():
        rows = await users.list_users(session)
    context.setdefault("form", {})
    context.setdefault("secret", None)  # (email, one-time password), shown once
    return _page(request, pages, clock, "users", status=status, users=rows, roles=list(users.UserRole), **context)


@router.get("/users")
async def users_page(request: Request, ctx: Ctx, _admin: AdminViewer, pages: Templates, clock: LocalClock) -> Response:
    return await _users_page(request, ctx, pages, clock)


@router.post("/users")
async def add_user(request: Request, ctx: Ctx, _admin: AdminViewer, pages: Templates, clock: LocalClock) -> Response:
    """Add a user with the password given, or a one-time password made here and shown once."""
    form = await _form(request)
    given = form.get("password", "")
    password = given or users.new_password()
    try:
        async with db.transaction(ctx.sessions) as session:
            user = await users.add(session, form.get("email", ""), form.get("name", ""), form.get("role", ""), password)
            email = user.email
    except (errors.InvalidInput, errors.Conflict) as exc:
        status = 409 if isinstance(exc, errors.Conflict) else 422
        return await _users_page(request, ctx, pages, clock, status, error=str(exc), form=form)
    secret = None if given else (email, password)
    notice = f"{email} is added." + ("" if given else " Hand over the one-time password below: it is not shown again.")
    return await _users_page(request, ctx, pages, clock, notice=notice, secret=secret)


async def _user_email(session: AsyncSession, user_id: str) -> str:
    user = await users.get(session, _id(user_id))
    if user is None:
        raise errors.NotFound("no such user")
    return user.email


@router.post("/users/{user_id}/disable")
async def disable_user(
    user_id: str, request: Request, ctx: Ctx, admin: AdminViewer, pages: Templates, clock: LocalClock
) -> Response:
    if _id(user_id) == admin.id:
        return await _users_page(request, ctx, pages, clock, 409, error="You cannot disable yourself.")
    async with db.transaction(ctx.sessions) as session:
        await users.disable(session, await _user_email(session, user_id))
    return _back("users", "disabled")


@router.post("/users/{user_id}/enable")
async def enable_user(user_id: str, ctx: Ctx, _admin: AdminViewer) -> Response:
    async with db.transaction(ctx.sessions) as session:
        await users.enable(session, await _user_email(session, user_id))
    return _back("users", "enabled")


@router.post("/users/{user_id}/reset-password")
async def reset_password(
    user_id: str, request: Request, ctx: Ctx, _admin: AdminViewer, pages: Templates, clock: LocalClock
) -> Response:
    """A new one-time password, shown once; the user's sessions end."""
    password = users.new_password()
    async with db.transaction(ctx.sessions) as session:
        user = await users.reset_password(session, await _user_email(session, user_id), password)
        email = user.email
    notice = f"{email} has a new password. Hand it over: it is not shown again; their sessions have ended."
    return await _users_page(request, ctx, pages, clock, notice=notice, secret=(email, password))


# --- API keys --------------------------------------------------------------------------------------------


async def _keys_page(
    request: Request, ctx: Ctx, pages: Templates, clock: LocalClock, status: int = 200, **context: Any
) -> Response:
    async with ctx.readers() as session, session.begin():
        found = await administration.keys(session)
    scopes = list(apikeys.Scope)
    context.setdefault("created", None)  # (the key's row, the key), shown once
    return _page(request, pages, clock, "api-keys", status=status, keys=found, scopes=scopes, **context)


@router.get("/api-keys")
async def keys_page(request: Request, ctx: Ctx, _admin: AdminViewer, pages: Templates, clock: LocalClock) -> Response:
    return await _keys_page(request, ctx, pages, clock)


@router.post("/api-keys")
async def create_key(request: Request, ctx: Ctx, _admin: AdminViewer, pages: Templates, clock: LocalClock) -> Response:
    """Make a key; the answer shows it, this once."""
    form = await request.form()
    name = str(form.get("name") or "").strip()
    if not 1 <= len(name) <= 100:
        return await _keys_page(request, ctx, pages, clock, 422, error="Name the key (at most 100 characters).")
    try:
        scopes = apikeys.parse_scopes(str(s) for s in form.getlist("scopes"))
    except errors.InvalidInput as exc:
        return await _keys_page(request, ctx, pages, clock, 422, error=str(exc))
    async with db.transaction(ctx.sessions) as session:
        row, key = await apikeys.create(session, name, scopes)
        made = administration.key_of(row)
    return await _keys_page(request, ctx, pages, clock, created=(made, key))


@router.post("/api-keys/{key_id}/revoke")
async def revoke_key(key_id: str, ctx: Ctx, _admin: AdminViewer) -> Response:
    async with db.transaction(ctx.sessions) as session:
        row = await session.get(ApiKey, _id(key_id))
        if row is None:
            raise errors.NotFound("no such API key")
        await apikeys.revoke(session, row.prefix)
    return _back("api-keys", "revoked")


# --- accounts and webhooks -------------------------------------------------------------------------------


@router.get("/accounts")
async def accounts_page(
    request: Request, session: ReadSession, _admin: AdminViewer, pages: Templates, clock: LocalClock
) -> Response:
    """Every account, its provider, whether it sends (paused by Meta's 190, with the reason and since when) and
    how far a coexistence history sync has got."""
    senders, histories = await administration.senders(session), await administration.history_lines(session, clock)
    return _page(request, pages, clock, "accounts", accounts=senders, histories=histories)


@router.get("/webhooks")
async def webhooks_page(
    request: Request, session: ReadSession, _admin: AdminViewer, pages: Templates, clock: LocalClock
) -> Response:
    """The webhook subscriptions, their deliveries by state, and the failed ones to send again."""
    return _page(request, pages, clock, "webhooks", subscriptions=await administration.subscriptions(session))


@router.post("/webhooks/{subscription_id}/replay")
async def replay(subscription_id: str, request: Request, ctx: Ctx, _admin: AdminViewer) -> Response:
    """Send one failed delivery again (``delivery_id``), or every failed one of the subscription: the API's
    replay (``POST /api/v1/webhooks/{id}/replay``)."""
    delivery = str((await request.form()).get("delivery_id") or "")
    wanted = schemas.ReplayIn(ids=[_id(delivery)]) if delivery else schemas.ReplayIn()
    count = await api_subscriptions.replay_deliveries(ctx, _id(subscription_id), wanted)
    return _back("webhooks", "replayed" if count else "none-replayed")
