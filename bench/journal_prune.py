"""Pruning the event journal on SQLite (``store/events.py: prune``): how long one chunk holds the events file's
writer, and what becomes of the file's size.

1. A fresh SQLite database in a temporary folder; ``--events`` processed webhook bodies of ``--size`` bytes
   (default 20,000 of 3 KB, and ``--large`` of 3 MB) are written to its events file, processed 40 days ago.
2. They are pruned chunk by chunk as ``pruning.Pruner`` does: each chunk's write transaction is timed.
3. The file's size before, after, and after as many new events again: freed pages are reused (the file does not
   grow), though it does not shrink by itself (``PRAGMA freelist_count`` counts the free pages).

Usage: ``.venv/bin/python bench/journal_prune.py [--events 20000] [--size 3000] [--large 20] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    events: int
    large: int
    file_mb_full: float
    file_mb_pruned: float
    free_pages_pruned: int
    file_mb_refilled: float
    chunks: int
    prune_s: float
    chunk_ms_max: float
    chunk_ms_median: float


def log(message: str) -> None:
    print(f"[journal_prune] {message}", file=sys.stderr, flush=True)


def fill(path: Path, count: int, size: int, large: int, processed_at: str) -> None:
    conn = sqlite3.connect(path)
    body, big = b"{" + b" " * (size - 2) + b"}", b"{" + b" " * (3 * 1024 * 1024 - 2) + b"}"
    rows = [(big if n < large else body, processed_at) for n in range(count + large)]
    conn.executemany(
        "INSERT INTO webhook_events (provider, body, received_at, processed_at, attempts, result) "
        "VALUES ('meta', ?, ?, ?, 1, 'ok')",
        [(b, at, at) for b, at in rows],
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def size_mb(path: Path) -> float:
    return round(path.stat().st_size / 1e6, 1)


def free_pages(path: Path) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    conn.close()
    return count


async def run(args: argparse.Namespace, folder: Path) -> Result:
    from wahub.store import db, events, migrate
    from wahub.store.models import utcnow

    url = f"sqlite:///{folder / 'wahub.db'}"
    migrate.upgrade(url)
    path = folder / "wahub-events.db"
    old = utcnow() - timedelta(days=40)
    stamp = old.replace(tzinfo=None).isoformat(sep=" ")
    fill(path, args.events, args.size, args.large, stamp)
    full = size_mb(path)
    log(f"{args.events} events of {args.size} B and {args.large} of 3 MB: {full} MB")

    engine = db.create_engine(url)
    events_engine = db.create_events_engine(url, engine)
    sessions = db.sessionmaker(events_engine)
    took: list[float] = []
    started = time.monotonic()
    while True:
        t = time.monotonic()
        async with db.transaction(sessions) as session:
            done = await events.prune(session, utcnow() - timedelta(days=30))
        if not done:
            break
        took.append(time.monotonic() - t)
    prune_s = time.monotonic() - started
    await events_engine.dispose()
    await engine.dispose()
    pruned, free = size_mb(path), free_pages(path)
    log(f"pruned in {len(took)} chunks, {prune_s:.2f} s: {pruned} MB, {free} free pages")
    fill(path, args.events, args.size, args.large, stamp)
    refilled = size_mb(path)
    log(f"as many events again: {refilled} MB")
    took.sort()
    return Result(
        events=args.events,
        large=args.large,
        file_mb_full=full,
        file_mb_pruned=pruned,
        free_pages_pruned=free,
        file_mb_refilled=refilled,
        chunks=len(took),
        prune_s=round(prune_s, 2),
        chunk_ms_max=round(took[-1] * 1000, 1) if took else 0.0,
        chunk_ms_median=round(took[len(took) // 2] * 1000, 1) if took else 0.0,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=3_000)
    parser.add_argument("--large", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as folder:
        result = asyncio.run(run(args, Path(folder)))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        for key, value in asdict(result).items():
            print(f"{key:>18}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
