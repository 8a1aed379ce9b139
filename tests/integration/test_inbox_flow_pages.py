"""The inbox's flow over HTTP, without a browser (``tests/browser/test_flow.py`` drives one): a conversation
opened at a message with pages both ways, the list narrowed by account, ERP record and search, ``/e/{type}/{id}``,
and bad input on these pages answered "not found", never a 500."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.integration.conftest import ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN
from tests.integration.test_inbox_pages import Login, browser, login  # noqa: F401 (fixtures)
from wahub.domain import ContactRef
from wahub.store import accounts, contacts, conversations, db, entities, users
from wahub.store.crypto import Vault
from wahub.store.models import Account, Message, utcnow
from wahub.store.search_text import indexed_text
from wahub.web import reading

HX = {"HX-Request": "true"}
TEXT = re.compile(r'<p class="text">message number (\d+)<')


async def conversation_with(
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    wa_id: str,
    texts: tuple[str, ...],
    *,
    name: str | None = None,
) -> tuple[int, list[int]]:
    """A conversation with ``wa_id`` holding these inbound texts (indexed for search); its id and the messages'."""
    async with db.transaction(sessions) as session:
        contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=wa_id, name=name))
        conversation = await conversations.get_or_create(session, account.id, contact.id)
        now = utcnow()
        made = []
        for n, text in enumerate(texts):
            at = now - timedelta(seconds=len(texts) - n)
            content = {"text": {"body": text}}
            message = Message(
                account_id=account.id,
                conversation_id=conversation.id,
                contact_id=contact.id,
                direction="inbound",
                type="text",
                status="received",
                wamid=f"wamid.{wa_id}.{n}",
                content=content,
                search_text=indexed_text("text", content),
                created_at=at,
                provider_timestamp=at,
            )
            session.add(message)
            made.append(message)
            await conversations.record_inbound(session, conversation, at)
        await session.flush()
        return int(conversation.id), [int(m.id) for m in made]


async def second_account(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> Account:
    async with db.transaction(sessions) as session:
        return await accounts.upsert_meta(
            session,
            vault,
            name="second shop",
            phone_number_id="999000111",
            waba_id="999000222",
            credentials=accounts.Credentials(ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN),
        )


async def test_a_conversation_opens_at_a_message_and_loads_pages_both_ways(
    login: Login,  # noqa: F811
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    admin = await login("root@example.com", "admin")
    count = 2 * reading.MESSAGE_PAGE + 20
    conversation, ids = await conversation_with(
        sessions, account, "14155550120", tuple(f"message number {n}" for n in range(count))
    )
    at = 60
    page = await admin.get(f"/c/{conversation}", params={"at": ids[at]})
    assert page.status_code == 200
    half = reading.MESSAGE_PAGE // 2
    assert [int(n) for n in TEXT.findall(page.text)] == list(range(at - half + 1, at + half + 1))
    target = re.findall(r'<div class="bubble [^"]*\btarget\b[^"]*" id="m-(\d+)"', page.text)
    assert target == [str(ids[at])]
    older = re.search(r'hx-get="/c/\d+/messages\?before=(\d+)"', page.text)
    newer = re.search(r'hx-get="/c/\d+/messages\?after=(\d+)"', page.text)
    assert older and newer, page.text
    assert int(older.group(1)) == ids[at - half + 1] and int(newer.group(1)) == ids[at + half]

    later = await admin.get(f"/c/{conversation}/messages", params={"after": newer.group(1)}, headers=HX)
    assert [int(n) for n in TEXT.findall(later.text)] == list(range(at + half + 1, count))
    assert "messages?after=" not in later.text  # the newest message: nothing newer to load
    earlier = await admin.get(f"/c/{conversation}/messages", params={"before": older.group(1)}, headers=HX)
    assert [int(n) for n in TEXT.findall(earlier.text)] == list(range(at - half + 1))  # fewer than a page left

    # Without ``at`` it opens on the newest page, which has nothing newer to load and marks nothing.
    newest = (await admin.get(f"/c/{conversation}")).text
    assert "messages?after=" not in newest and " target" not in newest


async def test_bad_input_on_the_flow_pages_is_not_found(
    login: Login,  # noqa: F811
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    admin = await login("root@example.com", "admin")
    one, one_ids = await conversation_with(sessions, account, "14155550121", ("first",))
    other, other_ids = await conversation_with(sessions, account, "14155550122", ("second",))

    unknown = await admin.get("/c/987654321")
    assert unknown.status_code == 404 and "Conversation not found" in unknown.text
    assert (await admin.get("/c/987654321", params={"at": one_ids[0]})).status_code == 404
    elsewhere = await admin.get(f"/c/{one}", params={"at": other_ids[0]})  # a message of another conversation
    assert elsewhere.status_code == 404 and "Message not found" in elsewhere.text
    assert "second" not in elsewhere.text.split('id="pane"')[1]
    for at in ("abc", "0", "-1", "99999999999999999999", "987654321"):
        answer = await admin.get(f"/c/{one}", params={"at": at})
        assert answer.status_code == 404 and "Message not found" in answer.text, at
    assert (await admin.get(f"/c/{one}?at={other_ids[0]}", headers=HX)).status_code == 404
    assert (await admin.get(f"/c/{one}/messages", headers=HX)).status_code == 404  # neither before nor after
    assert (await admin.get(f"/c/{other}/messages", params={"after": "x"}, headers=HX)).status_code == 422

    for path in ("/e/in voice/1", "/e/invoice/", "/e/" + "t" * 65 + "/1", "/e/invoice/%01", "/e/%3Cb%3E/1"):
        answer = await admin.get(path)
        assert answer.status_code == 404, path
        assert "Record not found" in answer.text and "<b>" not in answer.text, path
    # Query strings that name nothing widen the list; they are no error.
    for params in ({"account": "x"}, {"account": "99999999999999"}, {"entity_type": "a b", "entity_id": "1"}):
        assert (await admin.get("/", params=params)).status_code == 200, params
    assert (await admin.get("/", params={"q": "x" * 5000})).status_code == 200


async def test_the_list_narrows_by_account_record_and_search(
    login: Login,  # noqa: F811
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    vault: Vault,
) -> None:
    admin = await login("root@example.com", "admin")
    shop = await second_account(sessions, vault)
    ana, _ = await conversation_with(sessions, account, "14155550131", ("the parcel left",), name="Ana Flow")
    ben, _ = await conversation_with(sessions, account, "14155550132", ("hello",), name="Ben Flow")
    cy, cy_ids = await conversation_with(
        sessions, shop, "14155550133", ("an old word: zeppelin", "newer"), name="Cy Flow"
    )

    def listed(page: str) -> set[int]:
        return {int(n) for n in re.findall(r'<li class="row[^"]*" id="conv-(\d+)"', page)}

    everything = (await admin.get("/")).text
    assert {ana, ben, cy} <= listed(everything)
    assert "second shop" in everything  # two accounts: the account filter shows
    by_shop = await admin.get("/", params={"account": shop.id})
    assert listed(by_shop.text) == {cy}
    assert f'href="/c/{cy}?filter=all&amp;account={shop.id}"' in by_shop.text  # the view goes with every link
    assert (await admin.get(f"/list/{ana}", params={"account": shop.id}, headers=HX)).status_code == 204
    assert (await admin.get(f"/list/{cy}", params={"account": shop.id}, headers=HX)).status_code == 200

    # One conversation linked to a record: its page opens it. Two (one resolved): both listed, none open.
    async with db.transaction(sessions) as session:
        await entities.link(session, ("invoice", "INV/7"), conversation_id=ana)
    one = await admin.get("/e/invoice/INV%2F7")
    assert one.status_code == 200
    assert listed(one.text) == {ana} and f'id="conversation" data-id="{ana}"' in one.text
    assert "Linked to invoice INV/7" in one.text
    async with db.transaction(sessions) as session:
        await entities.link(session, ("invoice", "INV/7"), conversation_id=ben)
        await conversations.resolve(session, ben)
    two = (await admin.get("/e/invoice/INV%2F7")).text
    assert listed(two) == {ana, ben} and 'id="conversation"' not in two
    assert listed((await admin.get("/e/invoice/INV%2F7", params={"filter": "resolved"})).text) == {ben}
    assert listed((await admin.get("/e/invoice/none")).text) == set()
    assert (
        await admin.get(f"/list/{cy}", params={"entity_type": "invoice", "entity_id": "INV/7"}, headers=HX)
    ).status_code == 204

    # A search finds conversations by name, number or message, and lists the messages, each opening at itself.
    found = (await admin.get("/", params={"q": "zeppelin"})).text
    assert listed(found) == {cy}
    assert f'href="/c/{cy}?at={cy_ids[0]}&amp;filter=all&amp;q=zeppelin"' in found
    assert "<mark>zeppelin</mark>" in found
    assert listed((await admin.get("/", params={"q": "Ben Fl"})).text) == set()  # resolved: not among All (open)
    assert listed((await admin.get("/", params={"q": "Ben Fl", "filter": "resolved"})).text) == {ben}
    assert listed((await admin.get("/", params={"q": "14155550131"})).text) == {ana}
    nothing = (await admin.get("/", params={"q": "zeppelin", "account": account.id})).text
    assert listed(nothing) == set() and "No messages match." in nothing


async def test_an_agent_searches_only_what_they_may_see(
    login: Login,  # noqa: F811
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
) -> None:
    agent = await login("ada@example.com", "agent")
    hidden, _ = await conversation_with(sessions, account, "14155550141", ("a secret zeppelin",), name="Hidden")
    async with db.transaction(sessions) as session:
        bo = await users.add(session, "bo@example.com", "Bo", "agent", "a long enough password")
        await conversations.assign(session, hidden, bo.id)
    page = (await agent.get("/", params={"q": "zeppelin"})).text
    assert "secret" not in page and "Hidden" not in page and "No messages match." in page
