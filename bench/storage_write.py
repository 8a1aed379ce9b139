"""Remote storage write benchmark (SPEC.md §7, media memory bar): a large file written through the Google Drive
backend (resumable upload session, 8 MiB chunks) and, as the same run's baseline, through the SharePoint backend
(upload session, 10 MiB fragments); both spool to a temporary file first.

Each backend's fake (``tests/gdrive_fake.py``, ``tests/msgraph_fake.py``) runs in its own process, so the bytes it
keeps are not counted. A thread samples this process's RSS every 5 ms; each write prints its peak growth over the
RSS just before it and its MB/s, and the stored size is checked. Target: growth <= 32 MB.

Usage: ``.venv/bin/python bench/storage_write.py [--mb 100] [--json]``; each backend runs in a fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TARGET_GROWTH_MB = 32
CHUNK = 256 * 1024


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(factory: str) -> tuple[subprocess.Popen[bytes], str]:
    """A fake started with uvicorn in its own process; its base URL once it answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/nothing", timeout=2)
            return proc, url
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.stderr.read().decode() if proc.stderr else ""
                raise SystemExit(f"{factory} did not start: {output}") from None
            time.sleep(0.1)


async def measure(name: str, store_url: str, mb: int) -> dict[str, float | str]:
    from wahub import storage

    store = storage.from_url(store_url)
    await store.check()  # sign in and make the folders before measuring
    block = os.urandom(CHUNK)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(mb * 1024 * 1024 // CHUNK):
            yield block

    before = peak = rss_mb()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    written = await store.write("bench/file", chunks())
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    assert written == mb * 1024 * 1024 == await store.size("bench/file"), "the stored size is wrong"
    await store.delete("bench/file")
    return {"name": name, "mb_per_s": round(mb / seconds, 1), "rss_before_mb": round(before, 1),
            "peak_growth_mb": round(max(peak, rss_mb()) - before, 1)}  # fmt: skip


async def one(backend: str, mb: int) -> dict[str, float | str]:
    sys.path.insert(0, str(ROOT))
    from tests import gdrive_fake, msgraph_fake

    drive, drive_url = serve("tests.gdrive_fake:create_app")
    graph, graph_url = serve("tests.msgraph_fake:create_app")
    try:
        sharepoint = (
            f"sharepoint://contoso.sharepoint.com/sites/Marketing/bench?tenant_id={msgraph_fake.TENANT}"
            f"&client_id={msgraph_fake.CLIENT_ID}&client_secret={msgraph_fake.CLIENT_SECRET}"
            f"&graph_url={graph_url}/v1.0&login_url={graph_url}/login"
        )
        gdrive = (
            f"gdrive://wahub/bench?refresh_token={gdrive_fake.REFRESH_TOKEN}&client_id={gdrive_fake.CLIENT_ID}"
            f"&client_secret={gdrive_fake.CLIENT_SECRET}&api_url={drive_url}&token_url={drive_url}/token"
        )
        if backend == "gdrive":
            return await measure("gdrive", gdrive, mb)
        return await measure("sharepoint (baseline)", sharepoint, mb)
    finally:
        for proc in (drive, graph):
            proc.terminate()
            proc.wait()


def main(mb: int) -> list[dict[str, float | str]]:
    """Each backend in a fresh process of its own, so neither inherits the other's grown heap."""
    results = []
    for backend in ("sharepoint", "gdrive"):
        cmd = [sys.executable, __file__, "--mb", str(mb), "--backend", backend]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--backend", choices=["sharepoint", "gdrive"], help="measure only this one (JSON)")
    args = parser.parse_args()
    if args.backend:
        print(json.dumps(asyncio.run(one(args.backend, args.mb))))
        sys.exit(0)
    results = main(args.mb)
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            verdict = "ok" if float(r["peak_growth_mb"]) <= TARGET_GROWTH_MB else "OVER"
            print(f"{r['name']:<22} {r['mb_per_s']:>7} MB/s  peak RSS growth {r['peak_growth_mb']:>6} MB  {verdict}")
