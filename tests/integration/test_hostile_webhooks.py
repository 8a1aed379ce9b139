"""Hostile and malformed webhook bodies: a clear 4xx or a stored event that the processor rejects or keeps as
unknown; never a 5xx, never a crash, never a failed event.

Hypothesis throws random JSON, random bytes and mutated real payloads at a running wahub (served from a
thread so that the property test itself can stay synchronous).
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import APP_SECRET, PHONE_NUMBER_ID, SECRET_KEY, VERIFY_TOKEN, WABA_ID
from tests.support import DATA, free_port, running
from wahub import config
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.store import accounts, db, migrate
from wahub.store.crypto import Vault
from wahub.store.models import WebhookEvent
from wahub.webhook.signature import meta_signature
from wahub.worker.processor import Processor

CORPUS = [
    body
    for path in sorted((DATA / "meta-webhooks").glob("*.json"))
    for body in json.loads(path.read_text()).values()
    if isinstance(body, dict) and "entry" in body
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    """A real payload with one to three of its values replaced by random JSON, or a key deleted."""
    payload = copy.deepcopy(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 3))):
        choices = list(paths(payload))[1:]
        if not choices:
            break
        path = draw(st.sampled_from(choices))
        parent = payload
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(json_values)
        if not isinstance(payload, dict):
            break
    return json.dumps(payload).encode()


bodies = st.one_of(
    mutated_payloads(),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
)


class ThreadedWahub:
    """wahub's HTTP app on a loopback port, run by a thread with its own event loop."""

    def __init__(self, tmp: Path) -> None:
        self.database_url = f"sqlite:///{tmp / 'wahub.db'}"
        migrate.upgrade(self.database_url)
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._settings = config.load(data_dir=tmp / "data", database_url=self.database_url)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "wahub did not start"

    async def _main(self) -> None:
        engine = db.create_engine(self.database_url)
        events_engine = db.create_events_engine(self.database_url, engine)
        vault = Vault(SECRET_KEY)
        async with db.transaction(db.sessionmaker(engine)) as session:
            await accounts.upsert_meta(
                session,
                vault,
                name="t",
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=WABA_ID,
                credentials=accounts.Credentials("token", APP_SECRET, VERIFY_TOKEN),
            )
        ctx = AppContext.build(self._settings, engine, events_engine, vault)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running(create_app(ctx), port=free_port()) as url:
            self.url = url
            self._ready.set()
            await self._stop.wait()
        await engine.dispose()
        await events_engine.dispose()

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


@pytest.fixture(scope="module")
def wahub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedWahub]:
    server = ThreadedWahub(tmp_path_factory.mktemp("hostile"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def http(wahub: ThreadedWahub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=wahub.url, timeout=10) as client:
        yield client


def post(http: httpx.Client, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return http.post("/webhooks/meta", content=body, headers=headers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_signed_hostile_bodies_are_acked_and_stored_never_5xx(http: httpx.Client, body: bytes) -> None:
    response = post(http, body, meta_signature(APP_SECRET, body))
    assert response.status_code == 200, response.text


@settings(max_examples=150, deadline=None)
@given(
    body=bodies,
    signature=st.one_of(
        st.none(),
        st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=80),
        st.just("sha256=" + "0" * 64),
    ),
)
def test_unsigned_or_wrongly_signed_bodies_get_401(http: httpx.Client, body: bytes, signature: str | None) -> None:
    response = post(http, body, signature)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_bodies_over_3_mb_get_413(http: httpx.Client) -> None:
    body = b'{"entry": [' + b" " * (3 * 1024 * 1024) + b"]}"
    response = post(http, body, meta_signature(APP_SECRET, body))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_every_hostile_event_is_processed_as_ok_or_rejected_never_failed(
    wahub: ThreadedWahub, http: httpx.Client
) -> None:
    # Runs after the property tests of this module (pytest keeps file order): process what they stored.
    async def process() -> list[str | None]:
        engine = db.create_engine(wahub.database_url)
        events_engine = db.create_events_engine(wahub.database_url, engine)
        try:
            processor = Processor(db.sessionmaker(engine), db.sessionmaker(events_engine))
            while await processor.run_once():
                pass
            async with db.transaction(db.sessionmaker(events_engine)) as session:
                return list((await session.scalars(sa.select(WebhookEvent.result))).all())
        finally:
            await engine.dispose()
            await events_engine.dispose()

    results = asyncio.run(process())
    assert len(results) >= 400
    bad = [r for r in results if r is None or not (r.startswith("ok") or r.startswith("rejected"))]
    assert not bad, bad[:5]
    assert http.get("/healthz").status_code == 200
