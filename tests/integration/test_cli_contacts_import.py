"""``wahub contacts import file.csv`` on SQLite and PostgreSQL: good rows kept, bad rows reported by line with
their reason, a summary at the end, and a second import of the same file changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from typer.testing import CliRunner, Result

from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, SECRET_KEY, VERIFY_TOKEN, WABA_ID
from wahub import cli
from wahub.domain import ContactRef
from wahub.store import accounts, audiences, contacts, db
from wahub.store.crypto import Vault
from wahub.store.models import Contact, ContactLabel

LONG = "x" * 1025
CSV = f"""number,Name,labels,city,tier
+14155550101,Ada Lovelace,vip;newsletter,London,gold
14155550102,,VIP | madrid,,
,No Number,vip,Paris,
0612345678,National,,,
+1 (415) 555-0103,Cy,,Berlin,
+14155550101,Again,,,
+14155550104,Long label,{"y" * 65},,
+14155550105,"multi
line",vip,Rome,
+14155550106,,,{LONG},
+1415555,Short,,,
"""


def seed(database_url: str) -> None:
    """The account, and +14155550102 known already with the label 'vip'."""

    async def run() -> None:
        engine = db.create_engine(database_url)
        try:
            async with db.transaction(db.sessionmaker(engine)) as session:
                account = await accounts.upsert_meta(
                    session,
                    Vault(SECRET_KEY),
                    name="test",
                    phone_number_id=PHONE_NUMBER_ID,
                    waba_id=WABA_ID,
                    credentials=accounts.Credentials(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN),
                )
                known = await contacts.upsert_contact(session, account.id, ContactRef(wa_id="14155550102"))
                await audiences.add_labels(session, known.id, ["vip"])
        finally:
            await engine.dispose()

    asyncio.run(run())


def snapshot(database_url: str) -> dict[str, Any]:
    """Every contact by number: saved name, attributes, updated_at and labels."""

    async def run() -> dict[str, Any]:
        engine = db.create_engine(database_url)
        try:
            async with db.sessionmaker(engine)() as session:
                rows = (await session.scalars(sa.select(Contact))).all()
                labels = await audiences.labels_of(session, [c.id for c in rows])
                count = await session.scalar(sa.select(sa.func.count()).select_from(ContactLabel))
                found: dict[str, Any] = {
                    c.wa_id or "": (c.saved_name, c.attributes, c.updated_at, labels.get(c.id, [])) for c in rows
                }
                found["label rows"] = count
                return found
        finally:
            await engine.dispose()

    return asyncio.run(run())


def wahub(tmp_path: Path, database_url: str, *args: str) -> Result:
    options = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]
    return CliRunner().invoke(cli.app, [*args, *options], env={"WAHUB_SECRET_KEY": SECRET_KEY})


def test_import_keeps_good_rows_reports_bad_ones_by_line_and_twice_is_once(tmp_path: Path, database_url: str) -> None:
    seed(database_url)
    file = tmp_path / "customers.csv"
    file.write_text(CSV)
    first = wahub(tmp_path, database_url, "contacts", "import", str(file))
    assert first.exit_code == 0, first.output
    assert first.stdout.strip().splitlines()[-1] == "created 3, updated 1, unchanged 0, skipped 6"
    for line, reason in (
        (4, "no number"),
        (5, "'0612345678' is not a number in E.164"),
        (7, "+14155550101 is on line 2 already"),
        (8, "labels: 'yyyyyyyyyyyyyyyyyyyy…' is longer than 64 characters"),
        (11, "attributes.city: longer than 1024 characters"),
        (12, "no number of +1 is that long"),
    ):
        said = [s for s in first.stderr.splitlines() if s.startswith(f"line {line}: skipped: ")]
        assert len(said) == 1 and reason in said[0], (line, first.stderr)
    after = snapshot(database_url)
    ada = after["14155550101"]
    assert (ada[0], ada[1], ada[3]) == ("Ada Lovelace", {"city": "London", "tier": "gold"}, ["newsletter", "vip"])
    assert (after["14155550102"][1], after["14155550102"][3]) == (None, ["madrid", "vip"])
    assert after["14155550103"][:2] == ("Cy", {"city": "Berlin"})
    assert after["14155550105"][0] == "multi line"
    assert set(after) == {"14155550101", "14155550102", "14155550103", "14155550105", "label rows"}

    again = wahub(tmp_path, database_url, "contacts", "import", str(file))
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines()[-1] == "created 0, updated 0, unchanged 4, skipped 6"
    assert snapshot(database_url) == after


def test_a_file_that_is_not_contacts_is_a_usage_error(tmp_path: Path, database_url: str) -> None:
    seed(database_url)
    for content, says in (
        (b"name,city\nAda,London\n", "no number column"),
        (b"number,2nd\n+14155550101,x\n", "column '2nd' cannot name an attribute"),
        (b"number,city\n+14155550101,\xff\n", "not UTF-8"),
        (b"", "the file is empty"),
    ):
        file = tmp_path / "bad.csv"
        file.write_bytes(content)
        result = wahub(tmp_path, database_url, "contacts", "import", str(file))
        assert result.exit_code == 2 and says in result.stderr, (content, result.output)
    missing = wahub(tmp_path, database_url, "contacts", "import", str(tmp_path / "nope.csv"))
    assert missing.exit_code == 2


def test_semicolon_separated_files_take_labels_separated_by_bars(tmp_path: Path, database_url: str) -> None:
    seed(database_url)
    file = tmp_path / "excel.csv"
    file.write_bytes("\ufeffPhone;Name;Labels\n+34 612 34 56 78;José;Clientes|VIP\n".encode())
    result = wahub(tmp_path, database_url, "contacts", "import", str(file))
    assert result.exit_code == 0 and "created 1," in result.stdout, result.output
    assert snapshot(database_url)["34612345678"][0::3] == ("José", ["Clientes", "VIP"])


def test_account_update_sets_and_clears_the_opt_out_keyword(tmp_path: Path, database_url: str) -> None:
    seed(database_url)

    async def keyword() -> str | None:
        engine = db.create_engine(database_url)
        try:
            async with db.sessionmaker(engine)() as session:
                return (await accounts.by_phone_number_id(session, PHONE_NUMBER_ID)).opt_out_keyword  # type: ignore[union-attr]
        finally:
            await engine.dispose()

    assert asyncio.run(keyword()) == "STOP"
    done = wahub(tmp_path, database_url, "account", "update", "--opt-out-keyword", " Baja ")
    assert done.exit_code == 0 and "opt-out keyword Baja" in done.stderr, done.output
    assert asyncio.run(keyword()) == "Baja"
    assert wahub(tmp_path, database_url, "account", "update", "--opt-out-keyword", "").exit_code == 0
    assert asyncio.run(keyword()) is None
    long = wahub(tmp_path, database_url, "account", "update", "--opt-out-keyword", "x" * 33)
    assert long.exit_code == 1 and "at most 32 characters" in long.stderr
