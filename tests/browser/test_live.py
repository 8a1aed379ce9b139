"""The open conversation under a stream of messages, in a real browser against a real sandbox: every message shows
once and in order, the thread keeps its newest bubbles while the agent reads the end, and scrolling up brings the
older ones back (``static/js/live.js`` hands events over in batches, ``thread.js`` keeps the newest 200)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from tests.browser.conftest import Sandbox, Shots, log_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

KEPT = 200  # thread.js


def test_a_burst_to_the_open_conversation_shows_every_message_in_order_and_keeps_the_newest(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    talker = "14155550188"
    sandbox.inbound(talker, "burst 0", name="Burst Talker")
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    page.locator("#conversation-list .row", has_text="Burst Talker").locator("a").click()
    page.locator("#thread .bubble", has_text="burst 0").wait_for()

    total = KEPT + 30
    for n in range(1, total + 1):  # one after the other: the webhooks (and their ids) keep this order
        sandbox.inbound(talker, f"burst {n}")
    page.locator("#thread .bubble .text", has_text=re.compile(rf"^burst {total}$")).wait_for()
    texts = page.locator("#thread .bubble .text").all_inner_texts()
    assert texts == [f"burst {n}" for n in range(total + 1 - KEPT, total + 1)]  # the newest, once each, in order
    assert page.locator("#thread .older").count() == 1
    assert page.locator("#thread .day").count() == 1
    shot(page, "newest-kept")

    # Scrolled up, the older ones come back above, in order, with nothing twice.
    with ThreadPoolExecutor(1) as pool:  # a message arriving meanwhile goes at the end
        late = pool.submit(sandbox.inbound, talker, f"burst {total + 1}")
        page.evaluate("() => { const s = document.getElementById('messages'); s.scrollTop = -s.scrollHeight; }")
        page.locator("#thread .bubble .text", has_text=re.compile(r"^burst 0$")).wait_for()
        late.result()
    page.locator("#thread .bubble .text", has_text=re.compile(rf"^burst {total + 1}$")).wait_for()
    texts = page.locator("#thread .bubble .text").all_inner_texts()
    assert texts == [f"burst {n}" for n in range(total + 2)]
    assert page.locator("#thread .day").count() == 1
    shot(page, "older-back")
