"""The inbox's flow in a real browser, against a real sandbox: search to an old message and land on it, the list
from the keyboard, assignment and resolve moving a conversation between the lists of another inbox live, a
record's page (``/e/{type}/{id}``), and the stream surviving a restart of the server.

This module runs its own ``wahub serve`` (``sandbox`` below) on one port and data dir for the whole module, so
that the last test can stop it and start it again where the page expects it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.acceptance.test_sandbox import Wahub, started
from tests.browser.conftest import Sandbox, Shots, Watched, log_in, watch
from tests.support import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

ANA, BEN, CHLOE, DEV = "14155550101", "14155550102", "14155550103", "14155550104"
FAKEGRAPH = re.compile(r"fake Meta Cloud API at (http://\S+)\)")


@dataclass
class Restartable(Sandbox):
    """The sandbox of this module, which a test may restart on the same port and data dir."""

    process: Wahub | None = None
    folder: Path | None = None
    port: int = 0

    def stop(self) -> None:
        assert self.process is not None
        self.process.stop()

    def start(self) -> None:
        """Start ``wahub serve`` again (stopped before); fakegraph comes back on a port of its own."""
        assert self.folder is not None
        self.process = Wahub(self.folder, self.port)
        started(self.process)
        found = FAKEGRAPH.search("".join(self.process.output))
        assert found, self.process.output
        self.fakegraph = found.group(1)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    folder = tmp_path_factory.mktemp("flow")
    port = free_port()
    box = Restartable("", "", "", "", "", folder / "wahub-data", Wahub(folder, port), folder, port)
    try:
        assert box.process is not None
        box.api_key = started(box.process)
        box.url = box.process.url
        banner = "".join(box.process.output)
        login = re.search(r"sandbox admin login: (\S+) password: (\S+)", banner)
        fake = FAKEGRAPH.search(banner)
        assert login and fake, banner
        box.admin_email, box.admin_password, box.fakegraph = login.group(1), login.group(2), fake.group(1)
        yield box
    finally:
        box.stop()  # the process running now: a test may have restarted it


def second_page(chromium: Browser, watched: Watched) -> tuple[BrowserContext, Page]:
    """Another person's browser (a context of its own: its own cookies and session)."""
    ctx = chromium.new_context(viewport={"width": 1280, "height": 800}, timezone_id="Europe/Berlin", locale="en-GB")
    ctx.set_default_timeout(30_000)
    return ctx, watch(ctx.new_page(), watched)


def stored(sandbox: Sandbox, word: str) -> None:
    """Wait until a message holding ``word`` is stored (webhooks are processed after their ack)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sandbox.api("GET", "/api/v1/search", params={"q": word}).json()["items"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"no message with {word!r} was stored")


def in_view(page: Page, target: Locator) -> bool:
    """Whether ``target`` is wholly inside the thread's visible part."""
    return bool(
        target.evaluate(
            "(t) => { const s = document.getElementById('messages').getBoundingClientRect();"
            " const r = t.getBoundingClientRect(); return r.top >= s.top && r.bottom <= s.bottom; }"
        )
    )


def test_a_search_lands_on_an_old_message_and_the_thread_loads_both_ways(
    sandbox: Restartable, page: Page, shot: Shots
) -> None:
    talker = "14155550170"
    for n in range(30):
        sandbox.inbound(talker, f"before {n}", name="Old Timer")
    sandbox.inbound(talker, "the parcel went by zeppelin", name="Old Timer")
    for n in range(80):
        sandbox.inbound(talker, f"after {n}", name="Old Timer")
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    page.locator("#conversation-list .row", has_text="Old Timer").locator(".preview", has_text="after 79").wait_for()

    page.fill("#search", "zeppel")
    shot(page, "typed")
    page.press("#search", "Enter")
    hit = page.locator("#message-hits .hit", has_text="zeppelin")
    hit.wait_for()
    assert hit.locator("mark").inner_text() == "zeppelin"
    assert page.locator("#conversation-list .row .name").all_inner_texts() == ["Old Timer"]
    shot(page, "results")

    hit.locator("a").click()
    target = page.locator("#thread .bubble.target")
    target.wait_for()
    assert target.locator(".text").inner_text() == "the parcel went by zeppelin"
    assert re.search(r"/c/\d+\?at=\d+&filter=all&q=zeppel$", page.url), page.url
    assert in_view(page, target)
    assert page.locator("#thread .bubble", has_text=re.compile(r"^after 79$")).count() == 0  # not the newest page
    shot(page, "landed")
    # A message arriving now belongs after the pages not loaded yet: the list shows it, the thread waits.
    sandbox.inbound(talker, "while you read deep inside", name="Old Timer")
    page.locator(".row .preview", has_text="while you read deep inside").wait_for()
    assert page.locator("#thread .bubble", has_text="while you read deep inside").count() == 0

    # Scrolling down loads the newer pages up to the newest message, what was read staying in place; scrolling
    # up, the older ones.
    last = page.locator("#thread .newer").locator("xpath=preceding-sibling::div[contains(@class, 'bubble')][1]")
    anchor = page.locator("#thread .bubble", has=page.get_by_text(last.locator(".text").inner_text(), exact=True))
    # Scrolled to the bottom and measured in one task: before the newer page can have been asked for.
    before = anchor.evaluate(
        "(a) => { document.getElementById('messages').scrollTop = 0; return a.getBoundingClientRect().y; }"
    )
    page.locator("#thread .bubble .text", has_text=re.compile(r"^after 25$")).wait_for()
    after = anchor.evaluate("(a) => a.getBoundingClientRect().y")
    assert abs(after - before) < 2, (before, after)
    newest = page.locator("#thread .bubble .text", has_text="while you read deep inside")
    for _ in range(10):
        if newest.count():
            break
        page.evaluate("() => { const s = document.getElementById('messages'); s.scrollTop = 0; }")  # the bottom
        page.wait_for_timeout(300)
    newest.wait_for()
    shot(page, "newest-loaded")
    oldest = page.locator("#thread .bubble .text", has_text=re.compile(r"^before 0$"))
    for _ in range(10):
        if oldest.count():
            break
        page.evaluate("() => { const s = document.getElementById('messages'); s.scrollTop = -s.scrollHeight; }")
        page.wait_for_timeout(300)
    oldest.wait_for()
    assert page.locator("#thread .bubble").count() == 112  # each once
    shot(page, "oldest-loaded")

    # Reached the newest page: a message written now appears live at the end.
    sandbox.inbound(talker, "and one more", name="Old Timer")
    page.locator("#thread .bubble .text", has_text="and one more").wait_for()


def test_the_list_is_walked_with_the_arrow_keys_and_enter_opens(sandbox: Restartable, page: Page, shot: Shots) -> None:
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    rows = page.locator("#conversation-list .row")
    ids = [row.get_attribute("data-id") for row in rows.all()]
    assert len(ids) >= 3
    page.focus("#search")
    page.keyboard.press("ArrowDown")
    focused = "() => document.activeElement.closest('.row')?.dataset.id"
    assert page.evaluate(focused) == ids[0]
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == ids[2]
    page.keyboard.press("ArrowUp")
    assert page.evaluate(focused) == ids[1]
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # the selection is visible
    shot(page, "selected")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#conversation[data-id='{ids[1]}']")
    assert page.evaluate(focused) == ids[1]  # the list keeps the focus: down again goes on
    # A live update renders the row again: the selection stays on it.
    kim, _ = sandbox.add_user("kim@example.com")
    assert sandbox.api("POST", f"/api/v1/conversations/{ids[1]}/assign", json={"user_id": kim}).status_code == 200
    page.locator(f"#conv-{ids[1]} .assignee", has_text="Kim").wait_for()
    assert page.evaluate(focused) == ids[1]
    assert [row.get_attribute("data-id") for row in rows.all()] == ids  # in its place (ties: by id, as the server)
    assert sandbox.api("POST", f"/api/v1/conversations/{ids[1]}/assign", json={"user_id": None}).status_code == 200
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#conversation[data-id='{ids[2]}']")
    shot(page, "opened")


def test_assign_and_resolve_move_the_conversation_between_lists_live_in_another_inbox(
    sandbox: Restartable, chromium: Browser, watched: Watched, page: Page, shot: Shots
) -> None:
    _flo, password = sandbox.add_user("flo@example.com")
    chloe = sandbox.conversation_of(CHLOE)
    log_in(page, sandbox.url, "flo@example.com", password)
    page.goto(f"{sandbox.url}/?filter=unassigned")
    page.wait_for_selector("#live[data-state=live]")

    other, admin = second_page(chromium, watched)
    try:
        log_in(admin, sandbox.url, sandbox.admin_email, sandbox.admin_password)
        admin.goto(f"{sandbox.url}/?filter=unassigned")
        admin.wait_for_selector("#live[data-state=live]")
        resolved = watch(other.new_page(), watched)
        resolved.goto(f"{sandbox.url}/?filter=resolved")
        resolved.wait_for_selector("#live[data-state=live]")
        assert admin.locator(f"#conv-{chloe}").count() == 1 and resolved.locator(f"#conv-{chloe}").count() == 0

        page.click(f"#conv-{chloe} a")
        page.wait_for_selector(f"#conversation[data-id='{chloe}']")
        shot(page, "opened")
        page.click(".workflow [data-assign=me]")
        page.locator("#conv-header .assignee", has_text="Flo").wait_for()
        page.locator(f"#conv-{chloe}").wait_for(state="detached")  # no longer unassigned, here
        admin.locator(f"#conv-{chloe}").wait_for(state="detached")  # nor there
        assert page.locator(".workflow [data-assign=me]").count() == 0
        shot(page, "assigned")
        shot(admin, "admin-unassigned-after")

        page.click(".workflow [data-action=resolve]")
        resolved.locator(f"#conv-{chloe}").wait_for()  # the admin's resolved list gains it, live
        assert resolved.locator(f"#conv-{chloe} .state").inner_text() == "resolved"
        page.locator("#conv-header .state", has_text="resolved").wait_for()
        shot(resolved, "admin-resolved-list")
        page.click(".workflow [data-action=reopen]")
        resolved.locator(f"#conv-{chloe}").wait_for(state="detached")
        page.locator(".workflow [data-action=resolve]").wait_for()

        # Back to nobody, from the menu: the unassigned lists have it again.
        page.select_option(".workflow select", "none")
        admin.locator(f"#conv-{chloe}").wait_for()
        page.locator(f"#conv-{chloe}").wait_for()
        shot(admin, "admin-unassigned-again")
    finally:
        other.close()


def test_a_records_page_shows_what_is_linked_to_it_and_links_are_edited_on_the_conversation(
    sandbox: Restartable, chromium: Browser, watched: Watched, page: Page, shot: Shots
) -> None:
    ben, dev = sandbox.conversation_of(BEN), sandbox.conversation_of(DEV)
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    other, watcher = second_page(chromium, watched)
    try:
        log_in(watcher, sandbox.url, sandbox.admin_email, sandbox.admin_password)
        watcher.goto(f"{sandbox.url}/e/invoice/INV%2F42")
        watcher.wait_for_selector("#live[data-state=live]")
        assert watcher.locator("#conversation-list .row").count() == 0
        assert "Linked to invoice INV/42" in watcher.locator(".entity-chip").inner_text()

        page.goto(f"{sandbox.url}/c/{ben}")
        page.wait_for_selector("#live[data-state=live]")  # the page's scripts run: the bar's form is theirs
        page.fill(".link-form [name=entity_type]", "invoice")
        page.fill(".link-form [name=entity_id]", "INV/42")
        page.click(".link-form button[type=submit]")
        chip = page.locator(".workflow .links a", has_text="invoice INV/42")
        chip.wait_for()
        watcher.locator(f"#conv-{ben}").wait_for()  # the record's page gains it, live
        shot(page, "linked")
        shot(watcher, "record-live")

        # The record's page with one conversation opens it; with two, it lists both.
        chip.click()
        page.wait_for_url(f"{sandbox.url}/e/invoice/INV%2F42")
        page.wait_for_selector(f"#conversation[data-id='{ben}']")
        assert page.locator("#conversation-list .row").count() == 1
        shot(page, "record-one")
        linked = sandbox.api(
            "POST", f"/api/v1/conversations/{dev}/entities", json={"entity_type": "invoice", "entity_id": "INV/42"}
        )
        assert linked.status_code == 201, linked.text
        page.locator(f"#conv-{dev}").wait_for()
        page.goto(f"{sandbox.url}/e/invoice/INV%2F42")
        page.wait_for_selector("#live[data-state=live]")
        assert sorted(
            page.locator("#conversation-list .row").evaluate_all("(rs) => rs.map((r) => r.dataset.id)")
        ) == sorted([str(ben), str(dev)])
        assert page.locator("#conversation").count() == 0
        shot(page, "record-two")

        page.click(f"#conv-{ben} a")
        page.wait_for_selector(f"#conversation[data-id='{ben}']")
        page.click(".workflow .links button[aria-label='Remove the link to invoice INV/42']")
        page.locator(".workflow .links a").wait_for(state="detached")
        watcher.locator(f"#conv-{ben}").wait_for(state="detached")  # gone from the record's page, live
        page.locator(f"#conv-{ben}").wait_for(state="detached")  # and from this list, narrowed to the record
        shot(page, "unlinked")

        bad = page.goto(f"{sandbox.url}/e/in%20voice/42")
        assert bad is not None and bad.status == 404
        assert page.locator("#not-found h2").inner_text() == "Record not found"
    finally:
        other.close()


def test_after_a_restart_the_page_reconnects_and_shows_what_came_meanwhile(
    sandbox: Restartable, context: BrowserContext, page: Page, shot: Shots
) -> None:
    ana = sandbox.conversation_of(ANA)
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    page.goto(f"{sandbox.url}/c/{ana}")
    page.wait_for_selector("#live[data-state=live]")
    page.evaluate("() => { window.samePage = true; }")  # gone if the page reloads
    notice = page.locator("#connection-notice")
    assert notice.is_hidden()

    streams: list[str] = []  # the stream's answers to this page from now on
    page.on("response", lambda r: streams.append(r.url) if "/api/v1/stream" in r.url else None)
    sandbox.stop()
    notice.wait_for(state="visible")
    assert page.locator("#live").get_attribute("data-state") == "reconnecting"
    shot(page, "dropped")
    # Offline while the server comes back and the messages arrive: the page cannot have them but by reconnecting.
    context.set_offline(True)
    try:
        sandbox.start()
        sandbox.inbound(ANA, "written while you were away")
        sandbox.inbound(BEN, "me too, meanwhile")
        ben = sandbox.conversation_of(BEN)
        stored(sandbox, "meanwhile")
        # The page tries again (and fails, offline) after the messages were stored: it had no stream then.
        with page.expect_event(
            "requestfailed", lambda r: "/api/v1/stream" in r.url, timeout=60_000
        ):  # back-off: ≤ 30 s
            pass
        assert streams == [], streams
        assert page.locator("#thread .bubble", has_text="written while you were away").count() == 0
    finally:
        context.set_offline(False)
    page.locator("#thread .bubble .text", has_text="written while you were away").wait_for()
    page.locator(f"#conv-{ben} .preview", has_text="me too, meanwhile").wait_for()
    notice.wait_for(state="hidden")
    assert streams, "the messages came without the stream reconnecting"
    assert page.locator("#live").get_attribute("data-state") == "live"
    assert page.evaluate("() => window.samePage") is True
    shot(page, "reconnected")
