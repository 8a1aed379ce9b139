"""API intake benchmark: how many ``POST /api/v1/messages`` wahub accepts (202, queued durably) per second, as a
program posting its messages one by one from 1, 16 and 64 connections would, next to a baseline.

1. wahub: ``wahub serve --role web`` on a fresh database (SQLite, or ``--database postgresql``), one account,
   an API key. wrk posts a template message to one of 1,000 recipients per request (each connection cycles
   through them), ``--seconds`` per connection count.
2. Baseline: ``bench/baseline_app.py`` (a bare ASGI app that reads the body and answers), same server, same
   wrk script: what any HTTP endpoint costs on this machine.
3. Prints accepted/s, p50 and p99 latency, non-2xx answers and the server's CPU (% of one core) per run, and
   checks that the database holds a queued message with its outbox job for each 202 wahub answered (and at
   most one more per connection: wrk ends with a request in flight on each): nothing acknowledged is lost.

Needs wrk (``apt-get install -y wrk``). Usage: ``.venv/bin/python bench/api_send.py [--database postgresql]
[--seconds 8] [--connections 1 16 64]``.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from serving import BenchError, free_port, wait_port  # bench/serving.py

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET = 1_000

LUA = r"""
local n = 0
function request()
  n = n + 1
  local body = string.format(
    '{"to":"+1415555%%04d","type":"template","template":{"name":"hello_world","language":{"code":"en_US"}}}',
    n %% 1000)
  return wrk.format("POST", "/api/v1/messages",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(key)s"}, body)
end
"""


@dataclass(frozen=True, slots=True)
class Run:
    server: str
    connections: int
    per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    ok: int
    cpu_pct: float


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port: int, connections: int, seconds: int, script: Path) -> tuple[float, float, float, int, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx, requests)"""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    text = out.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    if out.returncode != 0 or found is None or total is None:
        raise BenchError(f"wrk failed:\n{text}\n{out.stderr}")
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    non = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: .*", text)
    if errors:
        raise BenchError(f"wrk saw socket errors: {errors.group(0)}")
    return (
        float(found.group(1)),
        _ms(p50.group(1)) if p50 else 0.0,
        _ms(p99.group(1)) if p99 else 0.0,
        int(non.group(1)) if non else 0,
        int(total.group(1)),
    )


def measure(
    name: str, cmd: list[str], env: dict[str, str], port: int, args: argparse.Namespace, work: Path
) -> list[Run]:
    log = work / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    runs = []
    try:
        wait_port(port, proc, log)
        time.sleep(1.0)
        for connections in args.connections:
            cpu0 = cpu_seconds(proc.pid)
            per_second, p50, p99, non_2xx, total = wrk(port, connections, args.seconds, work / "post.lua")
            cpu = cpu_seconds(proc.pid) - cpu0
            runs.append(
                Run(name, connections, per_second, p50, p99, non_2xx, total - non_2xx, 100 * cpu / args.seconds)
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    return runs


def stored(database_url: str) -> tuple[int, int]:
    """(queued messages, their outbox jobs)"""
    query = "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM outbox_jobs)"
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            row = conn.execute(query).fetchone()
    else:
        import psycopg

        with psycopg.connect(database_url) as conn:
            row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/api_send.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="wahub-bench-api-"))
    pg_name = None
    try:
        data = work / "data"
        database_url = f"sqlite:///{data / 'wahub.db'}"
        if args.database == "postgresql":
            import psycopg

            pg_name = f"bench_api_{os.getpid()}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_name}"')
            database_url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
        env.update(
            WAHUB_DATA_DIR=str(data),
            WAHUB_DATABASE_URL=database_url,
            WAHUB_PHONE_NUMBER_ID="100000000000001",
            WAHUB_ACCESS_TOKEN="bench-token",
            WAHUB_APP_SECRET="bench-secret",
            WAHUB_SECRET_KEY=secrets.token_urlsafe(32),
            WAHUB_LOG_LEVEL="WARNING",
            WAHUB_API_RATE_LIMIT="0",  # the intake's capacity is measured, not the per-key limit
        )
        wahub = str(VENV_BIN / "wahub")
        done = subprocess.run([wahub, "db", "upgrade"], env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"wahub db upgrade failed:\n{done.stderr[-2000:]}")
        made = subprocess.run([wahub, "apikey", "create"], env=env, cwd=ROOT, capture_output=True, text=True)
        if made.returncode != 0:
            raise BenchError(f"wahub apikey create failed:\n{made.stderr[-2000:]}")
        key = made.stdout.strip().splitlines()[-1]
        (work / "post.lua").write_text(LUA % {"key": key})
        port = free_port()
        baseline = measure(
            "baseline",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "baseline_app:app",
                "--app-dir",
                "bench",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env,
            port,
            args,
            work,
        )
        port = free_port()
        served = measure("wahub", [wahub, "serve", "--role", "web", "--port", str(port)], env, port, args, work)
        messages, jobs = stored(database_url)
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)
    accepted = sum(r.ok for r in served)
    print(f"bench/api_send.py: {args.database}, wrk 1 thread, {args.seconds} s per run, {os.cpu_count()} CPUs")
    print(f"{'server':<10}{'connections':>12}{'accepted/s':>12}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'CPU %':>7}")
    for base, run in zip(baseline, served, strict=True):
        for r in (base, run):
            print(
                f"{r.server:<10}{r.connections:>12}{r.per_second:>12,.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}"
                f"{r.non_2xx:>9}{r.cpu_pct:>7.0f}"
            )
        print(f"{'':<10}{'wahub/base':>12}{run.per_second / base.per_second:>12.3f}")
    best = max(r.per_second for r in served)
    print(f"accepted 202: {accepted:,}; stored: {messages:,} messages, {jobs:,} outbox jobs")
    # wrk stops with a request in flight on each connection: the server may still queue it, uncounted by wrk.
    kept = messages == jobs and accepted <= messages <= accepted + sum(args.connections)
    print(f"  {'PASS' if kept else 'FAIL'}  every 202 is a stored message with its job")
    print(f"  {'PASS' if best >= TARGET else 'FAIL'}  >= {TARGET:,} sends/s accepted at some concurrency ({best:,.0f})")
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
