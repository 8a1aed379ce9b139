"""Suite-wide: PostgreSQL availability policy, a summary line that shows the PostgreSQL tests ran, and which tests
run alone (``serial``) while the others run in parallel (pytest-xdist, README's test command)."""

from __future__ import annotations

import os

import pytest

PG_URL = os.environ.get("WAHUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


# Tests that measure time or rates at the wire (a limit per second at fakegraph, a worker killed mid-send, a live
# update on screen), or start several processes of their own: they run alone, after the parallel run, so another
# test's CPU cannot move their clocks. The README's test command runs ``-m "not serial"`` with ``-n 2``, then
# ``-m serial``.
SERIAL_FOLDERS = ("acceptance", "browser")
SERIAL_MODULES = ("test_send_faults.py", "test_pair_pacing.py", "test_send_window.py")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path
        if path.parent.name in SERIAL_FOLDERS or path.name in SERIAL_MODULES:
            item.add_marker(pytest.mark.serial)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    counts = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        counts[outcome] = sum(
            1 for r in terminalreporter.stats.get(outcome, []) if "postgres" in getattr(r, "keywords", {})
        )
    terminalreporter.write_sep("-", "PostgreSQL")
    terminalreporter.write_line(
        f"PostgreSQL tests against {PG_URL}: {counts['passed']} passed, {counts['failed'] + counts['error']} failed,"
        f" {counts['skipped']} skipped"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Under CI the PostgreSQL tests must run; a suite where none passed is a failure, not a quiet skip.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not IN_CI or reporter is None or exitstatus != 0:
        return
    ran = [r for r in reporter.stats.get("passed", []) if "postgres" in getattr(r, "keywords", {})]
    # Under pytest-xdist the controller has no items of its own: the workers' reports say what ran.
    reports = [r for outcome in ("passed", "failed", "error", "skipped") for r in reporter.stats.get(outcome, [])]
    collected_pg = any("postgres" in item.keywords for item in session.items) or any(
        "postgres" in getattr(r, "keywords", {}) for r in reports
    )
    if collected_pg and not ran:
        reporter.write_line("CI=true: no PostgreSQL test passed; failing the run")
        session.exitstatus = 1
