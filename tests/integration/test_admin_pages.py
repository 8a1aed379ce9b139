"""The admin pages over HTTP, without a browser (``tests/browser/test_admin.py`` drives one): an agent is refused
every page and every form, a form without the browser's CSRF token changes nothing, and each page does what it
says through the store (users, API keys, accounts, webhook replays, the statistics' chart); on SQLite."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.test_inbox_pages import PASSWORD, Login, browser, form_token, login
from wahub.store import accounts, db, history_syncs, subscriber_webhooks, users
from wahub.store.models import Account, ApiKey, User, WebhookDelivery

__all__ = ["browser", "login"]  # fixtures

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PAGES = ("/admin", "/admin/stats", "/admin/users", "/admin/api-keys", "/admin/accounts", "/admin/webhooks")


def csrf(client: httpx.AsyncClient) -> str:
    return str(client.cookies["wahub_csrf"])


async def user_named(sessions: async_sessionmaker[AsyncSession], email: str) -> User | None:
    async with db.transaction(sessions) as session:
        return await users.find(session, email)


async def test_an_agent_is_refused_every_admin_page_and_form_and_sees_no_link_to_them(
    login: Login, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agent = await login("ada@example.com", "agent")
    for path in PAGES:
        refused = await agent.get(path)
        assert refused.status_code == 403, path
        assert "This page is for admins." in refused.text
    token = csrf(agent)  # a right token: the refusal is for the role
    new_user = {"csrf_token": token, "email": "eve@example.com", "name": "Eve", "role": "admin", "password": PASSWORD}
    assert (await agent.post("/admin/users", data=new_user)).status_code == 403
    assert await user_named(sessions, "eve@example.com") is None
    assert (await agent.post("/admin/api-keys", data={"csrf_token": token, "name": "mine"})).status_code == 403
    assert (await agent.post("/admin/users/1/disable", data={"csrf_token": token})).status_code == 403
    async with db.transaction(sessions) as session:
        assert not (await session.scalars(sa.select(ApiKey).where(ApiKey.name == "mine"))).all()
    inbox = await agent.get("/")
    assert inbox.status_code == 200 and 'href="/admin"' not in inbox.text


async def test_the_inbox_of_an_admin_links_to_the_admin_pages_and_a_stranger_goes_to_the_login_form(
    login: Login, browser: httpx.AsyncClient
) -> None:
    admin = await login("root@example.com", "admin")
    assert 'href="/admin"' in (await admin.get("/")).text
    assert (await admin.get("/admin")).headers["location"] == "/admin/stats"
    for path in PAGES[1:]:
        page = await admin.get(path)
        assert page.status_code == 200, path
        assert "'unsafe-inline'" not in page.headers["content-security-policy"]
        assert "form-action 'self'" in page.headers["content-security-policy"]  # the inbox's policy
        assert " style=" not in page.text  # the policy allows no inline style
    stranger = await browser.get("/admin/users")
    assert stranger.status_code == 303 and stranger.headers["location"] == "/login?next=%2Fadmin%2Fusers"


async def test_a_form_without_the_browsers_csrf_token_changes_nothing(
    login: Login, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await login("root@example.com", "admin")
    new_user = {"email": "eve@example.com", "name": "Eve", "role": "admin", "password": PASSWORD}
    for token in (None, "forged", ""):
        form = new_user if token is None else {**new_user, "csrf_token": token}
        refused = await admin.post("/admin/users", data=form)
        assert refused.status_code == 403
        assert "The form had expired" in refused.text
    assert await user_named(sessions, "eve@example.com") is None
    await login("ada@example.com", "agent")
    target = await user_named(sessions, "ada@example.com")
    assert target is not None
    assert (await admin.post(f"/admin/users/{target.id}/disable", data={"csrf_token": "forged"})).status_code == 403
    assert (await admin.post("/admin/api-keys", data={"name": "x"})).status_code == 403
    still = await user_named(sessions, "ada@example.com")
    assert still is not None and still.disabled_at is None
    # The same form with the token works.
    added = await admin.post("/admin/users", data={**new_user, "csrf_token": csrf(admin)})
    assert added.status_code == 200 and "eve@example.com is added." in added.text


async def test_an_admin_adds_disables_enables_and_resets_a_user_through_the_store(
    login: Login, browser: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await login("root@example.com", "admin")
    token = csrf(admin)
    form = {"csrf_token": token, "email": "Bo@Example.com", "name": "<b>Bo</b>", "role": "agent", "password": ""}
    added = await admin.post("/admin/users", data=form)
    assert added.status_code == 200
    one_time = re.search(r'<code class="secret-value">([^<]+)</code>', added.text)
    assert one_time, added.text
    assert "&lt;b&gt;Bo&lt;/b&gt;" in added.text and "<b>Bo</b>" not in added.text
    again = await admin.post("/admin/users", data={**form, "password": PASSWORD})
    assert again.status_code == 409 and "bo@example.com exists" in again.text
    short = await admin.post("/admin/users", data={**form, "email": "cy@example.com", "password": "short"})
    assert short.status_code == 422 and "at least 10 characters" in short.text
    bad_role = await admin.post("/admin/users", data={**form, "email": "cy@example.com", "role": "boss"})
    assert bad_role.status_code == 422 and "role: one of admin, agent" in bad_role.text

    bo = await user_named(sessions, "bo@example.com")
    assert bo is not None and bo.role == "agent"

    async def logs_in(password: str) -> bool:
        token = form_token((await browser.get("/login")).text)
        answer = await browser.post(
            "/login", data={"email": "bo@example.com", "password": password, "csrf_token": token}
        )
        browser.cookies.clear()
        return answer.status_code == 303

    assert await logs_in(one_time.group(1))
    disabled = await admin.post(f"/admin/users/{bo.id}/disable", data={"csrf_token": token})
    assert disabled.status_code == 303 and disabled.headers["location"] == "/admin/users?done=disabled"
    assert not await logs_in(one_time.group(1))
    assert "disabled" in (await admin.get("/admin/users?done=disabled")).text
    enabled = await admin.post(f"/admin/users/{bo.id}/enable", data={"csrf_token": token})
    assert enabled.status_code == 303
    assert await logs_in(one_time.group(1))
    reset = await admin.post(f"/admin/users/{bo.id}/reset-password", data={"csrf_token": token})
    new = re.search(r'<code class="secret-value">([^<]+)</code>', reset.text)
    assert reset.status_code == 200 and new and new.group(1) != one_time.group(1)
    assert not await logs_in(one_time.group(1))
    assert await logs_in(new.group(1))

    root = await user_named(sessions, "root@example.com")
    assert root is not None
    myself = await admin.post(f"/admin/users/{root.id}/disable", data={"csrf_token": token})
    assert myself.status_code == 409 and "You cannot disable yourself." in myself.text
    for path in ("/admin/users/99999/disable", "/admin/users/abc/enable", "/admin/api-keys/99999/revoke"):
        missing = await admin.post(path, data={"csrf_token": token})
        assert missing.status_code == 404 and "There is no such user, API key" in missing.text, path


async def test_the_api_enables_and_resets_users_with_the_same_store_functions(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    made = (await client.post("/api/v1/users", json={"email": "bo@example.com", "name": "Bo", "role": "agent"})).json()
    user_id = made["user"]["id"]
    assert (await client.post(f"/api/v1/users/{user_id}/disable")).json()["disabled_at"] is not None
    assert (await client.post(f"/api/v1/users/{user_id}/enable")).json()["disabled_at"] is None
    reset = await client.post(f"/api/v1/users/{user_id}/reset-password")
    assert reset.status_code == 200 and reset.json()["password"] != made["password"]
    bo = await user_named(sessions, "bo@example.com")
    assert await users.password_matches(bo, reset.json()["password"])
    assert not await users.password_matches(bo, made["password"])
    assert (await client.post("/api/v1/users/99999/enable")).status_code == 404


async def test_an_api_key_is_shown_once_and_revoked_keys_are_refused(login: Login, base_url: str) -> None:
    admin = await login("root@example.com", "admin")
    token = csrf(admin)
    created = await admin.post("/admin/api-keys", data={"csrf_token": token, "name": "erp", "scopes": ["read"]})
    assert created.status_code == 200
    found = re.search(r'<code class="secret-value">(wahub_[^<]+)</code>', created.text)
    assert found, created.text
    key = found.group(1)
    listing = (await admin.get("/admin/api-keys")).text
    assert key not in listing and f"{key[:14]}_…" in listing
    row = re.search(r'action="/admin/api-keys/(\d+)/revoke"', listing)
    assert row
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as program:
        assert (await program.get("/api/v1/stats")).status_code == 200
        assert (await program.get("/api/v1/users")).status_code == 403  # read only
        revoked = await admin.post(f"/admin/api-keys/{row.group(1)}/revoke", data={"csrf_token": token})
        assert revoked.status_code == 303
        assert (await program.get("/api/v1/stats")).status_code == 401
    assert "revoked" in (await admin.get("/admin/api-keys")).text
    nameless = await admin.post("/admin/api-keys", data={"csrf_token": token, "name": " "})
    assert nameless.status_code == 422 and "Name the key" in nameless.text
    bad_scope = await admin.post("/admin/api-keys", data={"csrf_token": token, "name": "x", "scopes": ["root"]})
    assert bad_scope.status_code == 422 and "scope: one of" in bad_scope.text


async def test_accounts_show_their_provider_and_a_pause_with_its_reason_and_time(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    admin = await login("root@example.com", "admin")
    page = (await admin.get("/admin/accounts")).text
    assert 'class="provider">meta</td>' in page and "sending</span>" in page
    async with db.transaction(sessions) as session:
        await accounts.pause_sending(session, account.id, "190: <the token expired>")
        paused_at = (await accounts.get(session, account.id)).sending_paused_at
    assert paused_at is not None
    page = (await admin.get("/admin/accounts")).text
    assert f"paused since {paused_at:%Y-%m-%d %H:%M}" in page and "Times in UTC." in page  # it sent no zone
    admin.cookies.set("wahub_tz", "Asia/Tokyo")  # as the inbox's script sets it
    in_tokyo = (await admin.get("/admin/accounts")).text
    assert f"paused since {(paused_at + timedelta(hours=9)):%Y-%m-%d %H:%M}" in in_tokyo
    assert "Times in Asia/Tokyo." in in_tokyo
    assert "190: &lt;the token expired&gt;" in page


async def test_a_failed_delivery_is_listed_and_replayed_through_the_apis_replay(
    login: Login, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await login("root@example.com", "admin")
    async with db.transaction(sessions) as session:
        sub = await subscriber_webhooks.subscribe(session, "https://erp.example.com/hook", [], "the ERP", "sealed")
        collected = subscriber_webhooks.Collector({sub.id: frozenset()})
        collected.add(subscriber_webhooks.ACCOUNT_EVENT, {"field": "test"})
        await subscriber_webhooks.emit(session, collected)
        delivery = (await session.scalars(sa.select(WebhookDelivery))).one()
        delivery.state, delivery.attempts, delivery.last_status = "failed", 12, 500
        delivery_id = delivery.id
    page = (await admin.get("/admin/webhooks")).text
    assert f'id="delivery-{delivery_id}"' in page and "failed 1" in page and "HTTP 500" in page
    replayed = await admin.post(
        f"/admin/webhooks/{sub.id}/replay", data={"csrf_token": csrf(admin), "delivery_id": str(delivery_id)}
    )
    assert replayed.status_code == 303 and replayed.headers["location"] == "/admin/webhooks?done=replayed"
    async with db.transaction(sessions) as session:
        again = await session.get(WebhookDelivery, delivery_id)
        assert again is not None and (again.state, again.attempts) == ("pending", 0)
    page = (await admin.get("/admin/webhooks?done=replayed")).text
    assert "queued again" in page and f'id="delivery-{delivery_id}"' not in page
    nothing = await admin.post(f"/admin/webhooks/{sub.id}/replay", data={"csrf_token": csrf(admin)})
    assert nothing.headers["location"] == "/admin/webhooks?done=none-replayed"
    gone = await admin.post("/admin/webhooks/99999/replay", data={"csrf_token": csrf(admin)})
    assert gone.status_code == 404 and "<h1>Not found</h1>" in gone.text


async def test_the_dashboard_draws_messages_per_day_as_an_svg_chart(login: Login) -> None:
    admin = await login("root@example.com", "admin")
    page = await admin.get("/admin/stats", params={"days": "7"})
    assert page.status_code == 200
    assert '<svg id="messages-chart"' in page.text
    assert page.text.count('class="bar bar-inbound"') == 8  # 7 days back from now touch 8 UTC days
    assert 'aria-current="page">7 days' in page.text
    assert (await admin.get("/admin/stats", params={"days": "1000"})).status_code == 200  # 30 days, not an error


async def test_accounts_show_how_far_a_history_sync_has_got(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    admin = await login("root@example.com", "admin")
    assert "history sync" not in (await admin.get("/admin/accounts")).text  # never asked: nothing to show
    async with db.transaction(sessions) as session:
        await history_syncs.record_request(session, account.id, history_syncs.HISTORY, "req-1")
        chunk = {"metadata": {"phase": 1, "chunk_order": 2, "progress": 60}}
        await history_syncs.record_chunk(session, account.id, chunk, None)
        updated = (await history_syncs.status(session, account.id)).updated_at
    assert updated is not None
    page = (await admin.get("/admin/accounts")).text
    assert f"history sync: 60% (phase 2 of 3), last update {updated:%Y-%m-%d %H:%M}" in page
