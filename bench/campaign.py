"""Campaign benchmark (SPEC.md §7 Campaigns, issue 17): a campaign of N recipients (10,000) at a limit of R
messages/s (1,000) against fakegraph with 100 ms latency finishes in ≤ N/R + 1 s (11 s), with no 1-second window
over R at fakegraph, every recipient reached once and given a result.

1. fakegraph in its own process (``--latency-ms``, default 100), posting signed status webhooks to wahub as Meta
   does (sent, delivered, read for each message).
2. Baseline: the bare aiohttp loop of ``bench/send.py`` posts the same N template sends, 256 in flight, no limit:
   what this machine and the fake take without wahub.
3. wahub on a fresh database (``--database sqlite|postgresql``): ``wahub serve`` (all roles), or with
   ``--workers 2`` one ``--role web`` and two ``--role worker`` processes (PostgreSQL). The account's send rate
   is R; once its templates are synced, ``POST /api/v1/campaigns`` with the N numbers (timed: the audience
   resolved into contacts and recipients), then ``POST /start``. Measured: from the start request to the last
   send's arrival at fakegraph (the bar), the largest count of arrivals in any 1-second window, sends per
   recipient at fakegraph, and the time until every recipient has its result (the campaign ``completed``).
4. ``--kill-after K`` (with ``--workers 2``): once K sends reached fakegraph, ``kill -9`` of the worker holding
   the number's send lease and a restart of it; the checks are the same (no recipient twice, none missing).

Usage: ``.venv/bin/python bench/campaign.py [--recipients 10000] [--rate 1000] [--database postgresql]
[--workers 2 --kill-after 5000] [--json]``.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import send_fakes as fakes  # bench/send_fakes.py
from arrivals import per_second, summarize  # bench/arrivals.py
from send import cpu_seconds, run_baseline  # bench/send.py
from serving import BenchError, free_port, wait_port  # bench/serving.py

from fakegraph.control import max_in_window

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
APP_SECRET = "bench-campaign-app-secret"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(f"[campaign] {message}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class Run:
    recipients: int
    rate: int
    database: str
    workers: int
    create_s: float = 0.0
    to_first_send_s: float = 0.0
    to_first_queued_s: float = 0.0  # the campaign's started_at to its first message's queued_at (wahub's clock)
    to_last_send_s: float = 0.0
    to_results_s: float = 0.0
    started_to_finished_s: float = 0.0  # the campaign's started_at to its finished_at (wahub's clock)
    max_per_1s: int = 0
    sustained_per_s: float = 0.0
    sent_twice: int = 0
    missing: int = 0
    killed_at: int | None = None
    totals: dict[str, int] = field(default_factory=dict)
    cpu_ms_per_1000: float = 0.0
    per_second: list[int] = field(default_factory=list)  # arrivals in each second from the first
    wahub_cpu_s: float = 0.0  # every wahub process and its children (the processor), start to completion
    fakegraph_cpu_s: float = 0.0


def tree_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process in ``pids`` and of every live descendant of them."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(child for child, parent in parents.items() if parent == pid)
    cpu = {}
    for pid in found:
        try:
            cpu[pid] = cpu_seconds(pid)
        except (OSError, ValueError, IndexError):
            continue
    return cpu


class Api:
    def __init__(self, port: int, key: str = "") -> None:
        self.port, self.key = port, key

    def __call__(self, method: str, path: str, body: Any = None, timeout: float = 120) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"}
        conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if response.status >= 400:
            raise BenchError(f"{method} {path} answered {response.status}: {data[:500]!r}")
        return json.loads(data) if data else None


class Fake:
    """fakegraph in its own process, with latency, posting signed webhooks to ``callback``."""

    def __init__(self, workdir: Path, latency_ms: float, callback: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = workdir / "fakegraph.log"
        cmd = [str(VENV_BIN / "python"), "-m", "fakegraph", "--port", str(self.port), "--no-reply", "--seed", "1"]
        cmd += ["--speed", "1000", "--callback", callback, "--app-secret", APP_SECRET]
        with open(self.logfile, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc, self.logfile)
        fakes.call(self.port, "POST", "/_fake/faults", {"latency_ms": latency_ms})
        self.provider = "meta"

    def arrivals(self) -> list[float]:
        return sorted(fakes.call(self.port, "GET", "/_fake/arrivals")["data"])

    def clear(self) -> None:
        fakes.call(self.port, "DELETE", "/_fake/arrivals")
        fakes.call(self.port, "DELETE", "/_fake/requests")

    def recipients(self) -> collections.Counter[str]:
        """Messages fakegraph accepted, per recipient (its store keeps 200,000; its request log only 10,000)."""
        rows = fakes.call(self.port, "GET", "/_fake/messages", timeout=120)["data"]
        return collections.Counter(r["to"] for r in rows)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Wahub:
    """wahub's processes on one database: ``serve`` (all roles), or one web and ``workers`` worker processes."""

    def __init__(self, workdir: Path, port: int, graph_url: str, rate: int, database_url: str, workers: int) -> None:
        self.workdir, self.port, self.workers = workdir, port, workers
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
        self.env.update(
            WAHUB_DATA_DIR=str(workdir / "data"),
            WAHUB_DATABASE_URL=database_url,
            WAHUB_SECRET_KEY=secrets.token_urlsafe(32),
            WAHUB_PHONE_NUMBER_ID=fakes.PHONE_NUMBER_ID,
            WAHUB_WABA_ID="200000000000001",  # fakegraph's default
            WAHUB_ACCESS_TOKEN="bench-token",
            WAHUB_APP_SECRET=APP_SECRET,
            WAHUB_VERIFY_TOKEN="bench-verify",
            WAHUB_GRAPH_URL=graph_url,
            WAHUB_SEND_RATE=str(rate),
            WAHUB_SEND_CONFIRM_SECONDS="20",
            WAHUB_LOG_LEVEL="WARNING",
        )
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        upgrade = subprocess.run(
            [str(VENV_BIN / "wahub"), "db", "upgrade"], env=self.env, cwd=ROOT, capture_output=True
        )
        if upgrade.returncode != 0:
            raise BenchError(f"wahub db upgrade failed:\n{upgrade.stderr.decode()[-2000:]}")
        key = subprocess.run(
            [str(VENV_BIN / "wahub"), "apikey", "create", "--name", "bench"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if key.returncode != 0:
            raise BenchError(f"wahub apikey create failed:\n{key.stderr[-2000:]}")
        self.key = key.stdout.strip().splitlines()[-1]
        if workers == 0:
            self.start("all", ["--role", "all", "--port", str(port)])
        else:
            self.start("web", ["--role", "web", "--port", str(port)])
            for n in range(workers):
                self.start(f"worker-{n}", ["--role", "worker"])
        wait_port(port, self.procs["all" if workers == 0 else "web"], workdir / "wahub-web.log", timeout=60)

    def start(self, name: str, args: list[str]) -> None:
        with open(self.workdir / f"wahub-{name}.log", "ab") as out:
            cmd = [str(VENV_BIN / "wahub"), "serve", *args]
            self.procs[name] = subprocess.Popen(cmd, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def senders(self) -> list[int]:
        """The processes that send (their pids)."""
        return [p.pid for name, p in self.procs.items() if name != "web"]

    def logs(self) -> str:
        return "\n".join(f.read_text(errors="replace")[-1500:] for f in sorted(self.workdir.glob("wahub-*.log")))

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def lease_holder(database_url: str) -> str | None:
    import sqlalchemy as sa

    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT holder FROM send_leases LIMIT 1")).scalar()
    finally:
        engine.dispose()


def run_wahub(args: argparse.Namespace, workdir: Path, database_url: str) -> tuple[Any, Run]:
    port = free_port()
    log("baseline: bare aiohttp loop")
    bare = Fake(workdir, args.latency_ms, f"http://127.0.0.1:{port}/webhooks/meta")
    try:
        fakes.call(bare.port, "POST", "/_fake/config", {"callback_url": None})  # no one takes statuses
        baseline = run_baseline(bare, args.recipients, 256, 1)  # type: ignore[arg-type]
    finally:
        bare.stop()
    # A fresh fake for wahub: its store of accepted messages then holds wahub's sends alone.
    graph = Fake(workdir, args.latency_ms, f"http://127.0.0.1:{port}/webhooks/meta")
    wahub = None
    result = Run(args.recipients, args.rate, args.database, args.workers)
    try:
        if not args.statuses:
            fakes.call(graph.port, "POST", "/_fake/config", {"callback_url": None})
        wahub = Wahub(workdir, port, graph.url, args.rate, database_url, args.workers)
        api = Api(port, wahub.key)
        deadline = time.monotonic() + 60
        while not api("GET", "/api/v1/templates?name=hello_world&status=APPROVED")["items"]:
            if time.monotonic() > deadline:
                raise BenchError(f"wahub did not sync the templates:\n{wahub.logs()}")
            time.sleep(0.2)
        numbers = [f"+{n}" for n in fakes.recipients(args.recipients)]
        body = {
            "name": "bench",
            "template": {"name": fakes.TEMPLATE["name"], "language": fakes.TEMPLATE["language"]["code"]},
            "audience": {"numbers": numbers},
        }
        started = time.monotonic()
        campaign = api("POST", "/api/v1/campaigns", body, timeout=600)
        result.create_s = round(time.monotonic() - started, 2)
        log(f"created campaign {campaign['id']} of {args.recipients:,} recipients in {result.create_s} s; starting")
        cpu0 = {pid: cpu_seconds(pid) for pid in wahub.senders()}
        every0 = tree_cpu([p.pid for p in wahub.procs.values()])
        graph0 = cpu_seconds(graph.proc.pid)
        start_wall = time.time()
        api("POST", f"/api/v1/campaigns/{campaign['id']}/start")
        killed = False
        deadline = time.monotonic() + max(180, 10 * args.recipients / args.rate)
        while True:
            if args.kill_after and not killed and len(graph.arrivals()) >= args.kill_after:
                holder = lease_holder(database_url) or ""
                name = next(n for n, p in wahub.procs.items() if holder.startswith(f"{p.pid}-"))
                cpu0.pop(wahub.procs[name].pid, None)
                wahub.procs[name].send_signal(signal.SIGKILL)
                wahub.procs[name].wait(timeout=10)
                result.killed_at = len(graph.arrivals())
                log(f"kill -9 of {name} (the lease holder) after {result.killed_at:,} sends; restarting it")
                wahub.start(name, ["--role", "worker"])
                killed = True
            now = api("GET", f"/api/v1/campaigns/{campaign['id']}")
            if now["state"] in ("completed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise BenchError(f"the campaign did not finish: {now}\n{wahub.logs()}")
            time.sleep(0.1)
        result.to_results_s = round(time.time() - start_wall, 2)
        every = tree_cpu([p.pid for p in wahub.procs.values()])
        result.wahub_cpu_s = round(sum(cpu - every0.get(pid, 0.0) for pid, cpu in every.items()), 2)
        result.fakegraph_cpu_s = round(cpu_seconds(graph.proc.pid) - graph0, 2)
        first = api("GET", f"/api/v1/campaigns/{campaign['id']}/recipients?limit=1")["items"][0]
        result.to_first_queued_s = round(
            (datetime.fromisoformat(first["queued_at"]) - datetime.fromisoformat(now["started_at"])).total_seconds(), 3
        )
        if now.get("finished_at"):
            took = datetime.fromisoformat(now["finished_at"]) - datetime.fromisoformat(now["started_at"])
            result.started_to_finished_s = round(took.total_seconds(), 3)
        result.totals = now["totals"]
        cpu = sum(cpu_seconds(pid) - cpu0.get(pid, 0.0) for pid in wahub.senders() if pid in cpu0)
        arrivals = graph.arrivals()
        per_recipient = graph.recipients()
        result.to_first_send_s = round(arrivals[0] - start_wall, 3)
        result.to_last_send_s = round(arrivals[-1] - start_wall, 2)
        result.max_per_1s = max_in_window(arrivals, 1.0)
        result.sustained_per_s = summarize("wahub", arrivals, cpu).sustained_per_s
        result.per_second = per_second(arrivals)
        result.cpu_ms_per_1000 = round(cpu * 1000 / len(arrivals) * 1000, 1)
        result.sent_twice = sum(1 for count in per_recipient.values() if count > 1)
        result.missing = len({n.lstrip("+") for n in numbers} - set(per_recipient))
        return baseline, result
    finally:
        if wahub is not None:
            wahub.stop()
        graph.stop()


def render(args: argparse.Namespace, baseline: Any, run: Run) -> str:
    bar = args.recipients / args.rate + 1
    topology = "wahub serve" if args.workers == 0 else f"1 web + {args.workers} worker processes"
    lines = [
        f"bench/campaign.py: {args.recipients:,} recipients, limit {args.rate:,}/s, fakegraph latency "
        f"{args.latency_ms:.0f} ms {'with' if args.statuses else 'without'} status webhooks, {args.database}, "
        f"{topology}",
        "",
        f"baseline (bare aiohttp loop, 256 in flight, no limit): {baseline.msg_per_s:,.0f} msg/s, "
        f"{baseline.seconds:.1f} s for {baseline.messages:,}, CPU {baseline.cpu_ms_per_1000:,.0f} ms/1000",
        f"campaign created (audience resolved): {run.create_s:.1f} s",
        f"start -> first send at fakegraph: {run.to_first_send_s:.3f} s (started -> first message queued, in "
        f"wahub: {run.to_first_queued_s:.3f} s)",
        f"start -> last send at fakegraph: {run.to_last_send_s:.2f} s (bar {bar:.0f} s: "
        f"{'PASS' if run.to_last_send_s <= bar else 'FAIL'}); sustained {run.sustained_per_s:,.0f}/s",
        f"arrivals in each second from the first: {' '.join(map(str, run.per_second))}",
        f"largest count in any 1-s window: {run.max_per_1s:,} (limit {args.rate:,}: "
        f"{'PASS' if run.max_per_1s <= args.rate else 'FAIL'})",
        f"recipients sent twice: {run.sent_twice}, never sent: {run.missing} "
        f"({'PASS' if run.sent_twice == run.missing == 0 else 'FAIL'})",
        f"start -> campaign completed (every recipient with its result): {run.to_results_s:.2f} s, seen by polling "
        f"every 0.1 s (its started_at -> finished_at by wahub's clock: {run.started_to_finished_s:.2f} s); "
        f"totals {run.totals}",
        f"sending processes' CPU: {run.cpu_ms_per_1000:,.0f} ms per 1,000 messages",
        f"CPU from start to completion: wahub (every process) {run.wahub_cpu_s:.1f} s, fakegraph "
        f"{run.fakegraph_cpu_s:.1f} s; at {args.rate:,}/s they would need "
        f"{(run.wahub_cpu_s + run.fakegraph_cpu_s) * args.rate / args.recipients:.2f} cores "
        f"(wahub {run.wahub_cpu_s * args.rate / args.recipients:.2f}) of this machine's {os.cpu_count()}",
    ]
    if run.killed_at is not None:
        lines.append(f"kill -9 of the sending worker after {run.killed_at:,} sends, restarted at once")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=1_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=0, help="0: one 'wahub serve'; N: one web + N workers")
    parser.add_argument("--kill-after", type=int, default=0, help="kill -9 the sending worker after K sends")
    parser.add_argument(
        "--no-statuses",
        dest="statuses",
        action="store_false",
        help="fakegraph posts no status webhooks (results end at 'accepted'); by default it posts three per message",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.kill_after and not args.workers:
        parser.error("--kill-after needs --workers")
    workdir = Path(tempfile.mkdtemp(prefix="wahub-bench-campaign-"))
    (workdir / "data").mkdir()
    pg_name = None
    database_url = f"sqlite:///{workdir / 'data' / 'wahub.db'}"
    try:
        if args.database == "postgresql":
            import psycopg

            pg_name = f"bench_campaign_{os.getpid()}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{pg_name}"')
            database_url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
        baseline, run = run_wahub(args, workdir, database_url)
    except BenchError as exc:
        log(str(exc))
        return 1
    finally:
        if pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps({"run": asdict(run), "baseline": asdict(baseline)}, indent=2))
    else:
        print(render(args, baseline, run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
