"""Webhook-ingest benchmark (SPEC.md §7): signed Meta webhooks into ``wahub serve``, next to a bare ASGI baseline.

Runs, in one invocation and against the same load generator (wrk, from a separate process):

1. baseline at maximum throughput     2. wahub at maximum throughput, then until every event is processed
3. baseline at ``--rate`` offered      4. wahub at ``--rate`` offered, then until every event is processed

and prints acked events/s, p50/p99 ack latency, the wahub/baseline ratio, processing lag and throughput, and the
SPEC's targets with pass/fail. Usage: ``.venv/bin/python bench/ingest.py [--database postgresql] [--json]``.
``--sustained`` runs issue 20's comparison instead: wahub's sustained end-to-end rate next to pywa on FastAPI
and the same baseline (``ingest_sustained.py`` says how it is found; it needs the ``bench`` extra: pywa).

Pacing is closed-loop (see ``wrkload.py``): when the server falls behind, the offered rate drops rather than
requests queueing, so latency under overload is underestimated; the achieved rate is printed next to the offered
one. Needs wrk (``apt-get install -y wrk``); it is not installed for you.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from meta_webhooks import APP_SECRET, PHONE_NUMBER_ID, WABA_ID, Corpus, contacts, write_corpus
from wrkload import WrkError, WrkResult, run_wrk, wrk_version

ROOT = Path(__file__).resolve().parent.parent
TARGET_INTAKE_SHARE = 0.4  # SPEC.md §7: intake >= 0.4 x the bare ASGI baseline's ack rate
TARGET_P99_MS = 50.0
TARGET_P99_RATE = 10_000
TARGET_PROCESSING = 5_000
KEEP_UP_LAG_S = 1.0  # "keeps up": the last event of a run is processed within this long after it arrived


def log(message: str) -> None:
    print(f"[ingest] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """The bench cannot go on; the message says why."""


# ---------------------------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A server subprocess with its output in a log file; stopped with SIGINT, then killed if it lingers."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, port: int, logfile: Path) -> None:
        self.name, self.port, self.logfile = name, port, logfile
        self.url = f"http://127.0.0.1:{port}"
        with open(logfile, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer GET /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def event_loop(self) -> str:
        try:
            maps = Path(f"/proc/{self.pid}/maps").read_text()
        except OSError:
            return "?"
        return "uvloop" if "uvloop" in maps else "asyncio"

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop within 15 s of SIGINT; killing it")
            self.proc.kill()
            self.proc.wait(timeout=10)


def wahub_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
    env.update(
        WAHUB_DATA_DIR=str(data_dir),
        WAHUB_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        WAHUB_WABA_ID=WABA_ID,
        WAHUB_ACCESS_TOKEN="bench-token",
        WAHUB_APP_SECRET=APP_SECRET,
        WAHUB_VERIFY_TOKEN="bench-verify",
        WAHUB_SECRET_KEY=secrets.token_urlsafe(32),
        WAHUB_GRAPH_URL="http://127.0.0.1:9",  # never called: the bench sends nothing
        WAHUB_LOG_LEVEL="WARNING",
    )
    if database_url:
        env["WAHUB_DATABASE_URL"] = database_url
    return env


# ---------------------------------------------------------------------------------------------------- database


class Database:
    """Read access to wahub's tables from the bench process, and the seed of outbound messages."""

    def __init__(self, sqlite_path: Path | None = None, postgres_url: str | None = None) -> None:
        self.sqlite_path, self.postgres_url = sqlite_path, postgres_url
        self._conn: Any = None
        self._events_conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None:
            if self.postgres_url:
                import psycopg

                self._conn = psycopg.connect(self.postgres_url, autocommit=True)
            else:
                self._conn = _sqlite_reader(self.sqlite_path)
        return self._conn

    def _events_connection(self) -> Any:
        """``webhook_events`` lives in a file of its own beside a SQLite database (wahub's ``db.events_url``)."""
        if self.postgres_url or self.sqlite_path is None:
            return self._connection()
        if self._events_conn is None:
            path = self.sqlite_path
            self._events_conn = _sqlite_reader(path.with_name(f"{path.stem}-events{path.suffix}"))
        return self._events_conn

    def _sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s") if self.postgres_url else sql

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return list(self._connection().execute(self._sql(sql), params).fetchall())

    def events_query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return list(self._events_connection().execute(self._sql(sql), params).fetchall())

    def close(self) -> None:
        for conn in (self._conn, self._events_conn):
            if conn is not None:
                conn.close()
        self._conn = self._events_conn = None

    def max_event_id(self) -> int:
        return int(self.events_query("SELECT coalesce(max(id), 0) FROM webhook_events")[0][0])

    def backlog(self) -> int:
        return int(self.events_query("SELECT count(*) FROM webhook_events WHERE processed_at IS NULL")[0][0])

    def unprocessed_after(self, after_id: int) -> bool:
        """Whether an event after ``after_id`` is still unprocessed: the first such row on the (processed_at, id)
        index, so polling it while the processor drains costs the server little (``run_stats`` scans every row
        of the run, a count of the backlog every row left)."""
        sql = "SELECT id FROM webhook_events WHERE processed_at IS NULL AND id > ? LIMIT 1"
        return bool(self.events_query(sql, after_id))

    def run_stats(self, after_id: int) -> tuple[int, int, datetime | None, datetime | None, datetime | None, int]:
        """stored, unprocessed, first received, last received, last processed, processed with a result not 'ok…'."""
        row = self.events_query(
            "SELECT count(*), sum(CASE WHEN processed_at IS NULL THEN 1 ELSE 0 END), min(received_at), "
            "max(received_at), max(processed_at), sum(CASE WHEN processed_at IS NOT NULL AND "
            "(result IS NULL OR result NOT LIKE 'ok%') THEN 1 ELSE 0 END) FROM webhook_events WHERE id > ?",
            after_id,
        )[0]
        return int(row[0]), int(row[1] or 0), _ts(row[2]), _ts(row[3]), _ts(row[4]), int(row[5] or 0)

    def seed_outbound(self, corpora: list[Corpus]) -> int:
        """The outbound messages the status webhooks refer to, as if wahub had sent them: without them every
        status would be kept aside as "early" and processing would measure a path real traffic rarely takes."""
        if self.postgres_url:
            import psycopg

            conn: Any = psycopg.connect(self.postgres_url)
            now: Any = datetime.now(UTC).replace(tzinfo=None)
        else:
            conn = sqlite3.connect(str(self.sqlite_path), timeout=30)
            now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        try:
            cur = conn.cursor()
            rows = cur.execute(self._sql("SELECT id FROM accounts WHERE phone_number_id = ?"), (PHONE_NUMBER_ID,))
            account = rows.fetchone()
            if account is None:
                raise BenchError(f"wahub has no account for phone_number_id {PHONE_NUMBER_ID}")
            account_id = account[0]
            people = contacts()
            cur.executemany(
                self._sql(
                    "INSERT INTO contacts (account_id, wa_id, user_id, profile_name, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"  # seeded by an earlier call
                ),
                [(account_id, p.wa_id, p.user_id, p.name, now, now) for p in people],
            )
            ids = dict(cur.execute(self._sql("SELECT wa_id, id FROM contacts WHERE account_id = ?"), (account_id,)))
            cur.executemany(
                self._sql(
                    "INSERT INTO conversations (account_id, contact_id, last_message_at, unread_count, created_at) "
                    "VALUES (?, ?, ?, 0, ?) ON CONFLICT DO NOTHING"
                ),
                [(account_id, ids[p.wa_id], now, now) for p in people],
            )
            convs = dict(
                cur.execute(self._sql("SELECT contact_id, id FROM conversations WHERE account_id = ?"), (account_id,))
            )
            content = json.dumps({"text": {"body": "Your order has shipped and arrives tomorrow."}})
            messages = [
                (account_id, convs[ids[people[who].wa_id]], ids[people[who].wa_id], wamid, content, now, now)
                for corpus in corpora
                for wamid, who in corpus.outbound
            ]
            cur.executemany(
                self._sql(
                    "INSERT INTO messages (account_id, conversation_id, contact_id, direction, type, wamid, status, "
                    "content, created_at, queued_at) VALUES (?, ?, ?, 'outbound', 'text', ?, 'accepted', ?, ?, ?)"
                ),
                messages,
            )
            conn.commit()
            # Statistics, as a database in use has them: autovacuum would not have analyzed tables that grew
            # from nothing seconds ago, and PostgreSQL then plans the processor's lookups by wamid as scans.
            conn.execute("ANALYZE")
            conn.commit()
            return len(messages)
        finally:
            conn.close()


def _sqlite_reader(path: Path | None) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _ts(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


class PostgresDatabase:
    """A fresh database for one bench run, created and dropped on the server at ``server_url``."""

    def __init__(self, server_url: str, prefix: str = "bench_ingest") -> None:
        self.server_url = server_url.rstrip("/")
        self.name = f"{prefix}_{os.getpid()}"
        self.url = f"{self.server_url}/{self.name}"

    def _admin(self) -> Any:
        try:
            import psycopg
        except ImportError as exc:
            raise BenchError("--database postgresql needs psycopg: run the bench with wahub's venv") from exc
        try:
            return psycopg.connect(f"{self.server_url}/postgres", autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            raise BenchError(f"cannot reach PostgreSQL at {self.server_url}: {exc}") from exc

    def create_empty(self) -> None:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def create(self, venv_bin: Path, env: dict[str, str], cwd: Path) -> None:
        self.create_empty()
        out = subprocess.run(
            [str(venv_bin / "wahub"), "db", "upgrade"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
        )
        if out.returncode != 0:
            raise BenchError(f"wahub db upgrade failed:\n{out.stdout}\n{out.stderr}")

    def drop(self) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# ---------------------------------------------------------------------------------------------------- runs


@dataclass(slots=True)
class Processing:
    """What the processor did with one run's events (read from ``webhook_events`` after the load)."""

    stored: int
    acked: int
    backlog_at_end: int
    unprocessed: int
    not_ok: int
    lag_s: float | None  # last event processed minus last event received
    end_to_end_per_s: float | None  # events / (last processed - first received)
    drain_per_s: float | None  # backlog at the end of the load / time to clear it
    waited_s: float


@dataclass(slots=True)
class Run:
    name: str
    server: str
    offered: int | None
    connections: int
    result: WrkResult
    processing: Processing | None = None
    backlog_at_start: int = 0  # events of earlier runs still waiting for the processor when this one began

    def row(self) -> dict[str, Any]:
        r = self.result
        return {
            "run": self.name,
            "server": self.server,
            "offered_per_s": self.offered,
            "acked_per_s": round(r.acked / r.seconds, 1),
            "acked": r.acked,
            "non_2xx": r.status_errors,
            "socket_errors": r.errors,
            "p50_ms": r.p50_us / 1000,
            "p90_ms": r.p90_us / 1000,
            "p99_ms": r.p99_us / 1000,
            "p999_ms": r.p999_us / 1000,
            "max_ms": r.max_us / 1000,
            "seconds": round(r.seconds, 3),
            "server_cpu_pct": round(100 * r.server_cpu_s / r.seconds, 1),
            "wrk_cpu_pct": round(100 * r.wrk_cpu_s / r.seconds, 1),
            "other_cpu_pct": round(100 * max(0.0, r.machine_cpu_s - r.server_cpu_s - r.wrk_cpu_s) / r.seconds, 1),
            "connections": self.connections,
            "bodies_wrapped": r.sent > r.loaded,
            "backlog_at_start": self.backlog_at_start,
            "processing": asdict(self.processing) if self.processing else None,
        }


def drain(db: Database, after_id: int, acked: int, timeout: float) -> Processing:
    """Wait until every event of the run is stored and processed (or ``timeout``), then read the figures."""
    started = time.monotonic()
    backlog_at_end = db.backlog()
    while True:
        waited = time.monotonic() - started
        # the cheap look first: a scan of the run's rows ten times a second would take CPU from the processor
        if not db.unprocessed_after(after_id) or waited > timeout:
            stored, unprocessed, first_in, last_in, last_done, not_ok = db.run_stats(after_id)
            if (stored >= acked and unprocessed == 0) or waited > timeout:
                break
        time.sleep(0.1 if waited < 5 else 0.5)
    if unprocessed or stored < acked:
        log(f"not drained after {timeout:.0f} s: {unprocessed} of {stored} events unprocessed ({acked} acked)")
    lag = (last_done - last_in).total_seconds() if last_done and last_in and not unprocessed else None
    span = (last_done - first_in).total_seconds() if last_done and first_in else None
    processed = stored - unprocessed
    return Processing(
        stored=stored,
        acked=acked,
        backlog_at_end=backlog_at_end,
        unprocessed=unprocessed,
        not_ok=not_ok,
        lag_s=round(lag, 3) if lag is not None else None,
        end_to_end_per_s=round(processed / span, 1) if span else None,
        drain_per_s=round(backlog_at_end / lag, 1) if lag and backlog_at_end >= 1000 else None,
        waited_s=round(waited, 2),
    )


def settle(db: Database, timeout: float) -> None:
    """Let the processor finish earlier work so it does not run into the next measurement."""
    deadline = time.monotonic() + timeout
    while db.backlog() and time.monotonic() < deadline:
        time.sleep(0.2)


@dataclass(slots=True)
class Bench:
    args: argparse.Namespace
    workdir: Path
    venv_bin: Path
    servers: list[Server] = field(default_factory=list)
    postgres: PostgresDatabase | None = None
    db: Database | None = None

    def start_servers(self) -> tuple[Server, Server]:
        data = self.workdir / "data"
        data.mkdir()
        database_url = None
        if self.args.database == "postgresql":
            self.postgres = PostgresDatabase(self.args.postgres_url)
            database_url = self.postgres.url
        env = wahub_env(data, database_url)
        if self.postgres is not None:
            log(f"creating PostgreSQL database {self.postgres.name} and running 'wahub db upgrade'")
            self.postgres.create(self.venv_bin, env, self.workdir)
            self.db = Database(postgres_url=self.postgres.url)
        else:
            self.db = Database(sqlite_path=data / "wahub.db")
        port = free_port()
        wahub = Server(
            "wahub",
            [
                str(self.venv_bin / "wahub"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--role",
                self.args.role,
            ],
            env,
            self.workdir,
            port,
            self.workdir / "wahub.log",
        )
        self.servers.append(wahub)
        port = free_port()
        baseline_cmd = [str(self.venv_bin / "python"), "-m", "uvicorn", "baseline_app:app"]
        baseline_cmd += ["--app-dir", str(ROOT / "bench"), "--host", "127.0.0.1", "--port", str(port)]
        baseline_cmd += ["--no-access-log", "--log-level", "warning", "--loop", self.args.baseline_loop]
        baseline = Server("baseline", baseline_cmd, dict(os.environ), self.workdir, port, self.workdir / "baseline.log")
        self.servers.append(baseline)
        wahub.wait_ready(90)
        baseline.wait_ready(30)
        return wahub, baseline

    def stop(self) -> None:
        for server in self.servers:
            try:
                server.stop()
            except Exception as exc:
                log(f"stopping {server.name}: {exc}")
        if self.db is not None:
            self.db.close()
        if self.postgres is not None:
            try:
                self.postgres.drop()
            except Exception as exc:
                log(f"could not drop database {self.postgres.name}: {exc}")

    def connections(self, rate: int | None) -> int:
        """Paced runs use more connections than unpaced ones so the closed loop holds the rate while latency is
        low (128 connections hold 10,000/s up to 12.8 ms mean latency). Not hundreds: wrk keeps its timers in
        a linked list, and with 500 paced connections the baseline's p99 went from 5 ms to 40-60 ms."""
        return int(self.args.connections if rate is None else self.args.rate_connections)

    def load(self, server: Server, corpus: Corpus, seconds: float, rate: int | None) -> WrkResult:
        return run_wrk(
            f"{server.url}/webhooks/meta",
            corpus,
            threads=self.args.threads,
            connections=self.connections(rate),
            seconds=seconds,
            rate=rate,
            server_pid=server.pid,
        )

    def run(self) -> dict[str, Any]:
        args = self.args
        nonce = secrets.token_hex(4)
        max_events = args.events or 30_000 * math.ceil(args.duration)
        rate_events = args.events or int(args.rate * args.duration * 1.05) + 1000
        keep_events = args.events or int(args.keep_up_rate * args.duration * 1.05) + 1000
        started = time.monotonic()
        log(f"writing {max_events + rate_events + keep_events + 5000:,} signed bodies to {self.workdir}")
        bodies = self.workdir / "bodies"
        bodies.mkdir()
        warm = write_corpus(bodies, "warm", 5000, args.threads, nonce)
        at_max = write_corpus(bodies, "max", max_events, args.threads, nonce)
        at_rate = write_corpus(bodies, "rate", rate_events, args.threads, nonce)
        keep_up = write_corpus(bodies, "keep", keep_events, args.threads, nonce)
        log(f"bodies written in {time.monotonic() - started:.1f} s; starting wahub and the baseline")
        wahub, baseline = self.start_servers()
        assert self.db is not None
        db = self.db
        try:
            seeded = db.seed_outbound([warm, at_max, at_rate, keep_up])
            log(f"seeded {seeded:,} outbound messages for the status webhooks to update")
        except Exception as exc:
            seeded = 0
            log(f"could not seed outbound messages ({type(exc).__name__}: {exc}); statuses will be kept aside")
        runs: list[Run] = []
        log("warming up both servers")
        self.load(baseline, warm, 2, None)
        self.load(wahub, warm, 2, None)
        settle(db, args.drain_timeout)

        plan: list[tuple[str, Corpus, int | None]] = [
            ("max throughput", at_max, None),
            (f"at {args.rate:,}/s", at_rate, args.rate),
            (f"at {args.keep_up_rate:,}/s", keep_up, args.keep_up_rate),
        ]
        for name, corpus, rate in plan:
            log(f"{name}: baseline, {args.duration:g} s")
            result = self.load(baseline, corpus, args.duration, rate)
            runs.append(Run(name, "baseline", rate, self.connections(rate), result))
            settle(db, args.drain_timeout)
            log(f"{name}: wahub, {args.duration:g} s")
            first_id, backlog = db.max_event_id(), db.backlog()
            result = self.load(wahub, corpus, args.duration, rate)
            log(f"{name}: wahub acked {result.acked:,}; waiting for the processor")
            processing = drain(db, first_id, result.acked, args.drain_timeout)
            runs.append(Run(name, "wahub", rate, self.connections(rate), result, processing, backlog))
        return {
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "database": args.database,
            "cpus": os.cpu_count(),
            "wrk": wrk_version(),
            "threads": args.threads,
            "connections": args.connections,
            "rate_connections": self.connections(args.rate),
            "load_average_before": Path("/proc/loadavg").read_text().split()[0],
            "duration_s": args.duration,
            "wahub_event_loop": wahub.event_loop(),
            "baseline_event_loop": baseline.event_loop(),
            "seeded_outbound": seeded,
            "runs": [run.row() for run in runs],
            "targets": targets(args, runs),
            "elapsed_s": round(time.monotonic() - started, 1),
        }


# ---------------------------------------------------------------------------------------------------- report


def targets(args: argparse.Namespace, runs: list[Run]) -> list[dict[str, Any]]:
    at_max = next(r for r in runs if r.server == "wahub" and r.offered is None)
    at_rate = next(r for r in runs if r.server == "wahub" and r.offered == args.rate)
    at_keep = next(r for r in runs if r.server == "wahub" and r.offered == args.keep_up_rate)
    out: list[dict[str, Any]] = []

    def check(name: str, value: float | None, unit: str, ok: bool | None, note: str = "") -> None:
        verdict = "n/a" if ok is None else ("PASS" if ok else "FAIL")
        out.append({"target": name, "value": value, "unit": unit, "verdict": verdict, "note": note})

    base = next(r for r in runs if r.server == "baseline" and r.offered is None)
    share = (at_max.result.acked / at_max.result.seconds) / (base.result.acked / base.result.seconds)
    check(
        f"intake >= {TARGET_INTAKE_SHARE:g} x the bare ASGI baseline, at maximum",
        round(share, 3),
        "x",
        share >= TARGET_INTAKE_SHARE,
    )
    p99 = at_rate.result.p99_us / 1000
    achieved = at_rate.result.acked / at_rate.result.seconds
    name = f"p99 <= {TARGET_P99_MS:g} ms at {TARGET_P99_RATE:,}/s offered"
    if args.rate != TARGET_P99_RATE:
        check(name, p99, "ms", None, f"offered {args.rate:,}/s, not {TARGET_P99_RATE:,}/s")
    elif achieved < 0.97 * args.rate:
        check(name, p99, "ms", False, f"offered rate not reached ({achieved:,.0f}/s acked): p99 is underestimated")
    else:
        check(name, p99, "ms", p99 <= TARGET_P99_MS)
    # "Processing keeps up at 5,000 events/s": offered that rate, the processor works off each event as it comes,
    # beside intake in the same process, so the run ends with the last event processed within KEEP_UP_LAG_S. Not
    # SPEC.md's end-to-end bar, which is relative to pywa (``--sustained``), but the same question at a fixed rate.
    proc = at_keep.processing
    kept = at_keep.result.acked / at_keep.result.seconds
    name = f"processing keeps up at {TARGET_PROCESSING:,} events/s offered (lag <= {KEEP_UP_LAG_S:g} s)"
    lag = proc.lag_s if proc else None
    if args.keep_up_rate != TARGET_PROCESSING:
        check(name, lag, "s lag", None, f"offered {args.keep_up_rate:,}/s, not {TARGET_PROCESSING:,}/s")
    elif proc is None or proc.unprocessed or lag is None:
        check(name, lag, "s lag", False, "events were left unprocessed")
    elif kept < 0.97 * args.keep_up_rate:
        check(name, lag, "s lag", False, f"offered rate not reached ({kept:,.0f}/s acked)")
    else:
        check(name, lag, "s lag", lag <= KEEP_UP_LAG_S, f"{kept:,.0f}/s acked and processed")
    bad = [f"{r.server} {r.name}: {r.result.status_errors} non-2xx" for r in runs if r.result.status_errors]
    bad += [f"{r.server} {r.name}: {r.result.errors} socket errors/timeouts" for r in runs if r.result.errors]
    for r in runs:
        p = r.processing
        if p and p.stored < p.acked:
            bad.append(f"wahub {r.name}: {p.acked - p.stored} acked events are not in webhook_events")
        if p and p.not_ok:
            bad.append(f"wahub {r.name}: {p.not_ok} events processed with a result other than 'ok'")
    check("no non-2xx, no socket errors, every acked event stored and processed ok", None, "", not bad, "; ".join(bad))
    return out


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(report: dict[str, Any]) -> str:
    lines = [
        f"wahub webhook ingest: {report['database']}, {report['date']}, {report['cpus']} CPUs "
        f"(load average before: {report['load_average_before']})",
        f"load: {report['wrk']}, {report['threads']} thread(s), {report['connections']} connections "
        f"({report['rate_connections']} when paced), {report['duration_s']:g} s per run",
        f"event loop: wahub {report['wahub_event_loop']}, baseline {report['baseline_event_loop']}; "
        f"{report['seeded_outbound']:,} outbound messages seeded for the statuses",
        "",
    ]
    head = ("run", "server", "offered/s", "acked/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "non-2xx", "errors")
    head += ("server CPU", "wrk CPU", "other CPU")
    rows: list[tuple[str, ...]] = [head]
    runs = report["runs"]
    for base, wahub in zip(runs[0::2], runs[1::2], strict=True):
        for r in (base, wahub):
            rows.append(
                (
                    r["run"],
                    r["server"],
                    _num(r["offered_per_s"]) if r["offered_per_s"] else "max",
                    _num(r["acked_per_s"]) + ("*" if r["bodies_wrapped"] and r["server"] == "wahub" else ""),
                    _num(r["p50_ms"], 2),
                    _num(r["p99_ms"], 2),
                    _num(r["p999_ms"], 2),
                    _num(r["max_ms"], 1),
                    str(r["non_2xx"]),
                    str(r["socket_errors"]),
                    f"{r['server_cpu_pct']:.0f}%",
                    f"{r['wrk_cpu_pct']:.0f}%" + ("!" if r["wrk_cpu_pct"] >= 90 else ""),
                    f"{r['other_cpu_pct']:.0f}%",
                )
            )
        ratio = (wahub["acked_per_s"] / base["acked_per_s"]) if base["acked_per_s"] else 0.0
        lat = [wahub[k] / base[k] if base[k] else 0.0 for k in ("p50_ms", "p99_ms")]
        rows.append(("", "wahub/baseline", "", f"{ratio:.3f}", f"{lat[0]:.1f}x", f"{lat[1]:.1f}x", "", "", "", ""))
    lines += _table(rows, right_from=2)
    if any(r["bodies_wrapped"] and r["server"] == "wahub" for r in runs):
        lines.append("* more requests than pre-generated bodies: some were redeliveries (raise --events)")
    lines.append("CPU: % of one core; other = every other process on the machine during the run (noise if high)")
    if any(r["wrk_cpu_pct"] >= 90 for r in runs):
        lines.append("! wrk used a whole core: the generator, not the server, may be the limit (try --threads 2)")
    lines += [
        f"{r['server']} {r['run']}: {r['backlog_at_start']:,} events of earlier runs were still being processed"
        for r in runs
        if r["backlog_at_start"]
    ]
    lines.append("")
    rows = [("processing (wahub)", "stored", "acked", "backlog at end", "lag s", "end-to-end/s", "drain/s", "not ok")]
    for r in runs:
        p = r["processing"]
        if p:
            rows.append(
                (
                    r["run"],
                    _num(p["stored"]),
                    _num(p["acked"]),
                    _num(p["backlog_at_end"]),
                    _num(p["lag_s"], 2) if p["lag_s"] is not None else f"> {p['waited_s']:g}",
                    _num(p["end_to_end_per_s"]),
                    _num(p["drain_per_s"]),
                    _num(p["not_ok"]),
                )
            )
    lines += _table(rows, right_from=1)
    lines += [
        "lag: last event processed - last event received; end-to-end: events / (last processed - first received);",
        "drain: backlog at the end of the load / lag (shown when the backlog was >= 1,000)",
        "",
        "targets (SPEC.md §7; its end-to-end bar, next to pywa: --sustained)",
    ]
    for t in report["targets"]:
        value = (
            ""
            if t["value"] is None
            else f"{_num(t['value'], {'ms': 1, 's lag': 2, 'x': 2}.get(t['unit'], 0))} {t['unit']}"
        )
        note = f"  ({t['note']})" if t["note"] else ""
        lines.append(f"  {t['verdict']:<4}  {t['target']:<55} {value:>12}{note}")
    lines.append(f"\nbench took {report['elapsed_s']:g} s")
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]], right_from: int) -> list[str]:
    widths = [max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i >= right_from else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        out.append("  ".join(cells).rstrip())
    return out


# ---------------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432", help="server to use")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--rate", type=int, default=TARGET_P99_RATE, help="offered events/s of the latency runs")
    parser.add_argument(
        "--keep-up-rate",
        type=int,
        default=TARGET_PROCESSING,
        help=f"offered events/s of the runs where processing must keep up (default {TARGET_PROCESSING:,})",
    )
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument(
        "--rate-connections", type=int, default=128, help="wrk connections of the paced runs (default 128)"
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: leaves a core to the server)")
    parser.add_argument(
        "--events", type=int, default=0, help="unique bodies per run (default: enough for 30,000/s and for --rate)"
    )
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="longest wait for the processor (s)")
    parser.add_argument(
        "--baseline-loop", choices=("auto", "asyncio", "uvloop"), default="auto", help="uvicorn --loop of the baseline"
    )
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv", help="the venv with wahub and uvicorn")
    parser.add_argument(
        "--role",
        choices=("all", "web"),
        default="all",
        help="wahub's role: all (intake and processing, the default) or web (intake alone; nothing is processed)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (bodies, database, logs)")
    import ingest_sustained  # here: it imports this module

    ingest_sustained.add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    args = parser.parse_args(argv)
    if args.threads < 1 or min(args.connections, args.rate_connections) < args.threads:
        parser.error("--connections and --rate-connections must be at least --threads, and --threads at least 1")
    if args.rate < 1 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    import ingest_sustained

    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("ingest: wrk is not installed. Install it with:  apt-get install -y wrk", file=sys.stderr)
        return 2
    venv_bin = args.venv / "bin"
    if not (venv_bin / "wahub").exists() or not (venv_bin / "python").exists():
        print(f"ingest: no wahub in {venv_bin}: create the venv (see README) or pass --venv", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below on SIGTERM too
    workdir = Path(tempfile.mkdtemp(prefix="wahub-bench-ingest-"))
    bench = Bench(args, workdir, venv_bin)
    try:
        report = ingest_sustained.run(bench) if args.sustained else bench.run()
    except (BenchError, WrkError) as exc:
        print(f"ingest: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ingest: interrupted", file=sys.stderr)
        return 130
    finally:
        bench.stop()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    show = ingest_sustained.render if args.sustained else render
    print(json.dumps(report, indent=2) if args.json else show(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
