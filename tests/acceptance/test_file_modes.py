"""What wahub writes to disk holds message bodies, phone numbers and secrets: its data folder and every folder
in it are private to its user (0700) and every file is readable by that user alone (0600), whatever the umask of
the shell that started it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from fakegraph.media import sample_png
from tests.acceptance.test_sandbox import Wahub, started
from tests.support import free_port


def modes(root: Path) -> dict[str, int]:
    """Every folder and file under ``root`` (itself included), by its path relative to ``root``."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(root: Path) -> dict[str, int]:
    found = modes(root)
    loose = {name: oct(mode) for name, mode in found.items() if mode != (0o700 if (root / name).is_dir() else 0o600)}
    assert not loose, f"not private: {loose}"
    return found


def test_serve_creates_its_data_folder_databases_and_media_private(tmp_path: Path) -> None:
    wahub = Wahub(tmp_path, free_port())
    try:
        key = started(wahub)
        upload = httpx.post(
            f"{wahub.url}/api/v1/media",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("green.png", sample_png(), "image/png")},
        )
        assert upload.status_code == 201, upload.text
        data = tmp_path / "wahub-data"
        found = assert_private(data)
        expected = {"wahub.db", "wahub.db-wal", "wahub.db-shm", "wahub-events.db", "secret.key", "sandbox-api-key"}
        assert expected <= found.keys(), sorted(found)
        stored = [name for name in found if name.startswith("media/") and (data / name).is_file()]
        assert stored, sorted(found)  # the upload is there, and it was checked above
    finally:
        assert wahub.stop() == 0
    assert_private(tmp_path / "wahub-data")


def test_db_upgrade_creates_a_private_data_folder_and_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
    result = subprocess.run(
        [sys.executable, "-m", "wahub", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        umask=0o022,
    )
    assert result.returncode == 0, result.stderr
    found = assert_private(tmp_path / "wahub-data")
    assert {"wahub.db", "wahub-events.db"} <= found.keys()
