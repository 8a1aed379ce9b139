"""``wahub serve`` as a user runs it: a subprocess on a free port, nothing configured (the sandbox)."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port

START_TIMEOUT = 60.0  # a wait, not a timing goal: a start on a loaded machine took over 30 s


class Wahub:
    """A running ``wahub serve`` process and what it printed."""

    def __init__(
        self, cwd: Path, port: int, settings: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
        env.update(settings or {})
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wahub", "serve", "--port", str(port), *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            umask=0o022,  # a usual login shell's: what wahub creates must not depend on it
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"wahub never printed {pattern!r}; output:\n{''.join(self.output)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def wahub(workdir: Path) -> Iterator[Wahub]:
    process = Wahub(workdir, free_port())
    yield process
    process.stop()


def started(process: Wahub) -> str:
    """Wait for the banner; returns the sandbox API key it printed."""
    key = process.wait_for(r"sandbox API key: (\S+)").group(1)
    process.wait_for(r"curl -X POST .*/api/v1/messages")
    return key


def wait_for_read(url: str, key: str, message_id: int, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    body: dict[str, object] = {}
    while time.monotonic() < deadline:
        page = httpx.get(f"{url}/api/v1/messages", headers={"Authorization": f"Bearer {key}"}).json()
        body = next((m for m in page["items"] if m["id"] == message_id), {})
        # A status webhook that had to be retried comes after the later ones: wait for every status's time.
        if body.get("status") == "read" and body.get("sent_at") and body.get("delivered_at"):
            return body
        time.sleep(0.25)
    raise AssertionError(f"message {message_id} did not reach read in {timeout}s: {body}")


HELLO = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}


def test_sandbox_sends_a_template_that_reaches_read_and_refuses_text_to_a_closed_window(wahub: Wahub) -> None:
    key = started(wahub)
    auth = {"Authorization": f"Bearer {key}"}
    # Not one of the simulated contacts: it has never written, so its 24-hour window is closed and free text is
    # refused before sending.
    text = {"to": "+14155550188", "type": "text", "text": {"body": "Hello from the acceptance test"}}
    refused = httpx.post(f"{wahub.url}/api/v1/messages", headers=auth, json=text)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "window_closed"
    assert "template" in refused.json()["error"]["message"]
    response = httpx.post(f"{wahub.url}/api/v1/messages", headers=auth, json={"to": "+14155550101", **HELLO})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    read = wait_for_read(wahub.url, key, response.json()["id"])
    assert read["wamid"] and read["sent_at"] and read["delivered_at"] and read["read_at"]
    assert httpx.get(f"{wahub.url}/api/v1/messages").status_code == 401


def test_the_sandbox_s_templates_are_listed_by_the_api_and_synced_at_start(wahub: Wahub) -> None:
    auth = {"Authorization": f"Bearer {started(wahub)}"}

    def listed() -> dict[tuple[str, str], str]:
        page = httpx.get(f"{wahub.url}/api/v1/templates", headers=auth, params={"limit": 50}).json()
        return {(t["name"], t["language"]): t["status"] for t in page["items"]}

    templates = listed()
    assert templates[("hello_world", "en_US")] == "APPROVED" and templates[("feedback_survey", "en_US")] == "PAUSED"
    assert len(templates) == 8
    # The worker's sync at start has read fakegraph's list: a template it does not have is refused before queueing.
    deadline = time.monotonic() + 20
    while True:
        unknown = {"to": "+14155550101", "type": "template", "template": {"name": "nope", "language": {"code": "en"}}}
        answer = httpx.post(f"{wahub.url}/api/v1/messages", headers=auth, json=unknown)
        if answer.status_code == 422 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert answer.status_code == 422 and "no template 'nope' in en" in answer.json()["error"]["message"]


def inbound(url: str, key: str) -> list[dict[str, Any]]:
    page = httpx.get(
        f"{url}/api/v1/messages", params={"direction": "inbound"}, headers={"Authorization": f"Bearer {key}"}
    )
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def test_each_contact_of_a_fresh_sandbox_writes_first_so_free_text_works_at_once(workdir: Path, wahub: Wahub) -> None:
    key = started(wahub)
    banner = "".join(wahub.output)
    numbers = re.findall(r"\+1415555010\d", banner.split("sandbox API key")[0])
    assert numbers == ["+14155550101", "+14155550102", "+14155550103", "+14155550104"], banner
    assert '"type": "text"' in banner
    for number in numbers:
        text = {"to": number, "type": "text", "text": {"body": "Hello!"}}
        sent = httpx.post(f"{wahub.url}/api/v1/messages", headers={"Authorization": f"Bearer {key}"}, json=text)
        assert sent.status_code == 202, sent.text
    greetings = inbound(wahub.url, key)
    assert sorted(m["contact"]["wa_id"] for m in greetings) == [n[1:] for n in numbers]
    assert wahub.stop() == 0

    # A restart within the day: the windows are still open, nobody writes again.
    again = Wahub(workdir, free_port())
    try:
        started(again)  # the banner comes once greetings sent at start are stored: none were
        assert len(inbound(again.url, key)) == len(greetings)
    finally:
        again.stop()


def test_ctrl_c_stops_cleanly_and_a_restart_keeps_the_data(workdir: Path, wahub: Wahub) -> None:
    key = started(wahub)
    auth = {"Authorization": f"Bearer {key}"}
    body = {"to": "+14155550102", **HELLO}
    message_id = httpx.post(f"{wahub.url}/api/v1/messages", headers=auth, json=body).json()["id"]
    wait_for_read(wahub.url, key, message_id)
    assert wahub.stop() == 0
    wahub.wait_for(r"wahub stopped\.")

    again = Wahub(workdir, free_port())
    try:
        assert started(again) == key
        got = httpx.get(f"{again.url}/api/v1/messages/{message_id}", headers=auth)
        assert got.status_code == 200
        assert got.json()["status"] == "read"
    finally:
        again.stop()


def test_a_file_uploaded_before_a_restart_is_sent_after_it(workdir: Path, wahub: Wahub) -> None:
    key = started(wahub)
    auth = {"Authorization": f"Bearer {key}"}
    fake = re.search(r"fake Meta Cloud API at (http://\S+)\)", "".join(wahub.output))
    assert fake, wahub.output
    assert httpx.post(f"{fake.group(1)}/_fake/inbound", json={"from": "14155550102", "text": "hi"}).is_success
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 20
    media_id = httpx.post(
        f"{wahub.url}/api/v1/media", headers=auth, files={"file": ("q3.pdf", pdf, "application/pdf")}
    ).json()["id"]
    document = {"to": "+14155550102", "type": "document", "document": {"wahub_media_id": media_id}}

    def send_until_read(url: str) -> None:
        deadline = time.monotonic() + 20
        while (sent := httpx.post(f"{url}/api/v1/messages", headers=auth, json=document)).status_code == 422:
            assert "window_closed" in sent.text and time.monotonic() < deadline, sent.text  # the "hi" is on its way
            time.sleep(0.2)
        assert sent.status_code == 202, sent.text
        wait_for_read(url, key, sent.json()["id"])

    send_until_read(wahub.url)
    assert wahub.stop() == 0
    # The new run's fakegraph never saw the file: Meta's id that wahub kept is unknown there.
    again = Wahub(workdir, free_port())
    try:
        started(again)
        send_until_read(again.url)
    finally:
        again.stop()


def test_apikey_create_prints_the_key_alone_on_its_last_line(workdir: Path, wahub: Wahub) -> None:
    started(wahub)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")}
    result = subprocess.run(
        [sys.executable, "-m", "wahub", "apikey", "create", "--name", "erp"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"wahub_[0-9a-f]{8}_\S+", key)
    assert httpx.get(f"{wahub.url}/api/v1/messages", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def cli(
    workdir: Path, *args: str, stdin: str | None = None, env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAHUB_")} | (env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "wahub", *args],
        cwd=workdir,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_wahub_send_queues_what_the_running_server_sends(workdir: Path, wahub: Wahub) -> None:
    key = started(wahub)
    result = cli(workdir, "send", "--to", "+14155550103", "--template", "hello_world")
    assert result.returncode == 0, result.stderr
    message_id = int(result.stdout.strip().splitlines()[-1])
    read = wait_for_read(wahub.url, key, message_id)
    assert read["type"] == "template"
    assert read["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def test_wahub_send_explains_refusals_with_exit_codes(workdir: Path) -> None:
    assert cli(workdir, "db", "upgrade").returncode == 0
    closed = cli(workdir, "send", "--to", "+14155550104", "--text", "hello")
    assert closed.returncode == 1
    assert "24-hour" in closed.stderr and "template" in closed.stderr
    invalid = cli(workdir, "send", "--to", "+14155550104", "--json", "-", stdin='{"type": "text", "text": {}}')
    assert invalid.returncode == 2
    assert "text.body" in invalid.stderr
    usage = cli(workdir, "send", "--to", "+14155550104")
    assert usage.returncode == 2
    assert "--text, --template, --json or --file" in usage.stderr


def test_account_test_checks_the_sandbox_account_against_its_own_fakegraph(workdir: Path) -> None:
    # No server runs and no network is needed: the sandbox's account is tested against a fakegraph started for
    # the check, with the token stored for it (not against graph.facebook.com, which it does not exist at).
    assert cli(workdir, "db", "upgrade").returncode == 0
    tested = cli(workdir, "account", "test", env_extra={"WAHUB_GRAPH_URL": "http://192.0.2.1:9"})
    assert tested.returncode == 0, tested.stderr
    info = json.loads(tested.stdout)
    assert info["phone_number_id"] == "100000000000001" and info["display_phone_number"] == "+1 555-000-0001"
    assert "sandbox" in tested.stderr
    assert cli(workdir, "account", "update", "--access-token", "revoked").returncode == 0
    refused = cli(workdir, "account", "test")
    assert refused.returncode == 1 and "refused the access token" in refused.stderr


def test_wahub_account_update_changes_the_send_rate_and_the_token(workdir: Path, wahub: Wahub) -> None:
    key = started(wahub)
    assert cli(workdir, "account", "update").returncode == 2
    updated = cli(workdir, "account", "update", "--send-rate", "500")
    assert updated.returncode == 0, updated.stderr
    assert "send rate 500/s" in updated.stderr
    with sqlite3.connect(workdir / "wahub-data" / "wahub.db") as conn:
        assert conn.execute("SELECT send_rate FROM accounts").fetchall() == [(500,)]
    assert cli(workdir, "account", "update", "--send-rate", "5000").returncode == 2  # Meta's ceiling is 1,000
    # A token fakegraph does not know: the next send is refused with 190, and sending pauses until it is fixed.
    assert cli(workdir, "account", "update", "--access-token", "expired-token").returncode == 0
    sent = httpx.post(
        f"{wahub.url}/api/v1/messages",
        headers={"Authorization": f"Bearer {key}"},
        json={"to": "+14155550101", **HELLO},
    ).json()
    deadline = time.monotonic() + 20
    while "sending_paused" not in httpx.get(f"{wahub.url}/readyz").json() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "190" in str(httpx.get(f"{wahub.url}/readyz").json()["sending_paused"])
    assert (
        httpx.get(f"{wahub.url}/api/v1/messages/{sent['id']}", headers={"Authorization": f"Bearer {key}"}).json()[
            "status"
        ]
        == "queued"
    )


def test_account_list_add_test_remove_and_monitor(workdir: Path, wahub: Wahub) -> None:
    started(wahub)
    found = re.search(r"fake Meta Cloud API at (http://\S+)\)", "".join(wahub.output))
    assert found, wahub.output
    graph = {"WAHUB_GRAPH_URL": found.group(1)}

    listed = cli(workdir, "account", "list")
    assert listed.returncode == 0, listed.stderr
    assert "(sandbox)" in listed.stdout and "active" in listed.stdout
    tested = cli(workdir, "account", "test", env_extra=graph)
    assert tested.returncode == 0, tested.stderr
    assert json.loads(tested.stdout)["display_phone_number"]

    added = cli(workdir, "account", "add", "--phone-number-id", "998877", "--access-token", "t", "--app-secret", "s")
    assert added.returncode == 0, added.stderr
    assert "998877" in cli(workdir, "account", "list").stdout
    again = cli(workdir, "account", "add", "--phone-number-id", "998877", "--access-token", "t", "--app-secret", "s")
    assert again.returncode == 1 and "exists" in again.stderr
    assert (
        cli(
            workdir, "account", "add", "--phone-number-id", "+1 555", "--access-token", "t", "--app-secret", "s"
        ).returncode
        == 2
    )
    assert cli(workdir, "account", "remove", "--phone-number-id", "998877").returncode == 2  # needs --yes
    removed = cli(workdir, "account", "remove", "--phone-number-id", "998877", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert "998877" not in cli(workdir, "account", "list").stdout

    retried = cli(workdir, "media", "retry")
    assert retried.returncode == 0 and "0 media will be fetched again" in retried.stderr
    assert cli(workdir, "media", "retry", "--id", "5").returncode == 1  # no such failed media

    shown = cli(workdir, "monitor")
    assert shown.returncode == 0, shown.stderr
    assert "accounts" in shown.stdout and "outbox:" in shown.stdout and "failures in the last 24 h" in shown.stdout
    assert "statistics, last 1 day:" in shown.stdout
    as_json = cli(workdir, "monitor", "--format", "json", "--days", "7")
    assert as_json.returncode == 0, as_json.stderr
    snapshot = json.loads(as_json.stdout)
    assert snapshot["accounts"][0]["sandbox"] is True and "outbox" in snapshot
    assert "by_direction" in snapshot["stats"] and "delivery_rate" in snapshot["stats"]["outbound"]
    assert cli(workdir, "monitor", "--format", "yaml").returncode == 2

    # A token Meta does not know: the test says so.
    assert cli(workdir, "account", "update", "--access-token", "revoked").returncode == 0
    refused = cli(workdir, "account", "test", env_extra=graph)
    assert refused.returncode == 1 and "refused the access token" in refused.stderr


def test_wahub_send_file_sends_a_document_that_meta_receives_by_media_id(workdir: Path, wahub: Wahub) -> None:
    key = started(wahub)
    found = re.search(r"fake Meta Cloud API at (http://\S+)\)", "".join(wahub.output))
    assert found, wahub.output
    fake = found.group(1)
    # The contact writes first, so the 24-hour window is open for a document.
    assert httpx.post(f"{fake}/_fake/inbound", json={"from": "14155550103", "text": "send me the report"}).is_success
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = httpx.get(f"{wahub.url}/api/v1/messages", headers={"Authorization": f"Bearer {key}"}).json()["items"]
        if any(m["direction"] == "inbound" for m in items):
            break
        time.sleep(0.2)
    report = workdir / "report.pdf"
    report.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)
    sent = cli(workdir, "send", "--to", "+14155550103", "--file", str(report), "--caption", "Q3")
    assert sent.returncode == 0, sent.stderr
    read = wait_for_read(wahub.url, key, int(sent.stdout.strip().splitlines()[-1]))
    assert read["type"] == "document"
    uploads = httpx.get(f"{fake}/_fake/requests", params={"path_contains": "/media"}).json()["data"]
    assert [u["body"]["file"]["filename"] for u in uploads if u["method"] == "POST"] == ["report.pdf"]
    bodies = httpx.get(f"{fake}/_fake/requests", params={"path_contains": "/messages"}).json()["data"]
    document = next(b["body"]["document"] for b in bodies if b["body"].get("type") == "document")
    assert set(document) == {"id", "filename", "caption"} and document["filename"] == "report.pdf"

    weird = workdir / "tool.exe"
    weird.write_bytes(b"MZ")
    refused = cli(workdir, "send", "--to", "+14155550103", "--file", str(weird))
    assert refused.returncode == 2 and "does not take" in refused.stderr


class Receiver(http.server.BaseHTTPRequestHandler):
    """A subscriber of wahub's subscriber webhooks: keeps what it is sent."""

    received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.put((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_subscriber_gets_the_statuses_of_a_sent_message_signed(wahub: Wahub) -> None:
    key = started(wahub)
    auth = {"Authorization": f"Bearer {key}"}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
        created = httpx.post(f"{wahub.url}/api/v1/webhooks", headers=auth, json={"url": url})
        assert created.status_code == 201, created.text
        secret = created.json()["secret"]
        sent = httpx.post(f"{wahub.url}/api/v1/messages", headers=auth, json={"to": "+14155550101", **HELLO}).json()
        statuses: list[str] = []
        deadline = time.monotonic() + 30
        while "read" not in statuses and time.monotonic() < deadline:
            try:
                headers, body = Receiver.received.get(timeout=0.5)
            except queue.Empty:
                continue
            signed = hmac.new(secret.encode(), f"{headers['X-Wahub-Timestamp']}.".encode() + body, hashlib.sha256)
            assert headers["X-Wahub-Signature-256"] == f"sha256={signed.hexdigest()}"
            event = json.loads(body)
            if event["event"] == "message.status" and event["data"]["message_id"] == sent["id"]:
                statuses.append(event["data"]["status"])
        assert statuses[0] == "accepted" and statuses[-1] == "read", statuses
    finally:
        server.shutdown()
