"""The event journal alone (``webhook/journal.py``): webhook bodies appended by many tasks at once, as the webhook
route does, each awaiting its group's commit. A microbenchmark of the intake's durable write, without HTTP.

1. A fresh database (SQLite in a temporary folder: its events file; or a fresh ``bench_journal_<pid>`` on
   postgresql://postgres@127.0.0.1:5432, dropped at the end).
2. ``--tasks`` tasks append ``--events`` bodies of ``--size`` bytes between them; each awaits its append.
3. Prints appends per second, CPU ms per 1,000 appends (this process: the loop and the driver's threads) and
   the mean group size; best of ``--runs``.

Usage: ``.venv/bin/python bench/journal.py [--database sqlite|postgresql] [--events 20000] [--tasks 256]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Result:
    database: str
    events: int
    tasks: int
    appends_per_s: float
    cpu_ms_per_1000: float


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(url: str, events: int, tasks: int, size: int) -> tuple[float, float]:
    from wahub.store import db, migrate
    from wahub.webhook.journal import EventJournal

    await asyncio.to_thread(migrate.upgrade, url)
    engine = db.create_engine(url)
    events_engine = db.create_events_engine(url, engine)
    journal = EventJournal(events_engine)
    await journal.start()
    body = b"x" * size
    per_task = events // tasks

    async def appender() -> None:
        for _ in range(per_task):
            await journal.append("meta", body, None)

    try:
        await journal.append("meta", body, None)  # warm up
        cpu, started = _cpu(), time.perf_counter()
        await asyncio.gather(*(appender() for _ in range(tasks)))
        elapsed, spent = time.perf_counter() - started, _cpu() - cpu
    finally:
        await journal.stop()
        await events_engine.dispose()
        await engine.dispose()
    done = per_task * tasks
    return done / elapsed, spent * 1000 * 1000 / done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=256)
    parser.add_argument("--size", type=int, default=1_500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            if args.database == "postgresql":
                import psycopg

                name = f"bench_journal_{os.getpid()}"
                admin = "postgresql://postgres@127.0.0.1:5432/postgres"
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f"DROP DATABASE IF EXISTS {name}")
                    conn.execute(f"CREATE DATABASE {name}")
                url = f"postgresql://postgres@127.0.0.1:5432/{name}"
            else:
                url = f"sqlite:///{Path(folder) / 'wahub.db'}"
            try:
                results.append(asyncio.run(_run(url, args.events, args.tasks, args.size)))
            finally:
                if args.database == "postgresql":
                    with psycopg.connect(admin, autocommit=True) as conn:
                        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    rate = max(r for r, _ in results)
    result = Result(args.database, args.events, args.tasks, round(rate), round(min(c for _, c in results), 1))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        runs = ", ".join(f"{r:,.0f}/s" for r, _ in results)
        print(
            f"journal on {result.database}: {result.appends_per_s:,}/s appended (runs: {runs}), "
            f"{result.cpu_ms_per_1000} ms CPU per 1,000"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
