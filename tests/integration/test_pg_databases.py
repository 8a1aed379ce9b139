"""The PostgreSQL databases the integration tests take (``tests/pg_databases.py``) are as fresh for the next test
as a new copy of the template: no row, no sequence value, no open connection and no schema change carries over."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests import pg_databases
from tests.integration.conftest import _pg_admin, _pg_url

pytestmark = pytest.mark.postgres

EVENT = "INSERT INTO webhook_events (provider, body, received_at, attempts) VALUES ('meta', 'x', now(), 0) RETURNING id"


def _exists(name: str) -> bool:
    with _pg_admin() as admin:
        return admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


@pytest.fixture
def pool(pg_template: str) -> Iterator[pg_databases.Pool]:
    pool = pg_databases.Pool(_pg_admin, _pg_url, pg_template)
    yield pool
    pool.close()


def test_a_database_given_back_is_taken_again_with_no_row_and_its_sequences_and_seeded_rows_as_new(
    pool: pg_databases.Pool, pg_template: str
) -> None:
    with psycopg.connect(_pg_url(pg_template)) as template:
        seeded = template.execute("SELECT id, last FROM stream_counter").fetchall()
    assert seeded, "the migrations seed stream_counter: this test needs a seeded row"
    name = pool.take()
    with psycopg.connect(_pg_url(name), autocommit=True) as conn:
        assert [conn.execute(EVENT).fetchone() for _ in range(3)] == [(1,), (2,), (3,)]
        conn.execute("UPDATE stream_counter SET last = last + 99")
        conn.execute("INSERT INTO api_keys (name, prefix, key_hash, created_at) VALUES ('k', 'p', 'h', now())")
    pool.give_back(name)

    assert pool.take() == name  # the same database, not a new copy
    with psycopg.connect(_pg_url(name), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM webhook_events").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)
        assert conn.execute("SELECT id, last FROM stream_counter").fetchall() == seeded
        assert conn.execute(EVENT).fetchone() == (1,)


def test_a_connection_left_open_is_closed_when_the_database_is_given_back(pool: pg_databases.Pool) -> None:
    name = pool.take()
    left = psycopg.connect(_pg_url(name), autocommit=True)
    try:
        pool.give_back(name)
        with pytest.raises(psycopg.OperationalError):
            left.execute("SELECT 1")
    finally:
        left.close()


def test_a_database_whose_schema_a_test_changed_is_dropped_not_reused(pool: pg_databases.Pool) -> None:
    name = pool.take()
    with psycopg.connect(_pg_url(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE sales (region TEXT)")
    pool.give_back(name)
    assert not _exists(name)
    assert pool.take() != name
