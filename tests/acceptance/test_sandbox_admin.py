"""The sandbox's admin: a fresh ``wahub serve`` makes one and prints its login beside the API key; the login works,
and a restart does not print (or change) the password again."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance.test_sandbox import Wahub, started
from tests.support import free_port


@pytest.fixture
def wahub(tmp_path: Path) -> Iterator[Wahub]:
    process = Wahub(tmp_path, free_port())
    yield process
    process.stop()


def test_a_fresh_sandbox_prints_an_admin_login_that_works(tmp_path: Path, wahub: Wahub) -> None:
    key = started(wahub)
    banner = "".join(wahub.output)
    found = re.search(r"sandbox admin login: (\S+) password: (\S+)", banner)
    assert found, banner
    assert banner.index("sandbox API key") < banner.index("sandbox admin login")
    email, password = found.groups()
    answer = httpx.post(f"{wahub.url}/api/v1/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["role"] == "admin"
    session = {"Cookie": f"wahub_access={answer.cookies['wahub_access']}"}
    assert httpx.get(f"{wahub.url}/api/v1/me", headers=session).json()["kind"] == "user"
    assert wahub.stop() == 0

    again = Wahub(tmp_path, free_port())
    try:
        assert started(again) == key
        line = re.search(r"sandbox admin login: .*", "".join(again.output))
        assert line, again.output
        assert password not in line.group(0) and "reset-password" in line.group(0)
    finally:
        again.stop()
