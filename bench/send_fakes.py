"""The fakes ``bench/send.py`` measures against, each in its own process: fakegraph (Meta's Cloud API) or
faketwilio (Twilio's Messaging API), with a latency on every call and the log of when each send arrived; and
the bare aiohttp loop that posts the same sends as the baseline."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from serving import BenchError, free_port  # bench/serving.py

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
PHONE_NUMBER_ID = "100000000000001"  # fakegraph's default
TEMPLATE = {"name": "hello_world", "language": {"code": "en_US"}}
TWILIO_SID = "AC" + "0" * 31 + "1"  # faketwilio's default
TWILIO_TOKEN = "bench-auth-token"  # the bench's own fake
TWILIO_SENDER = "whatsapp:+14155238886"
CONTENT_SID = "HX" + "1" * 32  # faketwilio's approved hello_world


def phone_number_ids(numbers: int) -> list[str]:
    """The phone number ids of a run with ``numbers`` numbers: fakegraph's default first."""
    return [str(int(PHONE_NUMBER_ID) + i) for i in range(numbers)]


def recipients(n: int) -> list[str]:
    """N distinct numbers, so a pair limit (one recipient) never comes into play."""
    return [f"1555{i:07d}" for i in range(n)]


def call(port: int, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    payload = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status >= 400:
        raise BenchError(f"{method} {path} answered {response.status}: {data[:300]!r}")
    return json.loads(data) if data else None


class Fake:
    """``python -m fakegraph`` or ``python -m faketwilio`` (``provider``: meta or twilio) on a free port."""

    def __init__(self, provider: str, workdir: Path, latency_ms: float, numbers: int = 1, nice: int = 0) -> None:
        """``numbers``: fakegraph takes sends for that many phone numbers (``phone_number_ids``); ``nice``: the
        fake's niceness (negative, as root: Meta does not share our CPU, so arrival stamps measure the sender
        rather than a fake waiting for a core)."""
        self.provider = provider
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logfile = workdir / f"fake-{provider}.log"
        common = ["--port", str(self.port), "--no-reply", "--seed", "1", "--speed", "1000"]
        if provider == "twilio":
            cmd = ["-m", "faketwilio", *common, "--no-callbacks", "--auth-token", TWILIO_TOKEN]
        else:
            cmd = ["-m", "fakegraph", *common]
            for extra in phone_number_ids(numbers)[1:]:
                cmd += ["--more-phone-number-id", extra]
        with open(self.logfile, "wb") as out:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / "python"), *cmd],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.nice(nice)) if nice else None,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                call(self.port, "GET", "/_fake/config", timeout=2)
                break
            except (OSError, BenchError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"the fake did not start:\n{self.logfile.read_text()[-2000:]}") from None
                time.sleep(0.1)
        call(self.port, "POST", "/_fake/faults", {"latency_ms": latency_ms})

    def arrivals(self) -> list[float]:
        return sorted(call(self.port, "GET", "/_fake/arrivals")["data"])

    def arrivals_of(self, phone_number_id: str) -> list[float]:
        """One number's arrivals (fakegraph only)."""
        return sorted(call(self.port, "GET", f"/_fake/arrivals?phone_number_id={phone_number_id}")["data"])

    def clear(self) -> None:
        call(self.port, "DELETE", "/_fake/arrivals")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def bare_loop(provider: str, url: str, n: int, in_flight: int, numbers: int = 1, pace: float = 0.0) -> int:
    """Post N sends (Meta's JSON body, or Twilio's form with basic auth) with ``in_flight`` requests at a time,
    Meta's in turn from ``numbers`` phone numbers; returns how many failed. ``pace`` > 0: evenly spaced at that
    many per second (as a rate-limited sender leaves them), else no limit."""
    import aiohttp

    todo = iter(enumerate(recipients(n)))
    failed = 0
    if provider == "twilio":
        target = f"{url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        auth = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        headers = {"Authorization": f"Basic {auth}"}
    else:
        targets = [f"{url}/v25.0/{number}/messages" for number in phone_number_ids(numbers)]
        headers = {"Authorization": "Bearer x"}
    loop = asyncio.get_running_loop()
    slot = loop.time()
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one_worker() -> None:
            nonlocal failed, slot
            for i, to in todo:
                if pace:
                    now = loop.time()
                    slot = max(slot + 1 / pace, now)
                    if slot > now:
                        await asyncio.sleep(slot - now)
                if provider == "twilio":
                    form = {"To": f"whatsapp:+{to}", "From": TWILIO_SENDER, "ContentSid": CONTENT_SID}
                    request = session.post(target, data=form, headers=headers)
                else:
                    body = {"messaging_product": "whatsapp", "to": to, "type": "template", "template": TEMPLATE}
                    request = session.post(targets[i % numbers], json=body, headers=headers)
                async with request as response:
                    await response.read()
                    failed += response.status >= 400

        await asyncio.gather(*(one_worker() for _ in range(in_flight)))
    return failed
