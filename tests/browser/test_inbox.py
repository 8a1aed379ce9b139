"""The inbox in a real browser, against a real sandbox: logging in and out, what an agent may see, a text that
ticks forward live and its reply, hostile names and bodies, the security policy, and the phone layout."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from tests.browser.conftest import PHONE, Sandbox, Shots, log_in

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page, Route

ANA, BEN, CHLOE, DEV = "14155550101", "14155550102", "14155550103", "14155550104"
BLUE = "rgb(83, 189, 235)"


def test_a_wrong_password_is_refused_and_logging_out_ends_the_session(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    page.goto(f"{sandbox.url}/")
    assert page.url == f"{sandbox.url}/login?next=%2F"
    shot(page, "login")

    page.fill("#email", sandbox.admin_email)
    page.fill("#password", "not the password")
    page.click("#login-form button[type=submit]")
    assert page.locator(".form-error").inner_text() == "The email or password is wrong."
    assert page.input_value("#email") == sandbox.admin_email
    shot(page, "wrong-password")

    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    assert page.url == f"{sandbox.url}/"
    names = page.locator("#conversation-list .row .name").all_inner_texts()
    assert {"Ana Souza", "Ben Okafor", "Chloé Martin", "Dev Patel"} <= set(names)
    shot(page, "inbox")

    page.click("#logout button")
    page.wait_for_url(f"{sandbox.url}/login")
    shot(page, "logged-out")
    assert page.request.get(f"{sandbox.url}/api/v1/me").status == 401
    # The refresh token was revoked with the session: the login page cannot renew it and asks for the password.
    with page.expect_response(f"{sandbox.url}/api/v1/auth/refresh") as renewal:
        page.goto(f"{sandbox.url}/")
    assert renewal.value.status == 401
    assert page.url == f"{sandbox.url}/login?next=%2F"
    assert page.locator("#password").is_visible()


def test_an_expired_access_token_is_renewed_without_the_password(
    sandbox: Sandbox, context: BrowserContext, page: Page
) -> None:
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    chloe = sandbox.conversation_of(CHLOE)
    context.clear_cookies(name="wahub_access")  # as if its 15 minutes were over
    page.goto(f"{sandbox.url}/c/{chloe}")
    page.wait_for_url(f"{sandbox.url}/c/{chloe}")  # via /login, which renewed it through the refresh cookie
    assert page.locator("#conv-header .name").inner_text() == "Chloé Martin"
    assert any(c["name"] == "wahub_access" for c in context.cookies())


def test_an_agent_sees_neither_admin_things_nor_another_agents_conversations(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    _ada, password = sandbox.add_user("ada@example.com")
    bo, _ = sandbox.add_user("bo@example.com")
    ben = sandbox.conversation_of(BEN)
    assigned = sandbox.api("POST", f"/api/v1/conversations/{ben}/assign", json={"user_id": bo})
    assert assigned.status_code == 200, assigned.text

    log_in(page, sandbox.url, "ada@example.com", password)
    shot(page, "agent-inbox")
    assert page.locator(".me-role").inner_text() == "agent"
    names = page.locator("#conversation-list .row .name").all_inner_texts()
    assert "Ana Souza" in names and "Ben Okafor" not in names
    assert page.request.get(f"{sandbox.url}/api/v1/users").status == 403  # the admin's routes refuse the session
    assert page.locator("a[href^='/admin']").count() == 0

    # Ben writes, then Chloé: Chloé's message reaching the list live shows Ben's would have reached it by then.
    sandbox.inbound(BEN, "a secret for bo")
    sandbox.inbound(CHLOE, "hello agents")
    page.wait_for_selector("#conversation-list .row .preview:has-text('hello agents')")
    assert "a secret for bo" not in page.content()
    assert page.locator(f"#conv-{ben}").count() == 0

    # A conversation in the list when the page was read, assigned to another agent since: opening it says so.
    sandbox.inbound("14155550155", "hi from Eve", name="Eve Later")
    eve_row = page.locator("#conversation-list .row", has_text="Eve Later")
    eve_row.wait_for()
    eve = sandbox.conversation_of("14155550155")
    assert sandbox.api("POST", f"/api/v1/conversations/{eve}/assign", json={"user_id": bo}).status_code == 200
    eve_row.locator("a").click()
    page.locator("#pane #not-found").wait_for()
    assert "hi from Eve" not in page.locator("#pane").inner_text()

    page.goto(f"{sandbox.url}/c/{ben}")
    assert page.locator("#not-found h2").inner_text() == "Conversation not found"
    assert "a secret for bo" not in page.content() and "Ben Okafor" not in page.content()
    shot(page, "not-found")


def test_a_text_ticks_forward_live_and_the_simulated_reply_appears(sandbox: Sandbox, page: Page, shot: Shots) -> None:
    ana = sandbox.conversation_of(ANA)
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    page.click(f"#conv-{ana} a")
    page.wait_for_selector(f"#conversation[data-id='{ana}']")
    assert page.url.endswith(f"/c/{ana}?filter=all")
    page.evaluate("() => { window.samePage = true; }")  # gone if the page reloads
    # Every status each outbound tick shows, in order (a MutationObserver sees each change, however quick).
    page.evaluate(
        """() => {
            window.tickHistory = {};
            const record = (bubble, status) => {
                const id = bubble.dataset.messageId || "pending";
                (window.tickHistory[id] = window.tickHistory[id] || []).push(status);
            };
            new MutationObserver((changes) => {
                for (const change of changes) {
                    const tick = change.target.closest && change.target.closest(".tick");
                    if (tick && change.attributeName === "data-status") {
                        record(tick.closest(".bubble"), tick.dataset.status);
                    }
                    // A bubble the stream brought before the send's answer comes in whole, with its status.
                    for (const node of change.addedNodes || []) {
                        const added = node.querySelectorAll ? [node, ...node.querySelectorAll(".bubble")] : [];
                        for (const bubble of added.filter((b) => b.matches(".bubble.outbound[data-message-id]"))) {
                            const shown = bubble.querySelector(".tick");
                            if (shown) record(bubble, shown.dataset.status);
                        }
                    }
                    if (change.attributeName === "data-message-id" && change.oldValue === null) {
                        window.tickHistory[change.target.dataset.messageId] = window.tickHistory.pending || [];
                        delete window.tickHistory.pending;
                    }
                }
            }).observe(document.getElementById("thread"), {subtree: true, childList: true, attributes: true,
                                                             attributeOldValue: true,
                                                             attributeFilter: ["data-status", "data-message-id"]});
        }"""
    )

    page.fill("#composer-text", "Are you there?\nA second line")
    page.press("#composer-text", "Enter")
    mine = page.locator("#thread .bubble.outbound").last
    assert mine.locator(".text").inner_text() == "Are you there?\nA second line"  # at once, before the server answers
    page.wait_for_function("() => [...document.querySelectorAll('#thread .bubble.outbound')].pop().dataset.messageId")
    message_id = int(mine.get_attribute("data-message-id") or 0)
    assert message_id > 0
    tick = mine.locator(".tick")
    page.wait_for_selector(f"#m-{message_id} .tick[data-status='sent'], #m-{message_id} .tick[data-status='delivered']")
    shot(page, "sent")
    page.wait_for_selector(f"#m-{message_id} .tick[data-status='read']")
    shot(page, "read")
    assert tick.evaluate("(t) => getComputedStyle(t).color") == BLUE

    history = page.evaluate(f"() => window.tickHistory['{message_id}']")
    order = ["pending", "queued", "accepted", "sent", "delivered", "read"]
    assert {"sent", "delivered", "read"} <= set(history), history
    assert history == sorted(history, key=order.index), history  # forward only, never back

    # A question always gets an answer from a simulated contact: it arrives live, and is read at once.
    page.wait_for_function(
        "(id) => [...document.querySelectorAll('#thread .bubble.inbound')]"
        ".some((b) => Number(b.dataset.messageId) > id)",
        arg=message_id,
    )
    reply = page.locator("#thread .bubble.inbound").last.locator(".text").inner_text()
    page.locator(f"#conv-{ana} .preview", has_text=reply).wait_for()
    page.wait_for_selector(f"#conv-{ana}:not(.unread)")
    shot(page, "reply")
    assert page.evaluate("() => window.samePage") is True


def test_statuses_that_come_before_the_sends_answer_still_reach_its_bubble(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    """The stream may bring a message and its statuses before POST /api/v1/messages has answered the page (a
    slow answer): the message's bubble still shows them (the stream's own bubble takes the composer's place).
    Here the answer is held until the message is read, so no later event could make up for a lost one."""
    dev = sandbox.conversation_of(DEV)
    held: list[int] = []

    def hold_until_read(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        answer = route.fetch()
        message_id = int(answer.json()["id"])
        held.append(message_id)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sandbox.api("GET", f"/api/v1/messages/{message_id}").json().get("status") == "read":
                break
            time.sleep(0.2)
        time.sleep(1.0)  # the stream's events reach the page meanwhile
        route.fulfill(response=answer)

    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    page.click(f"#conv-{dev} a")
    page.wait_for_selector(f"#conversation[data-id='{dev}']")
    page.route("**/api/v1/messages", hold_until_read)
    page.fill("#composer-text", "Read before you know it")
    page.press("#composer-text", "Enter")
    page.wait_for_function("() => [...document.querySelectorAll('#thread .bubble.outbound')].pop().dataset.messageId")
    assert held, "the send's answer was not held"
    assert sandbox.api("GET", f"/api/v1/messages/{held[0]}").json()["status"] == "read"
    page.wait_for_selector(f"#m-{held[0]} .tick[data-status='read']", timeout=5_000)
    shot(page, "read-before-the-answer")
    page.unroute("**/api/v1/messages")


def test_a_refused_send_stays_on_its_bubble_with_the_reason(sandbox: Sandbox, page: Page, shot: Shots) -> None:
    dev = sandbox.conversation_of(DEV)
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    page.goto(f"{sandbox.url}/c/{dev}")
    page.wait_for_selector("#live[data-state=live]")
    # A page whose recipient the API refuses (as a stale page would be): the 422's reason shows on the bubble.
    page.evaluate("() => { document.getElementById('composer').dataset.to = '12'; }")
    page.fill("#composer-text", "this one is refused")
    page.press("#composer-text", "Enter")
    refused = page.locator("#thread .bubble.refused")
    refused.wait_for()
    assert refused.locator(".text").inner_text() == "this one is refused"
    reason = refused.locator(".error").inner_text()
    assert reason.startswith("Not sent: ") and "to" in reason, reason
    assert refused.locator(".tick").get_attribute("data-status") == "refused"
    assert refused.get_attribute("data-message-id") is None  # nothing was queued
    assert page.input_value("#composer-text") == ""
    shot(page, "refused")


def test_hostile_names_and_bodies_show_as_text(sandbox: Sandbox, page: Page, shot: Shots) -> None:
    name, body = "<img src=x onerror=alert(1)>", "<script>alert(1)</script>"
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    sandbox.inbound("14155550177", body, name=name)
    row = page.locator("#conversation-list .row", has_text=name)
    row.wait_for()  # live, through the stream
    assert row.locator(".name").inner_text() == name
    row.locator("a").click()
    page.wait_for_selector("#thread .bubble.inbound")
    assert page.locator("#thread .bubble.inbound .text").last.inner_text() == body
    assert page.locator("#conv-header .name").inner_text() == name
    shot(page, "hostile-live")
    page.reload()  # and as the server renders the whole page
    assert page.locator("#thread .bubble.inbound .text").last.inner_text() == body
    assert page.locator("img").count() == 0
    assert page.locator("#thread script").count() == 0
    shot(page, "hostile-reloaded")


def test_inbox_pages_have_a_csp_without_unsafe_inline(sandbox: Sandbox, page: Page) -> None:
    for path in ("/login", "/"):
        response = page.goto(f"{sandbox.url}{path}")
        assert response is not None
        policy = response.all_headers()["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert directives["frame-ancestors"] == "'none'"
        if path == "/login":
            log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)


def test_on_a_phone_the_list_and_a_conversation_take_turns(
    sandbox: Sandbox, context: BrowserContext, page: Page, shot: Shots
) -> None:
    page.set_viewport_size(PHONE)
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    dev = sandbox.conversation_of(DEV)
    assert page.locator(".pane").is_hidden()
    row = page.locator(f"#conv-{dev}")
    box = row.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 0.5  # nothing cut off
    shot(page, "phone-list")
    row.locator("a").click()
    page.wait_for_selector(f"#conversation[data-id='{dev}']")
    assert page.locator(".sidebar").is_hidden()
    assert page.locator("#composer-text").is_visible()
    shot(page, "phone-conversation")
    page.click(".back")
    page.wait_for_url(re.compile(rf"{re.escape(sandbox.url)}/(\?.*)?$"))
    assert page.locator(f"#conv-{dev}").is_visible()


def test_a_long_conversation_opens_on_its_newest_messages_and_loads_older_ones_in_place(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    talker = "14155550166"
    for n in range(60):  # more than a page (50)
        sandbox.inbound(talker, f"old message {n}", name="Long Talker")
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    row = page.locator("#conversation-list .row", has_text="Long Talker")
    row.locator(".preview", has_text="old message 59").wait_for()  # all stored
    row.locator("a").click()
    newest = page.locator("#thread .bubble", has_text="old message 59")
    newest.wait_for()
    assert newest.is_visible() and page.locator("#thread .bubble").count() == 50
    assert page.locator("#thread .bubble .text").first.inner_text() == "old message 10"
    shot(page, "newest")

    anchor = page.locator("#thread .bubble .text", has_text=re.compile(r"^old message 10$"))
    # Scrolled to the top and measured in one task: before the older page can have been asked for.
    before = anchor.evaluate(
        "(a) => { const s = document.getElementById('messages'); s.scrollTop = -s.scrollHeight;"
        " return a.getBoundingClientRect().y; }"
    )
    page.locator("#thread .bubble .text", has_text=re.compile(r"^old message 0$")).wait_for()
    after = anchor.evaluate("(a) => a.getBoundingClientRect().y")
    assert abs(after - before) < 2, (before, after)  # the page loaded above what was read, which stays in place
    assert page.locator("#thread .bubble").count() == 60
    assert page.locator("#thread .day").count() == 1  # one separator for the day, however many pages
    shot(page, "older-loaded")
