"""Media benchmark (SPEC.md §7): a 100 MB document through download -> SHA-256 -> storage, in constant memory.

1. Starts moto's S3 server and fakegraph, each in its own process, and uploads a random document (default
   100 MB) to fakegraph, as a customer's file waiting at Meta.
2. Baseline, in this process: a bare aiohttp loop downloads the same file from fakegraph's media URL and
   throws the bytes away.
3. wahub, in this process: the media fetcher (``worker/media_fetcher.py``) fetches it for a media row on a fresh
   SQLite database (Meta's URL, bearer token, SHA-256 check) into S3 through OpenDAL, as ``wahub serve`` does.
4. A thread samples this process's RSS every 5 ms; each run prints its peak growth over the RSS just before it,
   its MB/s, and checks the stored file's SHA-256 and size. Target: growth <= 32 MB for wahub.

Usage: ``.venv/bin/python bench/media.py [--mb 100] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
PHONE_NUMBER_ID = "100000000000001"  # fakegraph's default
TARGET_GROWTH_MB = 32
BUCKET = "bench-media"


def log(message: str) -> None:
    print(f"[media] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """The highest RSS seen by a thread sampling every 5 ms while the block runs."""

    def __init__(self) -> None:
        self.before = self.peak = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRss:
        self.before = self.peak = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.005)

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())

    @property
    def growth(self) -> float:
        return self.peak - self.before


def start(cmd: list[str], url: str, ready_path: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + ready_path, timeout=2)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.stderr.read().decode() if proc.stderr else ""
                raise SystemExit(f"{cmd[2]} did not start: {output}") from None
            time.sleep(0.1)


@dataclass(slots=True)
class Result:
    name: str
    mb: float
    seconds: float
    mb_per_s: float
    rss_before_mb: float
    peak_growth_mb: float


async def bare_download(url: str) -> int:
    size = 0
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Authorization": "Bearer x"}) as response:
        async for chunk in response.content.iter_chunked(256 * 1024):
            size += len(chunk)
    return size


async def wahub_fetch(
    graph_url: str, moto_url: str, media_id: str, sha256: str, data_dir: Path
) -> tuple[str, PeakRss, float]:
    """Set up a database, an account and a pending media row, then measure the fetch alone."""
    from wahub import domain
    from wahub.provider import meta
    from wahub.provider.graph import GraphClient
    from wahub.storage import opendal_store
    from wahub.store import accounts, db, media, migrate
    from wahub.store.crypto import Vault
    from wahub.worker.media_fetcher import MediaFetcher

    url = f"sqlite:///{data_dir / 'wahub.db'}"
    migrate.upgrade(url)
    engine = db.create_engine(url)
    sessions = db.sessionmaker(engine)
    vault = Vault(secrets.token_urlsafe(32))
    store = opendal_store.from_url(f"s3://{BUCKET}/media?endpoint={moto_url}&region=us-east-1")
    try:
        async with db.transaction(sessions) as session:
            account = await accounts.upsert_meta(
                session,
                vault,
                name="bench",
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=None,
                credentials=accounts.Credentials("bench-token", "bench-secret", None),
            )
            ref = domain.MediaRef(media_id=media_id, mime_type="application/pdf", sha256=sha256)
            ids = await media.register_many(session, [(account.id, ref)])
        async with aiohttp.ClientSession() as http:
            fetcher = MediaFetcher(sessions, meta.providers(GraphClient(http, graph_url, "v25.0")), vault, store)
            await store.check()  # the S3 client's own set-up is not the fetch's
            with PeakRss() as peak:
                started = time.monotonic()
                taken = await fetcher.run_once()
                seconds = time.monotonic() - started
        if taken != 1:
            raise SystemExit(f"the fetcher took {taken} media")
        async with db.transaction(sessions) as session:
            item = await media.get(session, ids[(account.id, media_id)])
            assert item is not None
            if item.state != media.STORED:
                raise SystemExit(f"wahub did not store the file: {item.state} {item.error}")
            stored = hashlib.sha256()
            chunks: AsyncIterator[bytes] = store.read(item.storage_key or "")
            async for chunk in chunks:
                stored.update(chunk)
            return stored.hexdigest(), peak, seconds
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="size of the document in MB (Meta's maximum: 100)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        graph_url, moto_url, media_id, sha256, workdir = args.child
        stored, peak, seconds = asyncio.run(wahub_fetch(graph_url, moto_url, media_id, sha256, Path(workdir)))
        print(json.dumps({"sha256": stored, "before": peak.before, "peak": peak.peak, "seconds": seconds}))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="wahub-bench-media-"))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
    moto_port, graph_port = free_port(), free_port()
    moto_url, graph_url = f"http://127.0.0.1:{moto_port}", f"http://127.0.0.1:{graph_port}"
    procs = [
        start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], moto_url, "/", env),
        start([sys.executable, "-m", "fakegraph", "--port", str(graph_port), "--no-reply"], graph_url, "/_fake/config"),
    ]
    try:
        httpx.put(f"{moto_url}/{BUCKET}").raise_for_status()
        data = os.urandom(args.mb * 1024 * 1024)
        sha256 = hashlib.sha256(data).hexdigest()
        files = {"file": ("big.pdf", data, "application/pdf")}
        uploaded = httpx.post(
            f"{graph_url}/v25.0/{PHONE_NUMBER_ID}/media",
            data={"messaging_product": "whatsapp"},
            files=files,
            timeout=120,
        )
        uploaded.raise_for_status()
        media_id = uploaded.json()["id"]
        info = httpx.get(f"{graph_url}/v25.0/{media_id}", headers={"Authorization": "Bearer x"}).json()
        del data, files
        log(f"{args.mb} MB document at fakegraph as media {media_id}")

        with PeakRss() as bare:
            started = time.monotonic()
            size = asyncio.run(bare_download(info["url"]))
            bare_s = time.monotonic() - started
        if size != args.mb * 1024 * 1024:
            raise SystemExit(f"the baseline downloaded {size} bytes")
        # In a fresh process, which never held the document in memory: nothing freed could be reused unseen.
        child = subprocess.run(
            [sys.executable, __file__, "--child", graph_url, moto_url, media_id, sha256, str(workdir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if child.returncode != 0:
            raise SystemExit(f"the wahub run failed:\n{child.stderr[-3000:]}")
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        if measured["sha256"] != sha256:
            raise SystemExit("the stored file's SHA-256 differs")
        fetched, wahub_s = PeakRss(), float(measured["seconds"])
        fetched.before, fetched.peak = measured["before"], measured["peak"]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    results = [
        Result(
            "bare aiohttp download",
            args.mb,
            round(bare_s, 2),
            round(args.mb / bare_s, 1),
            round(bare.before, 1),
            round(bare.growth, 1),
        ),
        Result(
            "wahub fetch -> S3 (moto)",
            args.mb,
            round(wahub_s, 2),
            round(args.mb / wahub_s, 1),
            round(fetched.before, 1),
            round(fetched.growth, 1),
        ),
    ]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    print(
        f"bench/media.py: a {args.mb} MB document, fakegraph -> wahub -> S3 (moto), SHA-256 checked and verified after"
    )
    print()
    print(f"{'run':<28}{'MB/s':>8}{'seconds':>9}{'RSS before MB':>15}{'peak growth MB':>16}")
    for r in results:
        print(f"{r.name:<28}{r.mb_per_s:>8,.1f}{r.seconds:>9.2f}{r.rss_before_mb:>15,.1f}{r.peak_growth_mb:>16,.1f}")
    growth = results[1].peak_growth_mb
    print()
    verdict = "PASS" if growth <= TARGET_GROWTH_MB else "FAIL"
    print(f"target: peak memory growth <= {TARGET_GROWTH_MB} MB: {verdict} ({growth:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
