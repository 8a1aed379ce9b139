"""axe-core (``vendor/axe.min.js``, for the tests only) on the main pages, at 1280×800 and at 390 px wide: no
violation of impact serious or critical (labels, contrast, names of controls, landmarks...).

axe is injected as a script, which the pages' Content-Security-Policy rightly refuses: these contexts bypass it
(``bypass_csp``), and nothing else of the pages changes. ``test_inbox.py`` checks the policy itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import PHONE, WAIT_MS, WIDE, Sandbox, Shots, log_in

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ANA = "14155550101"
ADMIN_PAGES = ("/admin/stats", "/admin/users", "/admin/api-keys", "/admin/accounts", "/admin/webhooks")
SERIOUS = ("serious", "critical")


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the page as it is now: rule, impact, help and the elements."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
            }));
        }"""
    )
    return [v for v in found if v["impact"] in SERIOUS]


@pytest.fixture(params=[pytest.param(WIDE, id="1280x800"), pytest.param(PHONE, id="390px")])
def axe_page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = chromium.new_context(viewport=request.param, bypass_csp=True, timezone_id="Europe/Berlin", locale="en-GB")
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def test_the_main_pages_have_no_serious_accessibility_violations(sandbox: Sandbox, axe_page: Page, shot: Shots) -> None:
    page = axe_page
    checked: dict[str, list[dict[str, Any]]] = {}
    page.goto(f"{sandbox.url}/login")
    page.wait_for_selector("#login-form")
    checked["login"] = violations(page)
    shot(page, "login")

    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    checked["inbox"] = violations(page)
    shot(page, "inbox")

    conversation = sandbox.conversation_of(ANA)
    page.goto(f"{sandbox.url}/c/{conversation}")
    page.wait_for_selector(f"#conversation[data-id='{conversation}'] #composer")
    checked["conversation"] = violations(page)
    shot(page, "conversation")

    for path in ADMIN_PAGES:
        page.goto(f"{sandbox.url}{path}")
        page.wait_for_selector("#admin-main h1")
        checked[path] = violations(page)
        shot(page, path.rsplit("/", 1)[-1])

    found = {name: v for name, v in checked.items() if v}
    assert not found, "\n".join(
        f"{name}: {v['impact']} {v['id']} ({v['help']}): {[n['target'] for n in v['nodes']]}"
        for name, vs in found.items()
        for v in vs
    )
