"""Browser tests: Playwright for Python driving Debian's chromium (SPEC.md §10) against a real ``wahub serve``
(role all, SQLite, the sandbox: fakegraph plays Meta and its simulated contacts).

Playwright cannot download its own browsers here, so the tests launch ``/usr/bin/chromium`` (``.ci/run`` installs
it with apt when it is missing). Under ``CI=true`` a missing chromium or playwright fails the run; elsewhere the
tests are skipped with the reason. Screenshots of each step go to ``test-artifacts/browser/<test>/``.

Every page is watched: a JavaScript dialog (``alert``: a script that should never have run) or a
Content-Security-Policy violation fails the test that caused it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.acceptance.test_sandbox import Wahub, started
from tests.conftest import IN_CI
from tests.support import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

CHROMIUM = Path(os.environ.get("WAHUB_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 30_000  # for what the sandbox does in its own time (ticks, replies): far more than it takes


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: the browser tests must run, but {reason}", pytrace=False)
    pytest.skip(reason)


# Module-scoped, not session-scoped: Playwright's sync API keeps an event loop running in this thread while it is
# open, and every later test that calls asyncio.run (the integration tests, run after these in one session)
# would fail with "Cannot run the event loop while another loop is running".
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Sandbox:
    """A running ``wahub serve`` sandbox: its URL, API key, admin login and fakegraph."""

    url: str
    api_key: str
    admin_email: str
    admin_password: str
    fakegraph: str
    data_dir: Path | None = None  # wahub's data dir (the sandbox's secret key derives fakegraph's token)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)

    def add_user(self, email: str, role: str = "agent") -> tuple[int, str]:
        """A new user; returns their id and one-time password."""
        user = {"email": email, "name": email.split("@")[0].title(), "role": role}
        answer = self.api("POST", "/api/v1/users", json=user)
        assert answer.status_code == 201, answer.text
        return answer.json()["user"]["id"], answer.json()["password"]

    def conversation_of(self, wa_id: str) -> int:
        answer = self.api("GET", "/api/v1/conversations", params={"limit": 200})
        assert answer.status_code == 200, answer.text
        found = [c["id"] for c in answer.json()["items"] if c["contact"]["wa_id"] == wa_id]
        assert found, f"no conversation with {wa_id}"
        return int(found[0])

    def inbound(self, wa_id: str, text: str, name: str | None = None) -> None:
        """The contact ``wa_id`` writes ``text`` now (a signed webhook from fakegraph)."""
        body = {"from": wa_id, "text": text, **({"name": name} if name else {})}
        answer = httpx.post(f"{self.fakegraph}/_fake/inbound", json=body, timeout=10)
        assert answer.is_success, answer.text


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One ``wahub serve`` per test module (each test uses contacts of its own)."""
    folder = tmp_path_factory.mktemp("inbox")
    process = Wahub(folder, free_port())
    try:
        key = started(process)
        banner = "".join(process.output)
        login = re.search(r"sandbox admin login: (\S+) password: (\S+)", banner)
        fake = re.search(r"fake Meta Cloud API at (http://\S+)\)", banner)
        assert login and fake, banner
        yield Sandbox(process.url, key, login.group(1), login.group(2), fake.group(1), folder / "wahub-data")
    finally:
        process.stop()


@dataclass
class Watched:
    """What a page did that it never should: dialogs opened, CSP violations reported."""

    dialogs: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    ctx = chromium.new_context(viewport=WIDE, timezone_id="Europe/Berlin", locale="en-GB")
    ctx.set_default_timeout(WAIT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def watched() -> Watched:
    return Watched()


@pytest.fixture
def page(context: BrowserContext, watched: Watched) -> Iterator[Page]:
    page = watch(context.new_page(), watched)
    yield page
    assert not watched.dialogs, f"a script ran and opened a dialog: {watched.dialogs}"
    assert not watched.csp_violations, f"the Content-Security-Policy refused: {watched.csp_violations}"


def watch(page: Page, watched: Watched) -> Page:
    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text:
            watched.csp_violations.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    return page


class Shots:
    """Numbered screenshots of one test's steps, under ``test-artifacts/browser/<test>/``."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", name)
        self.count = 0

    def __call__(self, page: Page, label: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{label}.png"))


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


def log_in(page: Page, url: str, email: str, password: str) -> None:
    """Log in through the form and wait for the inbox to be live (its stream open)."""
    if "/login" not in page.url:
        page.goto(f"{url}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#live[data-state=live]")
