"""Chat-export import benchmark (issue 19): a 100,000-message export with 1,000 media files into SQLite
(``--database postgresql``: into a new database on the local PostgreSQL).

1. Writes a synthetic Android export (day-first, 24-hour clock) into a zip: ``--messages`` messages (default
   100,000) from the business side and two customers (one by name, one by number), one in ten of several lines,
   ``--media`` attachments (default 1,000, ``--media-kb`` KB of random bytes each, as IMG-…jpg files), plus
   media-omitted, deleted and system lines.
2. Baseline, in this process: reads the same chat text from the zip line by line and splits each line into its
   date, author and text (``str.partition``), with nothing stored.
3. wahub, in this process: ``imports/chat_importer.run`` into a fresh SQLite database and a file:// media folder,
   as ``wahub import chat`` does; then the same export again (everything already there).
4. A thread samples this process's RSS every 5 ms; each run prints its seconds and its peak growth over the RSS
   just before it. Checks: the messages and media stored are the ones written.

Usage: ``.venv/bin/python bench/chat_import.py [--messages 100000] [--media 1000] [--media-kb 20]
[--database postgresql] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ingest import PostgresDatabase

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"  # --database postgresql: a fresh database there, dropped after
sys.path.insert(0, str(ROOT / "src"))


def log(message: str) -> None:
    print(f"[chat_import] {message}", file=sys.stderr, flush=True)


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


@dataclass
class Run:
    name: str
    seconds: float
    rss_before_mb: float
    peak_growth_mb: float
    messages_per_s: float


def write_export(path: Path, messages: int, media: int, media_kb: int) -> int:
    """The zip; returns the chat text's size in bytes."""
    rng = random.Random(19)
    authors = ["Shop", "Ana Gómez", "+34 612 34 56 78"]
    every = max(1, messages // media) if media else 0
    start = datetime(2023, 1, 20, 8, 0)  # day 20: the file tells its date order at once
    lines = []
    attached = 0
    for i in range(messages):
        at = start + timedelta(seconds=37 * i)
        stamp = f"{at:%d/%m/%Y, %H:%M}"
        author = authors[i % 3]
        if every and i % every == every - 1 and attached < media:
            name = f"IMG-{at:%Y%m%d}-WA{attached:04d}.jpg"
            lines.append(f"{stamp} - {author}: {name} (file attached)\ncaption {i}")
            attached += 1
        elif i % 997 == 0:
            lines.append(f"{stamp} - {author}: <Media omitted>")
        elif i % 991 == 0:
            lines.append(f"{stamp} - {author}: This message was deleted")
        elif i % 10 == 0:
            lines.append(f"{stamp} - {author}: line one of {i}\nline two\n\nline four {rng.random():.6f}")
        else:
            lines.append(f"{stamp} - {author}: message {i} {rng.random():.6f}")
    text = "\n".join(lines) + "\n"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("WhatsApp Chat with Ana Gómez.txt", text)
        for n in range(attached):
            at = start + timedelta(seconds=37 * (n * every + every - 1))
            z.writestr(f"IMG-{at:%Y%m%d}-WA{n:04d}.jpg", rng.randbytes(media_kb * 1024), zipfile.ZIP_STORED)
    return len(text.encode())


def baseline(path: Path) -> tuple[float, int]:
    """Read the chat's lines from the zip and split each: the floor under any parser."""
    import io

    heads = 0
    started = time.perf_counter()
    with zipfile.ZipFile(path) as z, z.open("WhatsApp Chat with Ana Gómez.txt") as raw:
        for line in io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""):
            _stamp, sep, rest = line.partition(" - ")
            if sep:
                author, _, _text = rest.partition(": ")
                heads += bool(author)
    return time.perf_counter() - started, heads


async def import_once(path: Path, data: Path, url: str) -> tuple[float, object]:
    from wahub import storage
    from wahub.imports import chat_importer, chat_source
    from wahub.store import db

    engine = db.create_engine(url)
    try:
        with path.open("rb") as file:
            export = chat_source.Export(file, path.name)
            started = time.perf_counter()
            report = await chat_importer.run(
                db.sessionmaker(engine),
                storage.from_url(f"file://{data / 'media'}"),
                export,
                chat_importer.Options(me="Shop"),
            )
            export.close()
        return time.perf_counter() - started, report
    finally:
        await engine.dispose()


async def prepare(url: str) -> None:
    from wahub.store import accounts, db, migrate
    from wahub.store.crypto import Vault

    migrate.upgrade(url)
    engine = db.create_engine(url)
    try:
        async with db.transaction(db.sessionmaker(engine)) as session:
            await accounts.upsert_meta(
                session,
                Vault("bench-secret-key-bench-secret-key-0000"),
                name="bench",
                phone_number_id="100000000000001",
                waba_id="200000000000001",
                credentials=accounts.Credentials("token", "secret", "verify"),
            )
    finally:
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--media", type=int, default=1_000)
    parser.add_argument("--media-kb", type=int, default=20)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    pg = PostgresDatabase(PG_SERVER, "bench_chat_import") if args.database == "postgresql" else None
    try:
        return run(args, pg)
    finally:
        if pg is not None:
            pg.drop()


def run(args: argparse.Namespace, pg: PostgresDatabase | None) -> int:
    with tempfile.TemporaryDirectory(prefix="wahub-bench-chat-") as folder:
        base = Path(folder)
        export, data = base / "WhatsApp Chat with Ana Gómez.zip", base / "data"
        data.mkdir()
        log(f"writing {args.messages:,} messages and {args.media:,} media files")
        text_bytes = write_export(export, args.messages, args.media, args.media_kb)
        url = f"sqlite:///{data / 'wahub.db'}"
        if pg is not None:
            pg.create_empty()  # a new database, as a first import into a new wahub meets it
            url = pg.url
        asyncio.run(prepare(url))
        import wahub.imports.chat_importer  # noqa: F401  (imports before measuring: not the import's memory)
        from wahub import storage  # noqa: F401

        runs = []
        with PeakRss() as rss:
            seconds, heads = baseline(export)
        runs.append(Run("read + split lines", seconds, rss.before, rss.peak - rss.before, heads / seconds))
        reports = []
        for name in ("wahub import (new)", "wahub import (again)"):
            with PeakRss() as rss:
                seconds, report = asyncio.run(import_once(export, data, url))
            reports.append(report)
            runs.append(Run(name, seconds, rss.before, rss.peak - rss.before, args.messages / seconds))
        first, again = reports
        ok = (
            first.added == args.messages  # type: ignore[attr-defined]
            and first.media_stored == args.media  # type: ignore[attr-defined]
            and again.added == 0  # type: ignore[attr-defined]
            and again.already == args.messages  # type: ignore[attr-defined]
        )
        stored = sum(1 for _ in (data / "media").rglob("*") if _.is_file())
    if args.json:
        print(json.dumps({"runs": [asdict(r) for r in runs], "checks": ok, "blobs": stored}))
        return 0 if ok else 1
    print(
        f"bench/chat_import.py: {args.messages:,} messages ({text_bytes / 1e6:.1f} MB of text), "
        f"{args.media:,} media files of {args.media_kb} KB, zip -> {'PostgreSQL' if pg else 'SQLite'} + file://, "
        f"{os.cpu_count()} cores"
    )
    print(f"{'run':<24}{'seconds':>9}{'msg/s':>11}{'RSS before MB':>15}{'peak growth MB':>16}")
    for r in runs:
        print(
            f"{r.name:<24}{r.seconds:>9.2f}{r.messages_per_s:>11,.0f}{r.rss_before_mb:>15.1f}{r.peak_growth_mb:>16.1f}"
        )
    print(
        f"checks: {'PASS' if ok else 'FAIL'} (first: added {first.added}, media {first.media_stored}; "  # type: ignore[attr-defined]
        f"again: added {again.added}, already {again.already}; blobs on disk {stored})"
    )  # type: ignore[attr-defined]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
