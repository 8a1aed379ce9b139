"""Users' browser sessions (``/api/v1/auth``): login, refresh rotation and reuse, logout, CSRF, the slowdown of
failed logins, and disabled users; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.api.context import AppContext
from wahub.store import db, users
from wahub.store.models import utcnow
from wahub.store.refresh_tokens import REFRESH_GRACE

PASSWORD = "correct horse battery"
Login = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
async def admin(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with db.transaction(sessions) as session:
        user = await users.add(session, "Ada@Example.com", "Ada", "admin", PASSWORD)
    return user.email


class Clock:
    """The time the app checks refresh tokens against: now, plus what the test moved it by."""

    def __init__(self) -> None:
        self.moved = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.moved


@pytest.fixture
def clock(ctx: AppContext) -> Clock:
    ctx.clock = moved = Clock()
    return moved


@pytest.fixture
async def browser(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, as a browser does, with no API key."""
    async with httpx.AsyncClient(base_url=base_url) as c:
        yield c


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["wahub_csrf"]}


def replaying(refresh_token: str) -> dict[str, str]:
    """Headers that present ``refresh_token`` (and a matching CSRF pair), as a client that copied it would."""
    return {"Cookie": f"wahub_refresh={refresh_token}; wahub_csrf=x", "X-CSRF-Token": "x"}


def refresh_cookie(client: httpx.AsyncClient) -> str:
    return next(c.value for c in client.cookies.jar if c.name == "wahub_refresh" and c.value is not None)


async def test_login_sets_an_httponly_strict_session_and_me_names_the_user(
    browser: httpx.AsyncClient, admin: str
) -> None:
    answer = await login(browser, "ada@EXAMPLE.com")  # emails match case-insensitively
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["email"] == "ada@example.com"
    cookies = {header.split("=")[0]: header.lower() for header in answer.headers.get_list("set-cookie")}
    for name in ("wahub_access", "wahub_refresh"):
        assert "httponly" in cookies[name] and "samesite=strict" in cookies[name]
    assert "httponly" not in cookies["wahub_csrf"] and "samesite=strict" in cookies["wahub_csrf"]
    assert "max-age=900" in cookies["wahub_access"]
    assert answer.json()["csrf_token"] == browser.cookies["wahub_csrf"]
    me = await browser.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["kind"] == "user" and me.json()["role"] == "admin"
    assert me.json()["scopes"] == ["admin", "read", "send"]


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(
    browser: httpx.AsyncClient, admin: str
) -> None:
    wrong = await login(browser, admin, "not the password")
    unknown = await login(browser, "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert "wahub_access" not in browser.cookies
    assert (await browser.get("/api/v1/me")).status_code == 401


async def test_failed_logins_for_one_email_are_slowed_down(base_url: str, admin: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(5):
            assert (await login(client, admin, "guess")).status_code == 401
        slowed = await login(client, admin)  # even the right password waits now
    assert slowed.status_code == 429
    assert int(slowed.headers["Retry-After"]) >= 1
    assert slowed.json()["error"]["code"] == "rate_limited"


async def test_failed_logins_from_one_address_are_slowed_down_whatever_the_email(
    browser: httpx.AsyncClient, admin: str
) -> None:
    for n in range(5):
        assert (await login(browser, f"guess{n}@example.com")).status_code == 401
    assert (await login(browser, "another@example.com")).status_code == 429


async def test_refresh_rotates_the_token_and_gives_a_new_session(browser: httpx.AsyncClient, admin: str) -> None:
    await login(browser, admin)
    first = refresh_cookie(browser)
    answer = await browser.post("/api/v1/auth/refresh", headers=csrf(browser))
    assert answer.status_code == 200, answer.text
    second = refresh_cookie(browser)
    assert second != first
    assert (await browser.get("/api/v1/me")).status_code == 200
    again = await browser.post("/api/v1/auth/refresh", headers=csrf(browser))
    assert again.status_code == 200
    assert refresh_cookie(browser) not in (first, second)


async def test_reusing_a_rotated_refresh_token_after_the_grace_window_revokes_the_whole_family(
    base_url: str, admin: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as victim, httpx.AsyncClient(base_url=base_url) as thief:
        await login(victim, admin)
        stolen = refresh_cookie(victim)
        assert (await victim.post("/api/v1/auth/refresh", headers=csrf(victim))).status_code == 200
        clock.moved = REFRESH_GRACE + timedelta(seconds=1)
        with caplog.at_level(logging.WARNING, logger="wahub.api.routes.auth"):
            replayed = await thief.post("/api/v1/auth/refresh", headers=replaying(stolen))
        assert replayed.status_code == 401
        # The victim's current token was of the same family: it is revoked too.
        assert (await victim.post("/api/v1/auth/refresh", headers=csrf(victim))).status_code == 401
    events = [r for r in caplog.records if r.levelno == logging.WARNING and "refresh token" in r.getMessage()]
    assert len(events) == 1
    assert stolen not in caplog.text


async def test_a_rotated_token_used_again_within_the_grace_window_renews_the_session(
    base_url: str, admin: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as tab, httpx.AsyncClient(base_url=base_url) as other_tab:
        await login(tab, admin)
        shared = refresh_cookie(tab)
        assert (await tab.post("/api/v1/auth/refresh", headers=csrf(tab))).status_code == 200
        clock.moved = REFRESH_GRACE - timedelta(seconds=1)
        with caplog.at_level(logging.INFO, logger="wahub.api.routes.auth"):
            late = await other_tab.post("/api/v1/auth/refresh", headers=replaying(shared))
        assert late.status_code == 200, late.text
        assert refresh_cookie(other_tab) not in (shared, refresh_cookie(tab))
        for client in (tab, other_tab):  # the session lives on, through either new token
            assert (await client.get("/api/v1/me")).status_code == 200
            renewed = await client.post("/api/v1/auth/refresh", headers=csrf(client))
            assert renewed.status_code == 200, renewed.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert shared not in caplog.text


async def test_two_refreshes_at_once_with_one_token_both_renew_and_the_family_stays_one_chain(
    base_url: str, admin: str, clock: Clock
) -> None:
    async with (
        httpx.AsyncClient(base_url=base_url) as first,
        httpx.AsyncClient(base_url=base_url) as second,
        httpx.AsyncClient(base_url=base_url) as later,
    ):
        await login(first, admin)
        shared = refresh_cookie(first)
        answers = await asyncio.gather(
            first.post("/api/v1/auth/refresh", headers=replaying(shared)),
            second.post("/api/v1/auth/refresh", headers=replaying(shared)),
        )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        tokens = [refresh_cookie(first), refresh_cookie(second)]
        assert len({shared, *tokens}) == 3
        for client in (first, second):
            assert (await client.get("/api/v1/me")).status_code == 200
        # Using one of the two retires the other: past the window, it is a copy, and it ends the session.
        assert (await later.post("/api/v1/auth/refresh", headers=replaying(tokens[0]))).status_code == 200
        clock.moved = REFRESH_GRACE + timedelta(seconds=1)
        assert (await second.post("/api/v1/auth/refresh", headers=replaying(tokens[1]))).status_code == 401
        assert (await later.post("/api/v1/auth/refresh", headers=csrf(later))).status_code == 401


async def test_logout_ends_the_session(browser: httpx.AsyncClient, admin: str) -> None:
    await login(browser, admin)
    token = refresh_cookie(browser)
    assert (await browser.post("/api/v1/auth/logout", headers=csrf(browser))).status_code == 204
    assert "wahub_access" not in browser.cookies
    assert (await browser.post("/api/v1/auth/refresh", headers=replaying(token))).status_code == 401


async def test_a_session_needs_the_csrf_token_on_state_changing_requests(
    browser: httpx.AsyncClient, admin: str
) -> None:
    await login(browser, admin)
    body = {"email": "bo@example.com", "name": "Bo", "role": "agent"}
    refused = await browser.post("/api/v1/users", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    wrong = await browser.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "not-the-cookie"})
    assert wrong.status_code == 403
    assert (await browser.post("/api/v1/auth/refresh")).status_code == 403
    made = await browser.post("/api/v1/users", json=body, headers=csrf(browser))
    assert made.status_code == 201, made.text
    assert (await browser.get("/api/v1/users")).status_code == 200  # reads need none


async def test_api_keys_need_no_csrf_token(client: httpx.AsyncClient) -> None:
    made = await client.post("/api/v1/users", json={"email": "cy@example.com", "name": "Cy", "role": "agent"})
    assert made.status_code == 201, made.text


async def test_a_disabled_user_can_neither_log_in_nor_refresh(
    browser: httpx.AsyncClient, admin: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await login(browser, admin)
    async with db.transaction(sessions) as session:
        await users.disable(session, admin)
    assert (await browser.get("/api/v1/me")).status_code == 401
    assert (await browser.post("/api/v1/auth/refresh", headers=csrf(browser))).status_code == 401
    assert (await login(browser, admin)).status_code == 401
