"""The sender's database work alone: CPU per job of its claims and of recording its results, with no HTTP.

``bench/send.py`` measures sending end to end, where the sender's CPU decides whether one number keeps its
limit; this script isolates the two steps that touch the database so two commits can be compared on one
machine state. It queues ``--messages`` template messages for one account (as a campaign would, through
wahub's store), then, as ``worker/sender.py`` does, claims them ``--claim`` at a time (``outbox.claim``) and
records them as accepted ``--batch`` results at a time (``recorder.Recorder``'s write: the messages locked in
order, their wamids and statuses, the jobs done), once per ``--repeat`` on the same database.

    .venv/bin/python bench/send_store.py                                  # PostgreSQL, this tree
    PYTHONPATH=/tmp/wt-old/src .venv/bin/python bench/send_store.py       # another commit's tree
    .venv/bin/python bench/send_store.py --database sqlite

Prints the process's CPU microseconds per job for claims and for records (the lowest of the repeats: on a
machine shared with other work that moves least). Under ``valgrind --tool=callgrind`` with
``PYTHONHASHSEED=0`` the count of instructions is the same from run to run; its part for the claims and
records is the count less that of a run with ``--no-send``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from send import VENV_BIN, _queue  # noqa: E402  (queues as bench/send.py does)
from send_fakes import PHONE_NUMBER_ID  # noqa: E402

HOLDER = "bench-send-store"


async def run(url: str, messages: int, claim: int, batch: int, repeat: int, send: bool) -> list[tuple[float, float]]:
    from wahub.store import accounts, db, outbox
    from wahub.worker import recorder

    engine = db.create_engine(url)
    sessions = db.sessionmaker(engine)
    results = []
    try:
        async with db.transaction(sessions) as session:
            account = await accounts.by_sender(session, PHONE_NUMBER_ID)
            assert account is not None
        writer = recorder.Recorder(sessions, HOLDER)
        for _ in range(repeat):
            await _queue("meta", url, messages, 1)
            claims = records = 0.0
            done = 0
            while send:
                started = time.process_time()
                async with db.transaction(sessions) as session:
                    jobs = await outbox.claim(session, account.id, HOLDER, claim, timedelta(minutes=2))
                claims += time.process_time() - started
                if not jobs:
                    break
                accepted = [recorder.Done(j.job_id, j.message_id, f"wamid.B{j.message_id:020d}") for j in jobs]
                for i in range(0, len(accepted), batch):
                    started = time.process_time()
                    await writer._write(accepted[i : i + batch])
                    records += time.process_time() - started
                done += len(jobs)
            if done:
                results.append((claims * 1e6 / done, records * 1e6 / done))
    finally:
        await engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--claim", type=int, default=250, help="jobs per claim (the sender's half second at 500/s)")
    parser.add_argument("--batch", type=int, default=50, help="results per record (50 ms of results at 1,000/s)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-send", action="store_true", help="queue only (callgrind's fixed part)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wahub-send-store-") as tmp:
        name = None
        url = f"sqlite:///{Path(tmp) / 'wahub.db'}"
        if args.database == "postgresql":
            import psycopg

            name = f"bench_send_store_{os.getpid()}"
            with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
        env.update(
            WAHUB_DATABASE_URL=url,
            WAHUB_DATA_DIR=tmp,
            WAHUB_SECRET_KEY=secrets.token_urlsafe(32),
            WAHUB_LOG_LEVEL="WARNING",
        )
        os.environ.update({k: v for k, v in env.items() if k.startswith("WAHUB_")})
        try:
            wahub = str(VENV_BIN / "wahub")
            subprocess.run([wahub, "db", "upgrade"], env=env, check=True, capture_output=True)
            add = [wahub, "account", "add", "--phone-number-id", PHONE_NUMBER_ID, "--waba-id", "200000000000001"]
            add += ["--access-token", "bench-token", "--app-secret", "bench-secret", "--name", "bench"]
            subprocess.run(add, env=env, check=True, capture_output=True)
            import uvloop  # the loop `wahub serve` runs on

            found = uvloop.run(run(url, args.messages, args.claim, args.batch, args.repeat, not args.no_send))
        finally:
            if name is not None:
                with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    if found:
        runs = ", ".join(f"{c:.0f}/{r:.0f}" for c, r in found)
        print(
            f"bench/send_store.py ({args.database}, {args.messages:,} jobs, claims of {args.claim}, records of "
            f"{args.batch}): CPU per job, claim {min(c for c, _ in found):.0f} us, record "
            f"{min(r for _, r in found):.0f} us (lowest of {len(found)}; each run claim/record: {runs})"
        )


if __name__ == "__main__":
    main()
