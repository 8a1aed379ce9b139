"""``wahub contacts erase`` on SQLite and PostgreSQL: without --yes it says what would go and erases nothing
(exit 2); an erasure whose journal part committed and whose main part did not is finished by running it again;
a third run says it was erased already."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner, Result

from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, SECRET_KEY, VERIFY_TOKEN, WABA_ID
from tests.support import payload
from wahub import cli
from wahub.domain import ContactRef
from wahub.store import accounts, audiences, contacts, conversations, db, erasure
from wahub.store.crypto import Vault
from wahub.store.models import AuditRecord, Contact, Message, WebhookEvent, utcnow

NUMBER = "972987654321"  # the sender of the conformance text message


def wahub(tmp_path: Path, database_url: str, *args: str) -> Result:
    options = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]
    return CliRunner().invoke(cli.app, [*args, *options], env={"WAHUB_SECRET_KEY": SECRET_KEY})


async def seed(database_url: str) -> int:
    """A contact with a label, one inbound message, and its raw event in the journal; returns its id."""
    engine = db.create_engine(database_url)
    events = db.create_events_engine(database_url, engine)
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
            contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=NUMBER, name="Test Name"))
            conversation = await conversations.get_or_create(session, account.id, contact.id)
            session.add(
                Message(
                    account_id=account.id,
                    conversation_id=conversation.id,
                    contact_id=contact.id,
                    direction="inbound",
                    type="text",
                    status="received",
                    wamid="wamid.xyzxyz",
                    content={"text": {"body": "Body Text"}},
                    search_text="Body Text",
                    created_at=utcnow(),
                )
            )
            await audiences.add_labels(session, contact.id, ["vip"])
            contact_id = contact.id
        async with db.transaction(db.sessionmaker(events)) as ev:
            ev.add(WebhookEvent(provider="meta", body=json.dumps(payload("message", "text")).encode()))
        return contact_id
    finally:
        if events is not engine:
            await events.dispose()
        await engine.dispose()


async def journal_part_only(database_url: str, contact_id: int) -> None:
    """The first part of an erasure (the journal's transaction) as if the main transaction then failed."""
    engine = db.create_engine(database_url)
    events = db.create_events_engine(database_url, engine)
    try:
        async with db.sessionmaker(engine)() as session:
            person = await erasure.person(session, contact_id)
        async with db.transaction(db.sessionmaker(events)) as ev:
            await erasure.scrub_journal(ev, person, erasure.Erased())
    finally:
        if events is not engine:
            await events.dispose()
        await engine.dispose()


async def left(database_url: str) -> tuple[int, int, int, int]:
    """Contacts, messages, journal events and audit records."""
    engine = db.create_engine(database_url)
    events = db.create_events_engine(database_url, engine)
    count = sa.func.count()
    try:
        async with db.sessionmaker(engine)() as session, db.sessionmaker(events)() as ev:
            return (
                int(await session.scalar(sa.select(count).select_from(Contact)) or 0),
                int(await session.scalar(sa.select(count).select_from(Message)) or 0),
                int(await ev.scalar(sa.select(count).select_from(WebhookEvent)) or 0),
                int(await session.scalar(sa.select(count).select_from(AuditRecord)) or 0),
            )
    finally:
        if events is not engine:
            await events.dispose()
        await engine.dispose()


def test_erase_asks_for_yes_finishes_a_half_done_erasure_and_says_when_it_is_done(
    tmp_path: Path, database_url: str
) -> None:
    contact_id = asyncio.run(seed(database_url))
    asked = wahub(tmp_path, database_url, "contacts", "erase", str(contact_id))
    assert asked.exit_code == 2, asked.output
    assert f"contact {contact_id}: messages 1, conversations 1, labels 1" in asked.stderr
    assert "add --yes" in asked.stderr
    assert asyncio.run(left(database_url)) == (1, 1, 1, 0)

    asyncio.run(journal_part_only(database_url, contact_id))
    assert asyncio.run(left(database_url)) == (1, 1, 0, 0)  # the journal is done, the rest is not

    done = wahub(tmp_path, database_url, "contacts", "erase", str(contact_id), "--yes", "--vacuum")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == f"erased contact {contact_id}: messages 1, conversations 1, labels 1"
    assert asyncio.run(left(database_url)) == (0, 0, 0, 1)

    again = wahub(tmp_path, database_url, "contacts", "erase", str(contact_id), "--yes")
    assert again.exit_code == 0 and "was erased already" in again.stdout, again.output
    unknown = wahub(tmp_path, database_url, "contacts", "erase", "999")
    assert unknown.exit_code == 1 and "contact 999 does not exist" in unknown.stderr
