"""schemathesis over every operation of ``/openapi.json``: no 5xx, and every answer is one the schema documents
(its status code, content type and body). The app is the real one (create_app, a real database, an API key),
served on a loopback port from a thread of its own, since schemathesis calls it synchronously."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as openapi_checks

from tests.integration.conftest import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    SECRET_KEY,
    VERIFY_TOKEN,
    WABA_ID,
    _pg_admin,
    _pg_url,
)
from tests.support import running
from wahub import config
from wahub.api.app import create_app
from wahub.api.context import AppContext
from wahub.domain import ContactRef
from wahub.store import accounts, apikeys, contacts, conversations, db
from wahub.store.crypto import Vault
from wahub.store.models import utcnow

# Examples per operation in the fuzzing phase, what the whole run can afford in well under 2 minutes on 2 cores.
# On SQLite the coverage phase adds its boundary cases (every field's limits, every send type: ~950 for
# POST /api/v1/messages); PostgreSQL gets random cases only, for what only PostgreSQL refuses (NUL characters).
SQLITE_EXAMPLES = 40
POSTGRES_EXAMPLES = 30
SERVE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Served:
    url: str
    api_key: str
    calls: Counter[str] = field(default_factory=Counter)  # requests sent, by operation


async def _seed(ctx: AppContext) -> str:
    """An account, a contact whose window is open (so sends are taken) and an API key."""
    async with db.transaction(ctx.sessions) as session:
        account = await accounts.upsert_meta(
            session,
            ctx.vault,
            name="fuzz",
            phone_number_id=PHONE_NUMBER_ID,
            waba_id=WABA_ID,
            credentials=accounts.Credentials(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN),
        )
        contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id="14155550101"))
        conversation = await conversations.get_or_create(session, account.id, contact.id)
        await conversations.record_inbound(session, conversation, utcnow())
        _row, key = await apikeys.create(session, "fuzz")
    return key


@contextlib.contextmanager
def served_in_thread(database_url: str, data_dir: Path) -> Iterator[Served]:
    """The wahub app on a loopback port, run by an event loop in a thread of its own until the block ends."""
    ready = threading.Event()
    found: dict[str, Any] = {}

    async def main() -> None:
        settings = config.load(data_dir=data_dir, database_url=database_url, api_rate_limit=0)
        engine = db.create_engine(database_url)
        events = db.create_events_engine(database_url, engine)
        stop = asyncio.Event()
        found["stop"] = (asyncio.get_running_loop(), stop)
        try:
            ctx = AppContext.build(settings, engine, events, Vault(SECRET_KEY))
            key = await _seed(ctx)
            async with running(create_app(ctx)) as url:
                found["served"] = Served(url, key)
                ready.set()
                await stop.wait()
        finally:
            if events is not engine:
                await events.dispose()
            await engine.dispose()

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            found["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="wahub-under-fuzz", daemon=True)
    thread.start()
    ready.wait(SERVE_TIMEOUT)
    if "served" not in found:
        raise RuntimeError(f"the app did not start: {found.get('error')!r}")
    try:
        yield found["served"]
    finally:
        loop, stop = found["stop"]
        loop.call_soon_threadsafe(stop.set)
        thread.join(SERVE_TIMEOUT)


def _openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, read at collection time from an app that is never served (its engine never
    connects, nothing is written); ``_reported`` checks that the served ``/openapi.json`` is the same."""
    settings = config.load(database_url="sqlite:///unused.db", storage_url="memory://")
    engine = db.create_engine(settings.database_url)
    document: dict[str, Any] = create_app(AppContext.build(settings, engine, engine, Vault(SECRET_KEY))).api.openapi()
    return document


OPENAPI = _openapi_document()


@contextlib.contextmanager
def _reported(database_url: str, data_dir: Path) -> Iterator[Served]:
    """``served_in_thread``, checked to serve the document fuzzed; says how many requests each operation got."""
    with served_in_thread(database_url, data_dir) as app:
        assert httpx.get(f"{app.url}/openapi.json").json() == OPENAPI
        started = time.monotonic()
        yield app
    counts = app.calls.values()
    print(
        f"\nschemathesis on {database_url.split(':')[0]}: {sum(counts)} requests over {len(counts)} operations in "
        f"{time.monotonic() - started:.0f} s; fewest {min(counts, default=0)}, most {max(counts, default=0)}"
    )
    for label, count in sorted(app.calls.items()):
        print(f"  {count:5} {label}")


# One param each: with a parametrization, pytest's test ids name the operation (e.g. "[GET /api/v1/contacts][sqlite]").
@pytest.fixture(scope="module", params=["sqlite"])
def on_sqlite(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app on a fresh SQLite database, for the module's whole run (one server answers every operation)."""
    path = tmp_path_factory.mktemp("fuzz") / "wahub.db"
    shutil.copy(sqlite_template, path)
    shutil.copy(sqlite_template.with_name("wahub-events.db"), path.with_name("wahub-events.db"))
    with _reported(f"sqlite:///{path}", path.parent / "data") as app:
        yield app


@pytest.fixture(scope="module", params=["postgres"])
def on_postgres(pg_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app on a fresh PostgreSQL database, for the module's whole run."""
    name = f"wahub_fuzz_{os.getpid()}"
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        with _reported(_pg_url(name), tmp_path_factory.mktemp("fuzz-data")) as app:
            yield app
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


schema = schemathesis.openapi.from_dict(OPENAPI)
without_boundaries = schemathesis.openapi.from_dict(
    OPENAPI, config=schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
BOUNDED = settings(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _call_and_check(case: schemathesis.Case, served: Served) -> None:
    if case.path == "/api/v1/media/from-url" and isinstance(case.body, dict) and isinstance(case.body.get("url"), str):
        # Never fetch from outside: a loopback address is refused before any connection (private addresses).
        case.body["url"] = "http://127.0.0.1:9/" + case.body["url"][:100]
    served.calls[case.operation.label] += 1
    response = case.call(base_url=served.url, headers={"Authorization": f"Bearer {served.api_key}"})
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@settings(BOUNDED, max_examples=SQLITE_EXAMPLES)
def test_every_operation_answers_as_documented_on_sqlite(case: schemathesis.Case, on_sqlite: Served) -> None:
    _call_and_check(case, on_sqlite)


@pytest.mark.postgres
@without_boundaries.parametrize()
@settings(BOUNDED, max_examples=POSTGRES_EXAMPLES)
def test_every_operation_answers_as_documented_on_postgres(case: schemathesis.Case, on_postgres: Served) -> None:
    _call_and_check(case, on_postgres)
