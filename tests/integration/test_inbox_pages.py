"""The inbox's pages over HTTP, without a browser (``tests/browser`` drives one): the login form, the redirect to
it, what an agent's pages hold, escaping, paging, the security headers and the static files; on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.api import headers
from wahub.domain import ContactRef
from wahub.store import contacts, conversations, db, users
from wahub.store.models import Account, Conversation, Message, User, utcnow
from wahub.web import reading

PASSWORD = "a long enough password"
Login = Callable[[str, str], Awaitable[httpx.AsyncClient]]


def form_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


@pytest.fixture
async def browser(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, like a browser, and does not follow redirects."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        yield client


@pytest.fixture
async def login(base_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Login]:
    """Makes a user with a role and returns a browser-like client logged in through the form."""
    clients: list[httpx.AsyncClient] = []

    async def log_in(email: str, role: str) -> httpx.AsyncClient:
        async with db.transaction(sessions) as session:
            await users.add(session, email, email.split("@")[0].title(), role, PASSWORD)
        client = httpx.AsyncClient(base_url=base_url)
        clients.append(client)
        token = form_token((await client.get("/login")).text)
        answer = await client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
        assert answer.status_code == 303, answer.text
        return client

    yield log_in
    for client in clients:
        await client.aclose()


async def add_user(sessions: async_sessionmaker[AsyncSession], email: str, role: str = "agent") -> int:
    async with db.transaction(sessions) as session:
        user = await users.add(session, email, email.split("@")[0].title(), role, PASSWORD)
        return int(user.id)


async def conversation_with(
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    wa_id: str,
    *,
    name: str | None = None,
    texts: tuple[str, ...] = ("hello",),
    assignee: int | None = None,
) -> int:
    """A conversation with ``wa_id`` holding these inbound texts (one second apart, the last one now)."""
    async with db.transaction(sessions) as session:
        contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=wa_id, name=name))
        conversation = await conversations.get_or_create(session, account.id, contact.id)
        now = utcnow()
        for n, text in enumerate(texts):
            at = now - timedelta(seconds=len(texts) - n)
            session.add(
                Message(
                    account_id=account.id,
                    conversation_id=conversation.id,
                    contact_id=contact.id,
                    direction="inbound",
                    type="text",
                    status="received",
                    wamid=f"wamid.{wa_id}.{n}",
                    content={"text": {"body": text}},
                    created_at=at,
                    provider_timestamp=at,
                )
            )
            await conversations.record_inbound(session, conversation, at)
        conversation.assignee_user_id = assignee
        return int(conversation.id)


async def test_pages_send_a_browser_without_a_session_to_the_login_form(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/c/12", params={"filter": "mine"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fc%2F12%3Ffilter%3Dmine"
    assert (await browser.get("/c/12", headers={"HX-Request": "true"})).status_code == 401  # the script renews
    form = await browser.get(answer.headers["location"])
    assert form.status_code == 200
    assert 'name="next" value="/c/12?filter=mine"' in form.text
    assert form.cookies.get("wahub_csrf") == form_token(form.text)  # the login form's CSRF token, before a session


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "/ok\r\nx: y"])
async def test_after_login_nobody_is_sent_to_another_site(
    browser: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], target: str
) -> None:
    await add_user(sessions, "ada@example.com")
    token = form_token((await browser.get("/login")).text)
    form = {"email": "ada@example.com", "password": PASSWORD, "csrf_token": token, "next": target}
    answer = await browser.post("/login", data=form)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


async def test_the_login_form_logs_in_as_the_api_does_and_refuses_a_wrong_password(
    browser: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "ada@example.com")
    token = form_token((await browser.get("/login")).text)

    no_token = await browser.post("/login", data={"email": "ada@example.com", "password": PASSWORD})
    assert no_token.status_code == 403
    assert "form had expired" in no_token.text
    assert "wahub_access" not in browser.cookies

    wrong = {"email": "ada@example.com", "password": "not the password", "csrf_token": token, "next": "/c/3"}
    refused = await browser.post("/login", data=wrong)
    assert refused.status_code == 401
    assert "The email or password is wrong." in refused.text
    assert 'value="ada@example.com"' in refused.text  # the email stays filled in, the password does not
    assert "not the password" not in refused.text
    assert "wahub_access" not in browser.cookies

    right = {**wrong, "password": PASSWORD}
    answer = await browser.post("/login", data=right)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/c/3"
    assert {"wahub_access", "wahub_refresh", "wahub_csrf"} <= set(browser.cookies.keys())
    inbox = await browser.get("/")
    assert inbox.status_code == 200
    assert "Ada" in inbox.text  # the signed-in user's name
    me = await browser.get("/api/v1/me")  # the same session as the API's
    assert me.json()["user"]["email"] == "ada@example.com"

    assert (await browser.post("/logout", data={"csrf_token": "forged"})).status_code == 403
    out = await browser.post("/logout", data={"csrf_token": browser.cookies["wahub_csrf"]})
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert (await browser.get("/")).status_code == 303


async def test_failed_logins_are_slowed_down_and_the_page_says_how_long_to_wait(
    browser: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_user(sessions, "ada@example.com")
    token = form_token((await browser.get("/login")).text)
    wrong = {"email": "ada@example.com", "password": "wrong password", "csrf_token": token}
    statuses = [(await browser.post("/login", data=wrong)).status_code for _ in range(5)]
    assert statuses == [401] * 5
    slowed = await browser.post("/login", data={**wrong, "password": PASSWORD})  # even the right one waits
    assert slowed.status_code == 429
    assert int(slowed.headers["retry-after"]) >= 1
    assert re.search(r"Too many failed attempts\. Please wait \d+ seconds? and try again\.", slowed.text)


async def test_an_agent_lists_only_their_own_and_unassigned_conversations_and_others_are_not_found(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    agent = await login("ada@example.com", "agent")
    ada = await user_id(sessions, "ada@example.com")
    other = await add_user(sessions, "bo@example.com")
    mine = await conversation_with(sessions, account, "14155550101", name="Mine Person", assignee=ada)
    free = await conversation_with(sessions, account, "14155550102", name="Free Person")
    hidden = await conversation_with(sessions, account, "14155550103", name="Hidden Person", assignee=other)

    page = (await agent.get("/")).text
    assert "Mine Person" in page and "Free Person" in page
    assert "Hidden Person" not in page
    only_mine = (await agent.get("/", params={"filter": "mine"})).text
    assert "Mine Person" in only_mine and "Free Person" not in only_mine
    assert (await agent.get(f"/c/{mine}")).status_code == 200
    assert (await agent.get(f"/c/{free}")).status_code == 200
    refused = await agent.get(f"/c/{hidden}")
    assert refused.status_code == 404
    assert "Conversation not found" in refused.text and "Hidden Person" not in refused.text
    for part in (f"/c/{hidden}/header", f"/c/{hidden}/messages?before=1", f"/c/{hidden}/messages/1"):
        assert (await agent.get(part, headers={"HX-Request": "true"})).status_code == 404, part
    assert (await agent.get(f"/list/{hidden}", headers={"HX-Request": "true"})).status_code == 204
    assert (await agent.get("/c/99999999999")).status_code == 404
    assert (await agent.get("/c/abc")).status_code == 404


async def user_id(sessions: async_sessionmaker[AsyncSession], email: str) -> int:
    async with sessions() as session:
        return int((await session.scalars(sa.select(User.id).where(User.email == email))).one())


async def test_values_from_whatsapp_are_escaped_everywhere(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    admin = await login("root@example.com", "admin")
    name = "<img src=x onerror=alert(1)>"
    body = '<script>alert(1)</script>" onmouseover="alert(2)'
    conversation = await conversation_with(sessions, account, "14155550104", name=name, texts=(body,))
    for path in ("/", f"/c/{conversation}", f"/list/{conversation}", f"/c/{conversation}/header"):
        page = (await admin.get(path, headers={"HX-Request": "true"} if "list/" in path else {})).text
        assert "<img src=x" not in page and "<script>alert" not in page, path
        assert 'onmouseover="alert' not in page, path
    page = (await admin.get(f"/c/{conversation}")).text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34; onmouseover=&#34;alert(2)" in page


async def test_a_long_conversation_opens_on_its_newest_page_and_older_pages_follow(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    admin = await login("root@example.com", "admin")
    texts = tuple(f"message number {n}" for n in range(reading.MESSAGE_PAGE + 12))
    conversation = await conversation_with(sessions, account, "14155550105", texts=texts)
    page = (await admin.get(f"/c/{conversation}")).text
    shown = [int(n) for n in re.findall(r"<p class=\"text\">message number (\d+)<", page)]
    assert shown == list(range(12, reading.MESSAGE_PAGE + 12))  # the newest page, oldest first
    older = re.search(r'hx-get="(/c/\d+/messages\?before=\d+)"', page)
    assert older, page
    rest = (await admin.get(older.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})).text
    assert [int(n) for n in re.findall(r"<p class=\"text\">message number (\d+)<", rest)] == list(range(12))
    assert "hx-get" not in rest  # the first message: nothing older to load


async def test_the_list_shows_newest_activity_first_and_pages_on(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    admin = await login("root@example.com", "admin")
    ids = [await conversation_with(sessions, account, f"1415555{n:04d}") for n in range(reading.LIST_PAGE + 5)]
    async with db.transaction(sessions) as session:  # the oldest conversation has the newest activity
        first = await session.get(Conversation, ids[0])
        assert first is not None
        first.last_message_at = utcnow() + timedelta(minutes=5)
    page = (await admin.get("/")).text
    listed = [int(n) for n in re.findall(r'<li class="row[^"]*" id="conv-(\d+)"', page)]
    assert listed[0] == ids[0]
    assert listed[1:] == sorted(ids[1:], reverse=True)[: reading.LIST_PAGE - 1]
    more = re.search(r'hx-get="(/list\?[^"]+)"', page)
    assert more, page
    rest = await admin.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert int(rest.headers["x-wahub-stream-after"]) >= 0
    following = [int(n) for n in re.findall(r'id="conv-(\d+)"', rest.text)]
    assert listed + following == [ids[0], *sorted(ids[1:], reverse=True)]
    assert (await admin.get("/list", params={"cursor": "bm90LWEtY3Vyc29y"})).status_code == 404


async def test_inbox_pages_have_their_own_csp_without_inline_scripts(login: Login, browser: httpx.AsyncClient) -> None:
    admin = await login("root@example.com", "admin")
    for answer in (await browser.get("/login"), await admin.get("/"), await browser.get("/")):
        policy = answer.headers["content-security-policy"]
        assert policy == headers.inbox_policy("'none'")
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert "unsafe" not in policy
        assert directives["frame-ancestors"] == "'none'"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_static_files_are_served_under_a_digest_and_kept_a_year(login: Login, base_url: str) -> None:
    admin = await login("root@example.com", "admin")
    page = (await admin.get("/")).text
    scripts = re.findall(r'src="(/static/[0-9a-f]{16}/[^"]+\.js)"', page)
    assert any(s.endswith("/vendor/htmx.min.js") for s in scripts) and any(s.endswith("/js/inbox.js") for s in scripts)
    async with httpx.AsyncClient(base_url=base_url) as anyone:  # no session needed
        for script in scripts:
            answer = await anyone.get(script)
            assert answer.status_code == 200, script
            assert "javascript" in answer.headers["content-type"]
            assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        stale = await anyone.get("/static/0000000000000000/js/inbox.js")
        assert stale.status_code == 404
        assert "immutable" not in stale.headers.get("cache-control", "")
