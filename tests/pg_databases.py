"""Fresh migrated PostgreSQL databases for the integration tests, without a CREATE DATABASE per test.

``CREATE DATABASE … TEMPLATE`` took 0.6 s here (PostgreSQL 15 copies and syncs every file of the template), which
over ~640 PostgreSQL tests was about three minutes of the parallel run. A database a test has finished with is
made fresh again instead, in about 1/20 of that, and given to the next test of the same pytest process:

- every connection still open to it is closed (as ``DROP DATABASE … WITH (FORCE)`` did);
- its schema must be the template's, checked by a fingerprint of its relations, columns, functions and
  triggers (a test that created a table of its own, or ran a migration, leaves a database that is dropped);
- every table is emptied, with foreign keys not checked (``session_replication_role = replica``), the rows the
  migrations seed are copied back from the template, and every sequence is set back to the template's value.

What is not reset this way (a role, a setting of the database) is not touched by any test that uses this.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count

import psycopg
from psycopg import sql

FINGERPRINT = """
SELECT md5(coalesce((
    SELECT string_agg(c.relname || ':' || c.relkind::text || ':' || coalesce((
        SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text,
                          ',' ORDER BY a.attnum)
        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), ''), ';'
        ORDER BY c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'), '')
    || (SELECT count(*) FROM pg_namespace)::text
    || (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema')::text
    || (SELECT count(*) FROM pg_trigger)::text
    || (SELECT coalesce(string_agg(version_num, ','), '') FROM alembic_version))
"""


@dataclass
class Snapshot:
    """What makes a used database a fresh copy of the template again: the template's schema fingerprint, the
    statements that empty its tables and set its sequences back, and the rows the migrations seed."""

    fingerprint: str
    seeded: dict[str, bytes]  # table -> its rows in COPY's text format
    emptying: str  # the statements that empty the tables and set the sequences back

    @classmethod
    def of(cls, url: str) -> Snapshot:
        with psycopg.connect(url, autocommit=True) as conn:
            fingerprint = str(_one(conn, FINGERPRINT))
            tables = [
                str(name)
                for (name,) in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' "
                    "ORDER BY tablename"
                )
            ]
            seeded = {}
            for table in tables:
                if _one(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))):
                    with conn.cursor().copy(sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(table))) as copy:
                        seeded[table] = b"".join(bytes(block) for block in copy)
            sequences = {
                str(name): (int(last if last is not None else start), last is not None)
                for name, start, last in conn.execute(
                    "SELECT sequencename, start_value, last_value FROM pg_sequences WHERE schemaname = 'public'"
                )
            }
            # Every table emptied (foreign keys unchecked), every sequence back where the template has it: by
            # setval, not ALTER SEQUENCE … RESTART, which gives each sequence a new file (2 ms each here).
            steps = [sql.SQL("SET LOCAL session_replication_role = replica")]
            steps += [sql.SQL("DELETE FROM {}").format(sql.Identifier(table)) for table in tables]
            steps += [
                sql.SQL("SELECT setval({}, {}, {})").format(
                    sql.Literal(sql.Identifier(name).as_string(conn)), sql.Literal(value), sql.Literal(called)
                )
                for name, (value, called) in sequences.items()
            ]
            emptying = sql.SQL("; ").join(steps).as_string(conn)
        return cls(fingerprint, seeded, emptying)


@dataclass
class Pool:
    """Databases made from ``template`` for one pytest process: ``take`` one, ``give_back`` it when done."""

    admin: Callable[[], psycopg.Connection]
    url_of: Callable[[str], str]
    template: str
    free: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)
    _snapshot: Snapshot | None = None

    def take(self) -> str:
        """The name of a database with the template's schema and data."""
        if self.free:
            return self.free.pop()
        name = f"wahub_t_{os.getpid()}_{next(_NAMES)}"  # one series per process: its pools never share a name
        with self.admin() as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(self.template))
            )
        self.made.append(name)
        return name

    def give_back(self, name: str) -> None:
        """Made fresh for the next test, or dropped when it can no longer be (its schema was changed)."""
        with self.admin() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        if self._reset(name):
            self.free.append(name)
            return
        self.made.remove(name)
        with self.admin() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def close(self) -> None:
        with self.admin() as admin:
            for name in self.made:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.made.clear()
        self.free.clear()

    def _reset(self, name: str) -> bool:
        if self._snapshot is None:
            self._snapshot = Snapshot.of(self.url_of(self.template))
        snap = self._snapshot
        try:
            with psycopg.connect(self.url_of(name), autocommit=True) as conn:
                if str(_one(conn, FINGERPRINT)) != snap.fingerprint:
                    return False
                with conn.transaction():
                    conn.execute(snap.emptying)  # one round trip
                    for table, rows in snap.seeded.items():
                        with conn.cursor().copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))) as copy:
                            copy.write(rows)
        except psycopg.Error:
            return False
        return True


_NAMES = count()


def _one(conn: psycopg.Connection, query: str | sql.Composed) -> object:
    row = conn.execute(query).fetchone()
    return row[0] if row else None
