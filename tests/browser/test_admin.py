"""The admin pages in a real browser, against a real sandbox: users added, disabled and logging in (or not), an
API key seen once and revoked, a failed webhook delivery sent again, the statistics chart, an account paused
by Meta's 190; and an agent kept out."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.browser.conftest import PHONE, WAIT_MS, Sandbox, Shots, Watched, log_in, watch

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

ANA = "14155550101"
PASSWORD = "a long enough password"


def eventually(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_MS / 1000
    while not (found := check()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)
    return found


def to_admin(page: Page, sandbox: Sandbox, section: str) -> None:
    """Log in as the sandbox's admin and go to an admin page by the inbox's link and the admin menu."""
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    page.click(".me a.admin-link")
    page.wait_for_url(f"{sandbox.url}/admin/stats")
    page.click(f".admin-nav a[href='/admin/{section}']")
    page.wait_for_url(f"{sandbox.url}/admin/{section}")


def test_an_admin_adds_a_user_who_logs_in_until_disabled(
    sandbox: Sandbox, page: Page, context: BrowserContext, shot: Shots
) -> None:
    to_admin(page, sandbox, "users")
    shot(page, "users")
    page.fill("#new-email", "nina@example.com")
    page.fill("#new-name", "Nina Agent")
    page.select_option("#new-role", "agent")
    page.fill("#new-password", PASSWORD)
    page.click("#add-user-form button[type=submit]")
    assert page.locator(".notice").inner_text() == "nina@example.com is added."
    row = page.locator("#users tr[data-email='nina@example.com']")
    assert row.locator("td").nth(1).inner_text() == "nina@example.com" and "active" in row.inner_text()
    shot(page, "user-added")

    nina = context.browser.new_context(viewport=PHONE)  # type: ignore[union-attr]
    nina.set_default_timeout(WAIT_MS)
    try:
        other = watch(nina.new_page(), Watched())
        log_in(other, sandbox.url, "nina@example.com", PASSWORD)
        assert other.locator(".me-name").inner_text() == "Nina Agent"
        shot(other, "new-user-logged-in")

        row.locator("button.disable").click()
        assert "The user is disabled" in page.locator(".notice").inner_text()
        assert "disabled" in page.locator("#users tr[data-email='nina@example.com'] .state-cell").inner_text()
        shot(page, "user-disabled")

        other.goto(f"{sandbox.url}/")  # the open session ends with the user
        other.wait_for_url(f"{sandbox.url}/login?next=%2F")
        other.fill("#email", "nina@example.com")
        other.fill("#password", PASSWORD)
        other.click("#login-form button[type=submit]")
        assert other.locator(".form-error").inner_text() == "The email or password is wrong."
        shot(other, "disabled-user-refused")
    finally:
        nina.close()


def test_an_api_key_is_shown_once_and_refused_once_revoked(sandbox: Sandbox, page: Page, shot: Shots) -> None:
    to_admin(page, sandbox, "api-keys")
    page.fill("#key-name", "the ERP")
    page.check("input[name=scopes][value=read]")
    page.click("#create-key-form button[type=submit]")
    key = page.locator("#new-key .secret-value").inner_text()
    assert key.startswith("wahub_")
    shot(page, "key-created")
    program = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{sandbox.url}/api/v1/stats", headers=program, timeout=10).status_code == 200

    page.goto(f"{sandbox.url}/admin/api-keys")  # the list again: the key is not there any more
    assert page.locator("#new-key").count() == 0 and key not in page.content()
    row = page.locator("#api-keys tr", has_text="the ERP")
    assert row.locator("code").inner_text() == f"{key[:14]}_…"
    row.locator("button.revoke").click()
    assert "The API key is revoked" in page.locator(".notice").inner_text()
    assert "revoked" in page.locator("#api-keys tr", has_text="the ERP").inner_text()
    shot(page, "key-revoked")
    assert httpx.get(f"{sandbox.url}/api/v1/stats", headers=program, timeout=10).status_code == 401


class Receiver:
    """A program subscribed to wahub's webhooks: answers ``status`` and keeps what it was sent."""

    def __init__(self) -> None:
        self.status = 500
        self.received: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.received.append(self.rfile.read(int(self.headers.get("content-length", 0))))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def test_a_failed_webhook_delivery_is_seen_and_sent_again(
    sandbox: Sandbox, page: Page, shot: Shots, receiver: Receiver
) -> None:
    made = sandbox.api("POST", "/api/v1/webhooks", json={"url": receiver.url, "events": ["message.received"]})
    assert made.status_code == 201, made.text
    sub = made.json()["id"]
    sandbox.inbound(ANA, "for the ERP")
    eventually(lambda: receiver.received, "a first try reached the subscriber")

    def tried() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = sandbox.api("GET", f"/api/v1/webhooks/{sub}/deliveries").json()["items"]
        return [d for d in items if d["attempts"] >= 1 and d["last_status"] == 500]

    delivery = eventually(tried, "the try was recorded")[0]["id"]
    # Its tries run out after about 12 hours: the test writes that end, as the deliverer would.
    assert sandbox.data_dir is not None
    with sqlite3.connect(sandbox.data_dir / "wahub.db", timeout=30) as db:
        db.execute("UPDATE webhook_deliveries SET state = 'failed', attempts = 16 WHERE id = ?", (delivery,))

    to_admin(page, sandbox, "webhooks")
    section = page.locator(f"#subscription-{sub}")
    assert section.locator("[data-state=failed]").inner_text() == "failed 1"
    failed = section.locator(f"#delivery-{delivery}")
    assert "message.received" in failed.inner_text() and "HTTP 500" in failed.inner_text()
    shot(page, "failed-delivery")

    receiver.status = 200
    before = len(receiver.received)
    failed.locator("button.replay").click()
    assert "queued again" in page.locator(".notice").inner_text()
    eventually(lambda: len(receiver.received) > before, "the delivery was sent again")

    def delivered() -> bool:
        page.reload()
        return page.locator(f"#subscription-{sub} [data-state=delivered]").inner_text() == "delivered 1"

    eventually(delivered, "the page shows the delivery delivered")
    assert page.locator(f"#delivery-{delivery}").count() == 0
    shot(page, "replayed")


def test_the_dashboard_draws_messages_per_day(sandbox: Sandbox, page: Page, shot: Shots) -> None:
    stats = sandbox.api("GET", "/api/v1/stats", params={"days": 7}).json()
    to_admin(page, sandbox, "stats")
    page.click(".periods a[href='/admin/stats?days=7']")
    chart = page.locator("#messages-chart")
    assert chart.locator("rect.bar-inbound").count() == len(stats["by_day"]) == 8
    today = stats["by_day"][-1]
    tall = chart.locator("rect.bar-inbound").last
    assert tall.locator("title").text_content() == f"{today['day']}: {today['inbound']} received"
    assert today["inbound"] > 0 and float(tall.get_attribute("height") or 0) > 0
    assert page.locator("#stat-tiles dd").first.inner_text() == f"{stats['total']:,}"
    box = chart.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 150
    shot(page, "dashboard")
    page.set_viewport_size(PHONE)
    shot(page, "dashboard-phone")


def test_an_account_paused_by_an_expired_token_shows_why_and_since_when(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    to_admin(page, sandbox, "accounts")
    assert page.locator("#accounts .sending").first.inner_text() == "sending"
    assert page.locator("#accounts .provider").first.inner_text() == "meta"
    shot(page, "accounts")
    faults = httpx.post(f"{sandbox.fakegraph}/_fake/faults", json={"fail_next": 1, "error_code": 190}, timeout=10)
    assert faults.is_success, faults.text
    sent = sandbox.api("POST", "/api/v1/messages", json={"to": f"+{ANA}", "type": "text", "text": {"body": "hi"}})
    assert sent.status_code == 202, sent.text
    eventually(lambda: "sending_paused" in httpx.get(f"{sandbox.url}/readyz", timeout=10).json(), "paused")

    page.reload()
    sending = page.locator("#accounts .sending").first
    assert sending.locator(".pill").inner_text().startswith("paused since ")
    assert "190" in sending.locator(".reason").inner_text()
    shot(page, "account-paused")


def test_an_agent_cannot_open_the_admin_pages(sandbox: Sandbox, page: Page, shot: Shots) -> None:
    _id, password = sandbox.add_user("olga@example.com")
    log_in(page, sandbox.url, "olga@example.com", password)
    assert page.locator("a[href^='/admin']").count() == 0
    for path in ("/admin", "/admin/users", "/admin/api-keys", "/admin/accounts", "/admin/webhooks", "/admin/stats"):
        answer = page.goto(f"{sandbox.url}{path}")
        assert answer is not None and answer.status == 403, path
        assert page.locator("#refusal").inner_text() == "This page is for admins."
    shot(page, "agent-refused")


def test_logging_out_of_an_admin_page_revokes_the_refresh_token(
    sandbox: Sandbox, page: Page, context: BrowserContext, shot: Shots
) -> None:
    to_admin(page, sandbox, "users")
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    page.click("#logout button")
    page.wait_for_url(f"{sandbox.url}/login")
    shot(page, "logged-out")
    assert page.request.get(f"{sandbox.url}/api/v1/me").status == 401
    # The copy of the refresh token taken before is refused too: revoked through the API, not only cleared here.
    refresh = httpx.post(
        f"{sandbox.url}/api/v1/auth/refresh",
        cookies={"wahub_refresh": cookies["wahub_refresh"], "wahub_csrf": cookies["wahub_csrf"]},
        headers={"X-CSRF-Token": cookies["wahub_csrf"]},
        timeout=10,
    )
    assert refresh.status_code == 401, refresh.text
