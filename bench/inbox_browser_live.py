"""``bench/inbox_browser.py``'s live phase: inbound messages to the open conversation through the real path
(signed Meta webhooks to ``/webhooks/meta``), or the static baseline's appends, watched from the page."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from serving import BenchError  # bench/serving.py

NUMBERS = ("100000000000001", "100000000000002")  # the seeded accounts' phone number ids
APP_SECRET, WABA_ID = "bench-secret", "200000000000001"
KEPT = 200  # bubbles static/js/thread.js keeps while the reader is at the end (the baseline too)
BIG_CONTACT = "491510000001"  # conversation 1's contact (inbox_seed.contact_rows)


@dataclass
class Live:
    """One live phase: what the page recorded while messages arrived."""

    sent: int = 0
    arrived: int = 0
    window_ms: float = 0.0
    longtasks: list[float] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # from the POST to the bubble in the DOM, ms
    posted_s: float = 0.0  # from the first webhook POST to the last answer
    cpu_tasks: list[float] = field(default_factory=list)  # with --trace: the page's main-thread tasks' CPU ms
    streamed: list[float] = field(default_factory=list)  # from the POST to the stream event at the page, ms
    loads: tuple[float, float] = (0.0, 0.0)


def webhook(n: int) -> tuple[bytes, dict[str, str]]:
    message = {
        "from": BIG_CONTACT,
        "id": f"wamid.live.{os.getpid()}.{n}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": f"bench live {n}"},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": NUMBERS[0]},
        "contacts": [{"profile": {"name": "Bench Contact"}, "wa_id": BIG_CONTACT}],
        "messages": [message],
    }
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def post_inbound(base_url: str, rate: float, seconds: float, sent: dict[int, float], errors: list[str]) -> float:
    """``rate`` signed inbound webhooks a second for ``seconds``, each on its own time slot (a few in flight, so a
    slow answer does not delay the next); returns the seconds from the first POST to the last answer."""
    bodies = [webhook(n) for n in range(int(rate * seconds))]
    with httpx.Client(base_url=base_url, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        start = time.monotonic()

        def post(n: int) -> None:
            wait = start + n / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            body, headers = bodies[n]
            sent[n] = time.time() * 1000
            answer = client.post("/webhooks/meta", content=body, headers=headers)
            if answer.status_code != 200:
                errors.append(f"{answer.status_code} {answer.text[:200]}")

        list(pool.map(post, range(len(bodies))))
        return time.monotonic() - start


def task_cpu(trace: Path) -> list[float]:
    """The CPU time (ms) of each task on the renderer's main thread in a Chrome trace, from its second second on
    (starting the trace interrupts the page once). Wall-clock long tasks include the time the OS gave the renderer's
    core to others; a task's CPU time does not, so on a loaded machine it says what the page itself spent."""
    loaded = json.loads(trace.read_text())
    events = loaded["traceEvents"] if isinstance(loaded, dict) else loaded
    mains = {
        (e["pid"], e["tid"]) for e in events if e.get("name") == "thread_name" and e["args"]["name"] == "CrRendererMain"
    }
    tasks = [
        e
        for e in events
        if e.get("ph") == "X" and e.get("name") == "ThreadControllerImpl::RunTask" and (e["pid"], e["tid"]) in mains
    ]
    if not tasks:
        return []
    start = min(e["ts"] for e in tasks) + 1_000_000
    return [e.get("tdur", 0) / 1000 for e in tasks if e["ts"] >= start]


def mark(page: Any, name: str) -> dict[str, float]:
    """The probe's painted mark ``name`` (``bench/inbox_browser_page.js``), once there."""
    page.wait_for_function(f"window.__bench && window.__bench.marks[{name!r}]", timeout=60_000)
    return dict(page.evaluate(f"window.__bench.marks[{name!r}]"))


def settle(page: Any) -> None:
    """Let the page's start-up work (module scripts, the stream opening) finish before measuring."""
    page.wait_for_timeout(400)


def live(
    page: Any, base_url: str, static: str, args: argparse.Namespace, baseline: bool, trace: Path | None, browser: Any
) -> Live:
    """The live phase on the open 50,000-message conversation: wahub's page with webhooks posted to the server,
    or (``baseline``) the static snapshot appending a static bubble fetched from the server at the same rate."""
    result = Live(loads=(os.getloadavg()[0], 0.0))
    page.goto(f"{static}conversation.html" if baseline else f"{base_url}/c/1")
    mark(page, "last")
    if not baseline:
        page.wait_for_selector("#live[data-state=live]")
    settle(page)
    started = float(page.evaluate("window.__bench.watchArrivals(); performance.now()"))
    total = int(args.rate * args.seconds)
    sent: dict[int, float] = {}
    errors: list[str] = []
    if trace:
        browser.start_tracing(page=page, path=str(trace), screenshots=False)
    if baseline:
        page.evaluate(
            "([url, every, total, kept]) => { let n = 0; const thread = document.getElementById('thread');"
            " const timer = setInterval(async () => { const i = n++;"
            "  if (i >= total - 1) clearInterval(timer);"
            "  const html = await (await fetch(url, { cache: 'no-store' })).text();"
            "  thread.insertAdjacentHTML('beforeend', html.replace(/<p class=\"text\">[^<]*/,"
            '   `<p class="text">bench live ${i}`));'
            "  const bubbles = thread.querySelectorAll(':scope > .bubble');"  # the newest `kept`, as thread.js
            "  for (let k = 0; k < bubbles.length - kept; k++) bubbles[k].remove(); }, every); }",
            [f"{static}bubble.html", 1000 / args.rate, total, KEPT],
        )
        page.wait_for_timeout(args.seconds * 1000)
    else:
        result.posted_s = post_inbound(base_url, args.rate, args.seconds, sent, errors)
    deadline = time.monotonic() + max(30.0, 2 * args.seconds)  # a page that fell behind may catch up
    while time.monotonic() < deadline and page.evaluate("Object.keys(window.__bench.arrivals).length") < total:
        page.wait_for_timeout(200)
    page.wait_for_timeout(500)  # the last arrival's own work
    if trace:
        browser.stop_tracing()
        result.cpu_tasks = task_cpu(trace)
    if errors:
        raise BenchError(f"{len(errors)} webhooks refused, first: {errors[0]}")
    state = page.evaluate(
        "({ now: performance.now(), arrivals: window.__bench.arrivals,"
        " longtasks: window.__bench.longtasks, frames: window.__bench.frames, streamed: window.__bench.streamed })"
    )
    result.sent = total
    result.arrived = len(state["arrivals"])
    result.window_ms = state["now"] - started
    result.longtasks = [t["duration"] for t in state["longtasks"] if t["start"] >= started]
    result.frames = [f for f in state["frames"] if f["start"] >= started]
    result.latencies = sorted(at - sent[int(n)] for n, at in state["arrivals"].items() if int(n) in sent)
    # The i-th message.created the page's stream delivered, against the i-th POST (ids follow arrival order).
    streamed = sorted(state["streamed"])[-total:]
    if len(streamed) == total and len(sent) == total:
        result.streamed = [at - sent[n] for n, at in enumerate(streamed)]
    result.loads = (result.loads[0], os.getloadavg()[0])
    return result


def renice_browser(niceness: int) -> None:
    """Every thread of the chromium processes this bench started (its descendants) at ``niceness``. Chromium
    sets its zygote and renderers' priority itself, so a niced launcher would not reach the renderer."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            own, rest = stat.read_text().split(" (", 1)
            children.setdefault(int(rest.rsplit(") ", 1)[1].split()[1]), []).append(int(own))
        except (OSError, IndexError, ValueError):
            continue
    todo, mine = [os.getpid()], []
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            mine.append(child)
    for pid in mine:
        try:
            if "chromium" not in Path(f"/proc/{pid}/comm").read_text():
                continue
            for task in Path(f"/proc/{pid}/task").iterdir():
                os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
        except OSError:
            continue
