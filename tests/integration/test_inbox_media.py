"""What the inbox's bubbles show besides text, over HTTP (``tests/browser`` drives a browser): files through
signed links, shared contact cards, quoted replies (never from another conversation), sent templates with their
parameters, the template picker and the closed window's note; every value from WhatsApp escaped. On SQLite and
PostgreSQL."""

from __future__ import annotations

import html
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.api.context import AppContext
from wahub.domain import ContactRef
from wahub.storage import uploads
from wahub.store import contacts, conversations, db, media, templates, users
from wahub.store.models import Account, Media, Message, utcnow

PASSWORD = "a long enough password"
HOSTILE = '<img src=x onerror=alert(1)>"'
Login = Callable[[str, str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def login(base_url: str, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Login]:
    """A client logged in through the form as a new user of this role (cookies kept, like a browser)."""
    clients: list[httpx.AsyncClient] = []

    async def log_in(email: str, role: str) -> httpx.AsyncClient:
        async with db.transaction(sessions) as session:
            await users.add(session, email, email.split("@")[0].title(), role, PASSWORD)
        client = httpx.AsyncClient(base_url=base_url)
        clients.append(client)
        form = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        answer = await client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})
        assert answer.status_code == 303, answer.text
        return client

    yield log_in
    for client in clients:
        await client.aclose()


class Chat:
    """A conversation with one contact, whose messages a test writes as the processor or the API would."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], account: Account, conversation_id: int, contact_id: int
    ) -> None:
        self.sessions, self.account, self.id, self.contact_id = sessions, account, conversation_id, contact_id
        self.count = 0

    async def add(self, direction: str, kind: str, content: Any, **columns: Any) -> int:
        self.count += 1
        at = utcnow() - timedelta(minutes=60) + timedelta(seconds=self.count)
        async with db.transaction(self.sessions) as session:
            message = Message(
                account_id=self.account.id,
                conversation_id=self.id,
                contact_id=self.contact_id,
                direction=direction,
                type=kind,
                status="received" if direction == "inbound" else "sent",
                wamid=columns.pop("wamid", f"wamid.{self.id}.{self.count}"),
                content={kind: content},
                created_at=at,
                provider_timestamp=at,
                **columns,
            )
            session.add(message)
            await session.flush()
            return int(message.id)


async def chat_with(
    sessions: async_sessionmaker[AsyncSession], account: Account, wa_id: str, name: str, *, window_open: bool = True
) -> Chat:
    async with db.transaction(sessions) as session:
        contact = await contacts.upsert_contact(session, account.id, ContactRef(wa_id=wa_id, name=name))
        conversation = await conversations.get_or_create(session, account.id, contact.id)
        await conversations.record_inbound(
            session, conversation, utcnow() - (timedelta(0) if window_open else timedelta(hours=30))
        )
        return Chat(sessions, account, int(conversation.id), int(contact.id))


async def stored_file(ctx: AppContext, account: Account, data: bytes, mime: str, name: str) -> int:
    """A file in wahub's storage, as the media fetcher leaves an inbound one (or an upload)."""

    file = io.BytesIO(data)

    async def read(n: int) -> bytes:
        return file.read(n)

    async def rewind() -> int:
        return file.seek(0)

    kept = await uploads.keep(ctx.storage, read, rewind, mime)
    async with db.transaction(ctx.sessions) as session:
        return int((await media.register_upload(session, account, kept, name)).id)


async def test_files_show_through_signed_links_and_every_name_is_escaped(
    login: Login, ctx: AppContext, sessions: async_sessionmaker[AsyncSession], account: Account, base_url: str
) -> None:
    admin = await login("root@example.com", "admin")
    chat = await chat_with(sessions, account, "14155550121", HOSTILE)
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    image_id = await stored_file(ctx, account, picture, "image/png", "x.png")
    await chat.add("inbound", "image", {"id": "m1", "mime_type": "image/png", "caption": HOSTILE}, media_id=image_id)
    doc_id = await stored_file(ctx, account, b"%PDF-1.4 " * 300, "application/pdf", "plan.pdf")
    await chat.add("inbound", "document", {"id": "m2", "filename": f"{HOSTILE}.pdf"}, media_id=doc_id)
    voice_id = await stored_file(ctx, account, b"OggS" + bytes(64), "audio/ogg", "voice.ogg")
    await chat.add("inbound", "audio", {"id": "m3", "voice": True}, media_id=voice_id)
    async with db.transaction(sessions) as session:
        pending = Media(account_id=account.id, provider_media_id="m4", mime_type="video/mp4", state="pending")
        failed = Media(account_id=account.id, provider_media_id="m5", state="failed", error=f"gone {HOSTILE}")
        session.add_all([pending, failed])
        await session.flush()
        pending_id, failed_id = pending.id, failed.id
    await chat.add("inbound", "video", {"id": "m4"}, media_id=pending_id)
    await chat.add("inbound", "sticker", {"id": "m5"}, media_id=failed_id)
    await chat.add("inbound", "image", {"id": "m6"})  # a file wahub never registered

    page = (await admin.get(f"/c/{chat.id}")).text
    assert "<img src=x" not in page and HOSTILE not in page
    links = re.findall(r'(?:src|href)="(/api/v1/media/(\d+)/content\?expires=\d+&amp;sig=[^"]+)"', page)
    assert {int(media_id) for _link, media_id in links} == {image_id, doc_id, voice_id}
    async with httpx.AsyncClient(base_url=base_url) as anyone:  # a signed link needs no session
        for link, media_id in links:
            answer = await anyone.get(html.unescape(link))
            assert answer.status_code == 200, link
            if int(media_id) == image_id:
                assert answer.content == picture and answer.headers["content-type"] == "image/png"
        tampered = html.unescape(links[0][0]).replace(f"/media/{links[0][1]}/", f"/media/{doc_id + voice_id}/")
        assert (await anyone.get(tampered)).status_code == 401

    escaped = str(escape(HOSTILE))
    assert f'alt="{escaped}"' in page  # the caption is the picture's text alternative
    assert f'<span class="doc-name">{escaped}.pdf</span>' in page
    assert f'download="{escaped}.pdf"' in page
    assert '<span class="doc-size">3 KB · application/pdf</span>' in page
    assert '<audio controls preload="metadata"' in page and 'aria-label="Voice message"' in page
    assert page.count('data-state="pending"') == 1 and "Getting the file from WhatsApp" in page
    assert f"not available (gone {escaped})" in page
    assert "not available (wahub has no copy of this file)" in page


async def test_contact_cards_and_locations_render_readably_with_only_safe_links(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    admin = await login("root@example.com", "admin")
    chat = await chat_with(sessions, account, "14155550122", "Card Sender")
    card = {
        "name": {"formatted_name": HOSTILE, "first_name": "x"},
        "org": {"company": "Acme <b>", "title": "Buyer"},
        "phones": [
            {"phone": "+1 (415) 555-0199", "type": "WORK", "wa_id": "14155550199"},
            {"phone": "javascript:alert(1)", "type": "HOME"},
        ],
        "emails": [{"email": "<x@example.com>"}],
    }
    await chat.add("inbound", "contacts", [card])
    location = {"latitude": 52.52, "longitude": 13.405, "name": "Shop", "address": "Main St 1"}
    await chat.add("inbound", "location", location)
    page = (await admin.get(f"/c/{chat.id}")).text
    escaped = str(escape(HOSTILE))
    assert f'<p class="card-name">{escaped}</p>' in page
    assert '<p class="card-org">Acme &lt;b&gt; · Buyer</p>' in page
    assert '<a href="tel:+14155550199">+1 (415) 555-0199</a>' in page
    assert "javascript:alert(1)" in page and 'href="javascript' not in page  # shown as text, never a link
    assert "&lt;x@example.com&gt;" in page
    assert 'href="https://www.openstreetmap.org/?mlat=52.520000&amp;mlon=13.405000#map=16/52.520000/13.405000"' in page


async def test_a_reply_quotes_its_original_only_from_the_same_conversation(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    admin = await login("root@example.com", "admin")
    chat = await chat_with(sessions, account, "14155550123", "Quoting Person")
    other = await chat_with(sessions, account, "14155550124", "Other Person")
    original = await chat.add("inbound", "text", {"body": "Is it <red>?"}, wamid="wamid.original")
    await other.add("inbound", "text", {"body": "a secret elsewhere"}, wamid="wamid.elsewhere")
    await chat.add("outbound", "text", {"body": "Yes"}, reply_to_wamid="wamid.original")
    await chat.add("inbound", "text", {"body": "and that?"}, reply_to_wamid="wamid.elsewhere")
    await chat.add("inbound", "text", {"body": "and this?"}, reply_to_wamid="wamid.never-stored")
    page = (await admin.get(f"/c/{chat.id}", headers={"HX-Request": "true"})).text  # the conversation alone
    quotes = re.findall(r'<button type="button" class="quote" data-quoted="(\d*)"', page)
    assert quotes == [str(original), "", ""]
    assert '<span class="quote-who">Quoting Person</span>' in page
    assert '<span class="quote-text">Is it &lt;red&gt;?</span>' in page
    assert page.count("The original message is not in wahub") == 2
    assert "a secret elsewhere" not in page
    assert 'data-wamid="wamid.original"' in page and 'class="reply-to"' in page


async def test_a_sent_template_shows_its_text_with_its_parameters(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    admin = await login("root@example.com", "admin")
    await add_templates(sessions, account)
    chat = await chat_with(sessions, account, "14155550125", "Template Person")
    sent = {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "#42"}]},
            {"type": "body", "parameters": [{"type": "text", "text": HOSTILE}, {"type": "text", "text": "Friday"}]},
        ],
    }
    message_id = await chat.add("outbound", "template", sent)
    part = (await admin.get(f"/c/{chat.id}/messages/{message_id}", headers={"HX-Request": "true"})).text
    escaped = str(escape(HOSTILE))
    assert '<p class="tpl-header">Order #42</p>' in part
    assert f'<p class="text">Hi {escaped}, it arrives on Friday.</p>' in part
    assert '<p class="tpl-footer">Reply STOP to opt out</p>' in part


async def add_templates(sessions: async_sessionmaker[AsyncSession], account: Account) -> None:
    assert account.waba_id is not None
    items = [
        {
            "name": "order_update",
            "language": "en_US",
            "status": "APPROVED",
            "category": "UTILITY",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, it arrives on {{2}}.",
                    "example": {"body_text": [["Ana", "Monday"]]},
                },
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}"}]},
            ],
        },
        {
            "name": "named_hello",
            "language": "de",
            "status": "APPROVED",
            "parameter_format": "NAMED",
            "components": [{"type": "BODY", "text": f"Hallo {{{{first_name}}}} {HOSTILE}"}],
        },
        {
            "name": "rejected_one",
            "language": "en_US",
            "status": "REJECTED",
            "components": [{"type": "BODY", "text": "no"}],
        },
        {"name": "no_text", "language": "en_US", "status": "APPROVED"},
    ]
    async with db.transaction(sessions) as session:
        assert await templates.upsert_many(session, account.waba_id, items) == 4
        assert await templates.upsert_many(session, account.waba_id, items[:1]) == 1  # written again, not twice


async def test_the_template_picker_offers_approved_templates_with_a_field_per_variable(
    login: Login, sessions: async_sessionmaker[AsyncSession], account: Account
) -> None:
    admin = await login("root@example.com", "admin")
    await add_templates(sessions, account)
    chat = await chat_with(sessions, account, "14155550126", "Picker Person", window_open=False)
    picker = (await admin.get(f"/c/{chat.id}/templates", headers={"HX-Request": "true"})).text
    options = re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', picker)
    assert options == ["named_hello · de", "order_update · en_US · utility"]  # approved, with their text
    fields = re.findall(r'data-param="([^"]+)" data-component="(\w+)" data-name="(\w+)"', picker)
    assert fields == [
        ("body-first_name", "body", "first_name"),
        ("header-1", "header", "1"),
        ("body-1", "body", "1"),
        ("body-2", "body", "2"),
        ("button-0-1", "button", "1"),
    ]
    assert 'placeholder="Ana"' in picker and 'placeholder="Monday"' in picker  # Meta's examples
    assert "data-named" in picker  # named parameters go with their names
    assert HOSTILE not in picker and str(escape(HOSTILE)) in picker

    page = (await admin.get(f"/c/{chat.id}")).text  # a closed window: free text off, the picker on offer
    assert re.search(r'<textarea id="composer-text"[^>]* disabled>', page)
    assert re.search(
        r"The 24-hour window closed (today|yesterday) at \d\d:\d\d: free text is disabled until the customer "
        r"writes again\. Send a template\.",
        page,
    )
    assert 'class="link-button templates-open">Choose a template</button>' in page

    agent = await login("ada@example.com", "agent")
    async with db.transaction(sessions) as session:
        conversation = await conversations.get(session, chat.id)
        conversation.assignee_user_id = (await users.list_users(session))[0].id  # the admin's, not Ada's
    assert (await agent.get(f"/c/{chat.id}/templates", headers={"HX-Request": "true"})).status_code == 404
