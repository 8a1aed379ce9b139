"""The processor alone: how fast it drains the webhook journal, and its CPU per event, with no HTTP in the way.

``bench/ingest.py`` measures processing end to end, behind intake and wrk, where a few percent of CPU decide
whether the processor keeps up; this script isolates the processor so two commits (or two ideas) can be
compared on one machine state, and profiled. It writes the ingest bench's corpus (``meta_webhooks``: ~75%
status webhooks for seeded outbound messages, ~25% inbound texts from 300 contacts) straight into the journal,
then drains it with ``Processor.run_once`` in a fresh process, once per ``--repeat``.

    .venv/bin/python bench/process.py --events 40000            # this tree
    PYTHONPATH=/tmp/wt-old/src .venv/bin/python bench/process.py # another commit's tree, same script
    .venv/bin/python bench/process.py --profile out.html        # pyinstrument of one drain (main thread)
    .venv/bin/python bench/process.py --profile out.txt         # py-spy of one drain (every thread)
    .venv/bin/python bench/process.py --profile out.prof        # cProfile of one drain (main thread, every call)
    .venv/bin/python bench/process.py --callgrind --events 4000 # instructions per event (valgrind)

Prints events/s and CPU microseconds per event (median of the repeats, and each run); on PostgreSQL also the CPU
its backends spent for the drain (read from /proc: the server must run on this machine), which with the
process's own CPU is a figure that moves far less than events/s on a machine shared with other work.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

DRAIN = """
import asyncio, gc, json, os, shutil, subprocess, sys, time
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from ingest import Database
from meta_webhooks import APP_SECRET, PHONE_NUMBER_ID, WABA_ID, write_corpus
from wrkload import cpu_seconds

def backends(database_url):
    # CPU seconds of each PostgreSQL backend serving the bench's database (not this query's own).
    if not database_url:
        return {}
    import psycopg
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid()").fetchall()
    return {pid: cpu_seconds(pid) for (pid,) in rows}

async def main(folder, events, database_url, profile):
    from wahub.store import accounts, db, migrate
    from wahub.store.crypto import Vault
    from wahub.webhook.journal import EventJournal
    from wahub.worker.processor import Processor

    folder = Path(folder)
    url = database_url or f"sqlite:///{folder / 'w.db'}"
    migrate.upgrade(url)
    engine = db.create_engine(url)
    journal_engine = db.create_events_engine(url, engine)
    sessions = db.sessionmaker(engine)
    async with db.transaction(sessions) as session:
        credentials = accounts.Credentials("token", APP_SECRET, "verify")
        await accounts.upsert_meta(session, Vault("k" * 32), name="bench", phone_number_id=PHONE_NUMBER_ID,
                                   waba_id=WABA_ID, credentials=credentials)
    corpus = write_corpus(folder, "p", events, 1, "N")
    if database_url:
        Database(postgres_url=database_url).seed_outbound([corpus])
    else:
        Database(sqlite_path=folder / "w.db").seed_outbound([corpus])
    journal = EventJournal(journal_engine)
    await journal.start()
    with open(f"{corpus.prefix}0.txt", encoding="ascii") as lines:
        for line in lines:
            await journal.append("meta", line.split("\\t", 1)[1].rstrip("\\n").encode(), None)
    await journal.stop()
    processor = Processor(sessions, db.sessionmaker(journal_engine))
    profiler = spy = None
    if profile and profile.endswith(".html"):
        from pyinstrument import Profiler
        profiler = Profiler(async_mode="disabled")
        profiler.start()
    elif profile and profile.endswith(".prof"):
        import cProfile
        profiler = cProfile.Profile()
        profiler.enable()
    elif profile and not profile == "callgrind":
        # py-spy sees every thread (aiosqlite runs SQLite in its own): collapsed stacks, one per line.
        spy = subprocess.Popen([shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"), "record",
                                "--pid", str(os.getpid()), "--format", "raw", "--rate", "1000", "-o", profile],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    counting = profile == "callgrind"
    if counting:  # valgrind counts instructions from here only (--instr-atstart=no)
        subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], capture_output=True, check=True)
    # As `wahub serve` does once started (runtime.settle_heap: setup's objects frozen, the young generation's
    # threshold raised); a tree from before that function only froze them.
    try:
        from wahub.runtime import settle_heap
    except ImportError:
        def settle_heap(processing):
            gc.collect()
            gc.freeze()
    settle_heap(processing=True)
    served = backends(database_url)
    began, cpu, times = time.perf_counter(), time.process_time(), os.times()
    done = 0
    while (n := await processor.run_once()):
        done += n
    wall, used, after = time.perf_counter() - began, time.process_time() - cpu, os.times()
    server = sum(t - served.get(pid, 0.0) for pid, t in backends(database_url).items())
    if counting:
        subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], capture_output=True, check=True)
    if profiler is not None and profile.endswith(".prof"):
        profiler.disable()
        profiler.dump_stats(profile)
    elif profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_html())
    if spy is not None:
        import signal
        spy.send_signal(signal.SIGINT)
        spy.wait()
    await engine.dispose()
    print(json.dumps({"events": done, "rate": done / wall, "cpu_us": used / max(done, 1) * 1e6,
                      "sys_us": (after.system - times.system) / max(done, 1) * 1e6,
                      "server_us": server / max(done, 1) * 1e6}))

asyncio.run(main(sys.argv[2], int(sys.argv[3]), sys.argv[4] or None, sys.argv[5] or None))
"""


def fresh_postgres(server: str) -> str:
    import uuid

    import psycopg

    name = f"bench_process_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def drop_postgres(url: str) -> None:
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drain(events: int, database: str, server: str, profile: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="wahub-process-") as folder:
        url = fresh_postgres(server) if database == "postgresql" else ""
        cmd = [sys.executable, "-c", DRAIN, str(HERE), folder, str(events), url, profile or ""]
        if profile == "callgrind":
            valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={folder}/cg"]
            cmd = valgrind + cmd
        try:
            done = subprocess.run(cmd, capture_output=True, text=True)
        finally:
            if url:
                drop_postgres(url)
    if done.returncode != 0:
        raise SystemExit(f"the drain failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if profile == "callgrind":
        counted = re.findall(r"Collected : (\d+)", done.stderr)
        if not counted:
            raise SystemExit(f"valgrind counted nothing:\n{done.stderr[-3000:]}")
        result["instructions"] = int(counted[-1]) / max(result["events"], 1)
    if result["events"] < events:
        raise SystemExit(f"only {result['events']:.0f} of {events} events were processed")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432", help="server to use")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="one drain profiled: FILE.html by pyinstrument (main thread only), FILE.prof by cProfile (main thread, "
        "every call), any other "
        "name by py-spy as collapsed stacks of every thread (aiosqlite runs SQLite in a thread of its own)",
    )
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="count the drain's instructions per event under valgrind (repeatable on a busy machine; ~50x slower: "
        "use --events 4000)",
    )
    args = parser.parse_args()
    if args.callgrind:
        counted = drain(args.events, args.database, args.postgres_url, "callgrind")
        print(f"{args.database}: {args.events:,} events, {counted['instructions']:,.0f} instructions per event")
        return 0
    if args.profile:
        drain(args.events, args.database, args.postgres_url, str(Path(args.profile).resolve()))
        print(f"profile written to {args.profile}")
        return 0
    runs = [drain(args.events, args.database, args.postgres_url, None) for _ in range(args.repeat)]
    rate = statistics.median(r["rate"] for r in runs)
    cpu = statistics.median(r["cpu_us"] for r in runs)
    server = statistics.median(r["server_us"] for r in runs)
    each = ", ".join(
        f"{r['rate']:,.0f}/s {r['cpu_us']:.0f} us ({r['sys_us']:.0f} system, {r['server_us']:.0f} server)" for r in runs
    )
    print(
        f"{args.database}: {args.events:,} events drained at {rate:,.0f} events/s, {cpu:.0f} us CPU/event"
        + (f" + {server:.0f} us in PostgreSQL's backends" if args.database == "postgresql" else "")
        + f" ({each})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
