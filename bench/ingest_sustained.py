"""``bench/ingest.py --sustained``: wahub's sustained end-to-end rate next to pywa's ack rate and the bare ASGI
baseline, in one run, with the same load generator (wrk) and the same signed bodies (issue 20).

Three servers, each under uvicorn in a process of its own: the bare ASGI baseline (``baseline_app.py``), pywa 4.5
on FastAPI (``pywa_app.py``: signature, parse, dispatch to handlers that keep nothing) and ``wahub serve`` (role
all: intake, and the processor in its child process). The runs:

1. baseline, pywa and wahub at maximum throughput (unpaced), ``--duration`` s each: the ack rates. wahub's is its
   intake (bar: >= 0.4 x the baseline's); its processor then drains what it acked before the next run.
2. the sustained search: wahub offered a paced rate for ``--duration`` s, then waited for until every event is
   processed. A rate *holds* when wahub acks at least 97% of it with no error, every event is stored and
   processed ``ok``, and the last event is processed within ``--lag`` s (default 1) of the last one received:
   the backlog stayed bounded and was back to zero right after the load. The search starts at 90% of the
   processor's drain rate after run 1, moves the rate up by ``--step`` (default 25%) while it holds and down
   while it does not; once a rate that held and one that did not bracket it, it bisects until they are within
   ``--precision`` (5%) of each other, in at most ``--probes`` runs.

wahub's **sustained end-to-end rate** is the acked rate of the highest run that held (events acked, parsed and
stored, every one ``ok``, lag back to zero). The bars (issue 20): sustained >= 2.0 x pywa's ack rate on SQLite,
>= 1.5 x on PostgreSQL; intake >= 0.4 x the bare baseline. Compare ratios of one run: the machine is shared.
Needs wrk (``apt-get install -y wrk``) and the ``bench`` extra (``pip install -e '.[bench]'``: pywa).
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest import ROOT, Bench, Processing, Server, drain, free_port, log, settle
from meta_webhooks import write_corpus
from wrkload import WrkResult, wrk_version

BAR_SQLITE = 2.0
BAR_POSTGRES = 1.5
BAR_INTAKE = 0.4
HOLD_SHARE = 0.97  # a paced run holds its rate when wahub acks at least this share of it


def start_pywa(bench: Bench) -> Server:
    """pywa on FastAPI under the baseline's uvicorn settings, in its own process."""
    port = free_port()
    cmd = [str(bench.venv_bin / "python"), "-m", "uvicorn", "pywa_app:app", "--app-dir", str(ROOT / "bench")]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"]
    cmd += ["--loop", bench.args.baseline_loop]
    pywa = Server("pywa", cmd, dict(os.environ), bench.workdir, port, bench.workdir / "pywa.log")
    bench.servers.append(pywa)
    pywa.wait_ready(60)
    return pywa


def _rate(result: WrkResult) -> float:
    return result.acked / result.seconds


def _row(name: str, result: WrkResult, offered: int | None, proc: Processing | None = None) -> dict[str, Any]:
    return {
        "run": name,
        "offered_per_s": offered,
        "acked_per_s": round(_rate(result), 1),
        "p99_ms": result.p99_us / 1000,
        "errors": result.errors + result.status_errors,
        "server_cpu_pct": round(100 * result.server_cpu_s / result.seconds, 1),
        "other_cpu_pct": round(
            100 * max(0.0, result.machine_cpu_s - result.server_cpu_s - result.wrk_cpu_s) / result.seconds, 1
        ),
        "lag_s": proc.lag_s if proc else None,
        "drain_per_s": proc.drain_per_s if proc else None,
        "end_to_end_per_s": proc.end_to_end_per_s if proc else None,
        "not_ok": proc.not_ok if proc else None,
        "unprocessed": proc.unprocessed + max(0, proc.acked - proc.stored) if proc else None,
    }


def holds(row: dict[str, Any], lag_limit: float) -> bool:
    """The paced run kept up end to end (see the module's docstring)."""
    return (
        row["acked_per_s"] >= HOLD_SHARE * row["offered_per_s"]
        and row["errors"] == 0
        and row["not_ok"] == 0
        and row["unprocessed"] == 0
        and row["lag_s"] is not None
        and row["lag_s"] <= lag_limit
    )


def run(bench: Bench) -> dict[str, Any]:
    args = bench.args
    nonce = secrets.token_hex(4)
    started = time.monotonic()
    bodies = bench.workdir / "bodies"
    bodies.mkdir()
    max_events = args.events or 30_000 * math.ceil(args.duration)
    log(f"writing {max_events + 5000:,} signed bodies to {bench.workdir}")
    warm = write_corpus(bodies, "warm", 5000, args.threads, nonce)
    at_max = write_corpus(bodies, "max", max_events, args.threads, nonce)
    wahub, baseline = bench.start_servers()
    pywa = start_pywa(bench)
    assert bench.db is not None
    db = bench.db
    seeded = db.seed_outbound([warm, at_max])
    load_average = Path("/proc/loadavg").read_text().split()[0]
    log("warming up the three servers")
    for server in (baseline, pywa, wahub):
        bench.load(server, warm, 2, None)
    settle(db, args.drain_timeout)
    rows: list[dict[str, Any]] = []
    for server in (baseline, pywa):
        log(f"max throughput: {server.name}, {args.duration:g} s")
        rows.append(_row(f"{server.name} max", bench.load(server, at_max, args.duration, None), None))
    log(f"max throughput: wahub, {args.duration:g} s, then until every event is processed")
    first_id = db.max_event_id()
    result = bench.load(wahub, at_max, args.duration, None)
    proc = drain(db, first_id, result.acked, args.drain_timeout)
    rows.append(_row("wahub max", result, None, proc))
    base_rate, pywa_rate, intake = (r["acked_per_s"] for r in rows)
    # Start the search at what the processor drained alone after the load: above it nothing can hold.
    rate = int(min(intake, proc.drain_per_s or proc.end_to_end_per_s or intake / 4) * 0.9)
    best: dict[str, Any] | None = None
    lowest_failed: int | None = None
    for n in range(args.probes):
        corpus = write_corpus(bodies, f"p{n}", int(rate * args.duration * 1.05) + 1000, args.threads, nonce)
        db.seed_outbound([corpus])
        settle(db, args.drain_timeout)
        log(f"sustained probe {n + 1}/{args.probes}: wahub at {rate:,}/s for {args.duration:g} s")
        first_id = db.max_event_id()
        result = bench.load(wahub, corpus, args.duration, rate)
        row = _row(f"wahub at {rate:,}/s", result, rate, drain(db, first_id, result.acked, args.drain_timeout))
        row["held"] = holds(row, args.lag)
        rows.append(row)
        if row["held"]:
            best = row if best is None or rate > best["offered_per_s"] else best
        else:
            lowest_failed = rate if lowest_failed is None else min(lowest_failed, rate)
        if best is not None and lowest_failed is not None:
            held_at = int(best["offered_per_s"])
            if lowest_failed - held_at <= held_at * args.precision:
                break  # bracketed closely enough
            rate = (held_at + lowest_failed) // 2
        else:
            rate = int(rate * (1 + args.step)) if row["held"] else int(rate / (1 + args.step))
    sustained = best["acked_per_s"] if best else 0.0
    bar = BAR_SQLITE if args.database == "sqlite" else BAR_POSTGRES
    return {
        "command": "ingest.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": args.database,
        "cpus": os.cpu_count(),
        "wrk": wrk_version(),
        "load_average_before": load_average,
        "load_average_after": Path("/proc/loadavg").read_text().split()[0],
        "duration_s": args.duration,
        "lag_limit_s": args.lag,
        "seeded_outbound": seeded,
        "event_loops": {s.name: s.event_loop() for s in (baseline, pywa, wahub)},
        "runs": rows,
        "baseline_per_s": base_rate,
        "pywa_per_s": pywa_rate,
        "intake_per_s": intake,
        "sustained_per_s": sustained,
        "targets": [
            _target(f"sustained end to end >= {bar:g} x pywa's ack rate", sustained, pywa_rate, bar),
            _target(f"intake >= {BAR_INTAKE:g} x the bare ASGI baseline", intake, base_rate, BAR_INTAKE),
        ],
        "elapsed_s": round(time.monotonic() - started, 1),
    }


def _target(name: str, value: float, of: float, bar: float) -> dict[str, Any]:
    ratio = value / of if of else 0.0
    return {"target": name, "ratio": round(ratio, 3), "verdict": "PASS" if ratio >= bar else "FAIL"}


def render(report: dict[str, Any]) -> str:
    from ingest import _num, _table

    lines = [
        f"wahub sustained ingest: {report['database']}, {report['date']}, {report['cpus']} CPUs "
        f"(load average before: {report['load_average_before']}, after: {report['load_average_after']})",
        f"load: {report['wrk']}, {report['duration_s']:g} s per run; event loops: "
        + ", ".join(f"{k} {v}" for k, v in report["event_loops"].items()),
        "",
    ]
    rows = [("run", "offered/s", "acked/s", "p99 ms", "errors", "server CPU", "other CPU", "lag s", "drain/s")]
    rows[0] += ("not ok", "held")
    for r in report["runs"]:
        rows.append(
            (
                r["run"],
                _num(r["offered_per_s"]) if r["offered_per_s"] else "max",
                _num(r["acked_per_s"]),
                _num(r["p99_ms"], 2),
                str(r["errors"]),
                f"{r['server_cpu_pct']:.0f}%",
                f"{r['other_cpu_pct']:.0f}%",
                _num(r["lag_s"], 2),
                _num(r["drain_per_s"]),
                _num(r["not_ok"]),
                {True: "yes", False: "no"}.get(r.get("held"), ""),  # type: ignore[arg-type]
            )
        )
    lines += _table(rows, right_from=1)
    lines += [
        "server CPU: wahub's web process only (its processor is a child process); other: the rest of the machine",
        f"held: acked >= {HOLD_SHARE:.0%} of offered, no error, every event processed ok, lag <= "
        f"{report['lag_limit_s']:g} s",
        "",
        f"baseline {report['baseline_per_s']:,.0f}/s acked; pywa {report['pywa_per_s']:,.0f}/s acked; "
        f"wahub intake {report['intake_per_s']:,.0f}/s acked, sustained end to end {report['sustained_per_s']:,.0f}/s",
        "",
        "targets (issue 20)",
    ]
    for t in report["targets"]:
        lines.append(f"  {t['verdict']:<4}  {t['target']:<50} {t['ratio']:.2f} x")
    lines.append(f"\nbench took {report['elapsed_s']:g} s")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sustained",
        action="store_true",
        help="wahub's sustained end-to-end rate next to pywa's ack rate and the bare baseline (issue 20's bars)",
    )
    parser.add_argument("--lag", type=float, default=1.0, help="--sustained: longest lag of a run that holds (s)")
    parser.add_argument(
        "--step", type=float, default=0.25, help="--sustained: rate up or down by this share until bracketed (0.25)"
    )
    parser.add_argument(
        "--precision", type=float, default=0.05, help="--sustained: then halve the bracket down to this share (0.05)"
    )
    parser.add_argument("--probes", type=int, default=6, help="--sustained: most paced runs of the search")
