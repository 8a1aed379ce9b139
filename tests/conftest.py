"""Suite-wide: PostgreSQL availability policy and a summary line that shows the PostgreSQL tests ran."""

from __future__ import annotations

import os

import pytest

PG_URL = os.environ.get("WAHUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


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
    collected_pg = any("postgres" in item.keywords for item in session.items)
    if collected_pg and not ran:
        reporter.write_line("CI=true: no PostgreSQL test passed; failing the run")
        session.exitstatus = 1
