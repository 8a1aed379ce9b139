"""The CLI starts fast because a command imports only what it uses: ``wahub --help`` imports none of the server,
the store or the provider, and ``wahub apikey list`` only the store (docs/benchmarks.md, "CLI start"). Counted
in the modules a real ``wahub`` process imports (``python -X importtime``), never timed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# What the server, the HTTP client, the provider and the media storage bring in.
SERVER = {"fastapi", "starlette", "uvicorn", "aiohttp", "phonenumbers", "opendal", "multipart", "fakegraph"}
SERVER_PARTS = ("wahub.api", "wahub.runtime", "wahub.worker", "wahub.provider", "wahub.sandbox", "wahub.storage")
# What a command that reads the database brings in on top.
STORE = {"sqlalchemy", "alembic", "aiosqlite", "psycopg", "pydantic", "pydantic_settings", "cryptography"}


def wahub(*args: str, cwd: Path, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``wahub args...`` as users run it (``python -m wahub`` is the same entry point), with no WAHUB_ setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
    command = [sys.executable, *options, "-m", "wahub", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def imported(*args: str, cwd: Path) -> set[str]:
    """The modules ``wahub args...`` imports."""
    result = wahub(*args, cwd=cwd, options=("-X", "importtime"))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    names = {line.rpartition("|")[2].strip() for line in lines}
    assert "wahub.cli" in names  # the importtime report was read
    return names


def heavy(names: set[str], packages: set[str], parts: tuple[str, ...] = ()) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in packages or n.startswith(parts))


def test_help_imports_neither_the_server_nor_the_store(tmp_path: Path) -> None:
    names = imported("--help", cwd=tmp_path)
    assert {"wahub.cli.send", "wahub.cli.account"} <= names  # every command module was read
    assert heavy(names, SERVER | STORE, (*SERVER_PARTS, "wahub.store", "wahub.commands", "wahub.config")) == []


def test_apikey_list_imports_the_store_but_not_the_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    upgraded = wahub("db", "upgrade", "--data-dir", str(data), cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    names = imported("apikey", "list", "--data-dir", str(data), cwd=tmp_path)
    assert {"sqlalchemy", "wahub.store.apikeys", "wahub.commands"} <= names  # it did read the database
    assert heavy(names, SERVER, SERVER_PARTS) == []


@pytest.mark.parametrize("group", ["account", "send", "serve", "monitor"])
def test_the_help_of_each_command_or_group_imports_neither_the_server_nor_the_store(tmp_path: Path, group: str) -> None:
    names = imported(group, "--help", cwd=tmp_path)
    # typer (0.29) checks a command's options with pydantic once it builds them: typer's own import, not ours.
    assert heavy(names, SERVER | STORE - {"pydantic"}, (*SERVER_PARTS, "wahub.store", "wahub.config")) == []
