"""The inbox's media and composer tools in a real browser, against a real sandbox: a picture sent with the file
picker (shown in its bubble, and received by fakegraph byte for byte), a file refused before any upload, a
document downloaded, a closed window that offers templates only, a reply with its quote, a canned reply by
"/" and an emoji, and the composer's tools at phone width."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx

from fakegraph.media import sample_png
from tests.browser.conftest import PHONE, WAIT_MS, Sandbox, Shots, log_in
from wahub import sandbox as sandbox_mode

if TYPE_CHECKING:
    from playwright.sync_api import Page

ANA, BEN, CHLOE, DEV = "14155550101", "14155550102", "14155550103", "14155550104"


def fake(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> Any:
    answer = httpx.request(method, f"{sandbox.fakegraph}{path}", timeout=10, **kwargs)
    assert answer.is_success, answer.text
    return answer.json()


def open_conversation(page: Page, sandbox: Sandbox, wa_id: str) -> int:
    conversation = sandbox.conversation_of(wa_id)
    page.click(f"#conv-{conversation} a")
    page.wait_for_selector(f"#conversation[data-id='{conversation}'] #composer")
    return conversation


def graph_file(sandbox: Sandbox, media_id: str) -> bytes:
    """A file as Meta (fakegraph) holds it: its URL from ``GET /{media-id}``, then the download, with the
    sandbox's access token."""
    assert sandbox.data_dir is not None
    token = sandbox_mode.credentials(sandbox_mode.secret_key(sandbox.data_dir)).access_token
    auth = {"Authorization": f"Bearer {token}"}
    info = httpx.get(f"{sandbox.fakegraph}/v25.0/{media_id}", headers=auth, timeout=10)
    assert info.status_code == 200, info.text
    download = httpx.get(info.json()["url"], headers=auth, timeout=10)
    assert download.status_code == 200, download.text
    return download.content


def graph_bodies(sandbox: Sandbox) -> list[Any]:
    """The bodies of every ``POST /messages`` fakegraph took (sends, read receipts, typing indicators)."""
    return [r["body"] for r in fake(sandbox, "GET", "/_fake/requests", params={"path_contains": "/messages"})["data"]]


def wait_for_graph(sandbox: Sandbox, body: dict[str, Any]) -> None:
    """Until fakegraph has taken a ``POST /messages`` with this body."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while body not in graph_bodies(sandbox):
        assert time.monotonic() < deadline, f"fakegraph never got {body}: {graph_bodies(sandbox)}"
        time.sleep(0.05)


def sent_to(sandbox: Sandbox, wa_id: str, kind: str) -> list[dict[str, Any]]:
    """What fakegraph accepted for ``wa_id`` of this type, oldest first."""
    rows = fake(sandbox, "GET", "/_fake/messages", params={"to": wa_id})["data"]
    return [row["payload"] for row in rows if row["payload"].get("type") == kind]


def test_a_picture_sent_with_the_picker_shows_inline_and_reaches_whatsapp_as_sent(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    open_conversation(page, sandbox, ANA)
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.url.endswith("/api/v1/media") else None)

    # Refused before any upload: a type WhatsApp does not take, and a sticker over its 500 KB.
    page.set_input_files("#attach-input", files=[{"name": "setup.exe", "mimeType": "", "buffer": b"MZ\x90\x00"}])
    error = page.locator("#attachment .attach-error")
    assert error.inner_text().startswith("Not sent: WhatsApp does not take .exe files. It takes photos (")
    shot(page, "refused-type")
    big = {"name": "huge.webp", "mimeType": "image/webp", "buffer": b"RIFF" + bytes(600 * 1024)}
    page.set_input_files("#attach-input", files=[big])
    assert error.inner_text() == "Not sent: huge.webp is 600 KB: WhatsApp takes stickers of at most 500 KB."
    page.click("#attachment button.secondary")
    assert page.locator("#attachment").is_hidden() and uploads == []

    picture = sample_png((200, 40, 90), size=48)
    page.set_input_files("#attach-input", files=[{"name": "shelf.png", "mimeType": "image/png", "buffer": picture}])
    page.locator("#attachment img").wait_for()
    assert "shelf.png" in page.locator("#attachment .attach-name").inner_text()
    page.fill("#attach-caption", "The shelf <b>you</b> asked about")
    shot(page, "preview")
    page.click("#attach-send")

    mine = page.locator("#thread .bubble.outbound.has-media").last
    page.wait_for_function(
        "() => { const b = [...document.querySelectorAll('#thread .bubble.outbound.has-media')].pop();"
        " const img = b && b.querySelector('.media img');"
        " return b && b.dataset.messageId && img && img.src.includes('/api/v1/media/') && img.naturalWidth === 48; }"
    )
    assert mine.locator(".text").inner_text() == "The shelf <b>you</b> asked about"
    message_id = mine.get_attribute("data-message-id")
    page.wait_for_selector(
        f"#m-{message_id} .tick:is([data-status='sent'], [data-status='delivered'], [data-status='read'])"
    )
    shot(page, "sent-picture")
    assert uploads == [f"{sandbox.url}/api/v1/media"]

    # The other side: fakegraph took the upload and a message naming it, and holds the same bytes.
    (image,) = sent_to(sandbox, ANA, "image")
    assert image["image"]["caption"] == "The shelf <b>you</b> asked about"
    assert graph_file(sandbox, image["image"]["id"]) == picture

    # And a picture the contact sends shows inline too, once wahub has fetched it from WhatsApp.
    theirs = sample_png((20, 120, 220), size=32)
    body = {"from": ANA, "type": "image", "caption": "mine", "content_base64": base64.b64encode(theirs).decode()}
    fake(sandbox, "POST", "/_fake/inbound", json=body)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#thread .bubble.inbound .media img')].some((i) => i.naturalWidth === 32)"
    )
    shot(page, "received-picture")


def test_a_document_downloads_with_its_bytes_and_name(sandbox: Sandbox, page: Page, shot: Shots) -> None:
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    open_conversation(page, sandbox, BEN)
    data = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    name = "invoice <2024>.pdf"
    body = {
        "from": BEN,
        "type": "document",
        "mime_type": "application/pdf",
        "filename": name,
        "caption": "the invoice",
        "content_base64": base64.b64encode(data).decode(),
    }
    fake(sandbox, "POST", "/_fake/inbound", json=body)
    chip = page.locator("#thread .bubble.inbound .media a.doc").last
    chip.wait_for()  # live, once fetched and stored
    assert chip.locator(".doc-name").inner_text() == name
    assert chip.locator(".doc-size").inner_text() == "10 KB · application/pdf"
    shot(page, "document")
    with page.expect_download() as download:
        chip.click()
    saved = download.value.path()
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert download.value.suggested_filename.endswith(".pdf")


def test_a_closed_window_offers_templates_only_and_a_filled_template_is_sent(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    olga = "14155550188"
    day_ago = int(time.time()) - 26 * 3600
    old = {"type": "text", "text": {"body": "see you next week"}, "timestamp": str(day_ago)}
    fake(sandbox, "POST", "/_fake/inbound", json={"from": olga, "name": "Olga Old", "message": old})
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    page.locator("#conversation-list .row", has_text="Olga Old").locator("a").click()
    page.wait_for_selector("#composer")

    assert page.locator("#composer-text").is_disabled()
    assert page.locator("#composer .send").is_disabled()
    assert page.locator("#attach-open").is_disabled() and page.locator("#emoji-open").is_disabled()
    note = page.locator("#composer-note .note-text").inner_text()
    assert re.fullmatch(
        r"The 24-hour window closed (yesterday|today) at \d\d:\d\d: free text is disabled until the customer "
        r"writes again\. Send a template\.",
        note,
    ), note
    shot(page, "closed-window")

    page.click("#composer-note .templates-open")
    picker = page.locator("#template-picker")
    picker.locator("#template-choice").wait_for()
    names = picker.locator("#template-choice option").all_inner_texts()
    assert any(n.startswith("seasonal_promotion · en_US") for n in names)
    assert not any("spring_launch" in n or "feedback_survey" in n for n in names)  # rejected, paused
    picker.locator("#template-choice").select_option(label="seasonal_promotion · en_US · marketing")
    chosen = picker.locator("fieldset.template:not([hidden])")
    chosen.locator("input[data-param='header-1']").fill("Winter Sale")
    chosen.locator("input[data-param='body-1']").fill("Sunday")
    chosen.locator("input[data-param='body-2']").fill("<WINTER>")
    picker.locator("button[type=submit]").click()
    assert picker.locator("#template-error").inner_text() == "Fill in “Body {{3}}”."
    chosen.locator("input[data-param='body-3']").fill("30%")
    preview = chosen.locator(".template-preview .text").inner_text()
    assert preview == "Shop now through Sunday and use code <WINTER> to get 30% off of all merchandise."
    assert chosen.locator(".template-preview .tpl-header").inner_text() == "Our Winter Sale is on!"
    shot(page, "template-filled")
    picker.locator("button[type=submit]").click()

    bubble = page.locator("#thread .bubble.outbound").last
    page.wait_for_function("() => [...document.querySelectorAll('#thread .bubble.outbound')].pop().dataset.messageId")
    message_id = bubble.get_attribute("data-message-id")
    page.wait_for_selector(f"#m-{message_id} .tick[data-status='sent'], #m-{message_id} .tick[data-status='delivered']")
    (template,) = sent_to(sandbox, olga, "template")
    assert template["template"]["name"] == "seasonal_promotion"
    assert template["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "Winter Sale"}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Sunday"},
                {"type": "text", "text": "<WINTER>"},
                {"type": "text", "text": "30%"},
            ],
        },
    ]
    page.wait_for_selector(f"#m-{message_id} .tpl-header")  # as the server renders it, at once
    page.reload()  # and on the whole page: the template's text with its parameters
    page.wait_for_selector(f"#m-{message_id} .tpl")
    assert page.locator(f"#m-{message_id} .tpl .text").inner_text() == preview
    assert page.locator(f"#m-{message_id} .tpl-header").inner_text() == "Our Winter Sale is on!"
    shot(page, "template-sent")


def test_a_reply_quotes_its_message_and_a_quote_leads_to_the_original(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    question = fake(sandbox, "POST", "/_fake/inbound", json={"from": CHLOE, "text": "Do you have it in blue?"})
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    open_conversation(page, sandbox, CHLOE)
    original = page.locator("#thread .bubble.inbound", has_text="Do you have it in blue?")
    # Opening it read it: wait for that receipt, so that the typing below asks for an indicator of its own.
    receipt = {"messaging_product": "whatsapp", "status": "read", "message_id": question["wamid"]}
    wait_for_graph(sandbox, receipt)
    original.hover()
    original.locator(".reply-to").click()
    assert page.locator("#reply-bar .quote-text").inner_text() == "Do you have it in blue?"
    assert page.locator("#reply-bar .quote-who").inner_text() == "Chloé Martin"
    page.fill("#composer-text", "Yes, in two shades")
    shot(page, "replying")
    page.press("#composer-text", "Enter")
    assert page.locator("#reply-bar").is_hidden()

    answer = page.locator("#thread .bubble.outbound", has_text="Yes, in two shades")
    assert answer.locator(".quote-text").inner_text() == "Do you have it in blue?"  # at once
    page.wait_for_function(
        "() => [...document.querySelectorAll('#thread .bubble.outbound')].some((b) => b.dataset.wamid"
        " && b.textContent.includes('Yes, in two shades'))"
    )
    (text,) = [m for m in sent_to(sandbox, CHLOE, "text") if m["text"]["body"] == "Yes, in two shades"]
    assert text["context"] == {"message_id": question["wamid"]}
    # Typing asked WhatsApp to show the customer the typing indicator, with a read receipt of their message.
    wait_for_graph(sandbox, {**receipt, "typing_indicator": {"type": "text"}})

    page.reload()  # as the server renders the reply: its quote leads to the original
    quote = page.locator("#thread .bubble.outbound", has_text="Yes, in two shades").locator("button.quote")
    assert quote.locator(".quote-who").inner_text() == "Chloé Martin"
    page.locator("#messages").evaluate("(s) => { s.scrollTop = -s.scrollHeight; }")
    quote.click()
    page.wait_for_selector("#thread .bubble.inbound.flash", state="attached")
    shot(page, "quote-followed")

    # A reply to a message wahub never had: its quote says so when clicked.
    fake(sandbox, "POST", "/_fake/inbound", json={"from": CHLOE, "text": "and this?", "context": "wamid.gone"})
    lost = page.locator("#thread .bubble.inbound", has_text="and this?")
    assert lost.locator(".quote-text").inner_text() == "The original message is not in wahub"
    lost.locator("button.quote").click()
    assert lost.locator(".quote-note").inner_text() == "The original message is not in wahub."


def test_a_canned_reply_by_slash_and_an_emoji_go_into_the_message(sandbox: Sandbox, page: Page, shot: Shots) -> None:
    reply = {"code": "thanks", "text": "Thank you, {{contact.first_name}}! {{agent.first_name}} here."}
    assert sandbox.api("POST", "/api/v1/canned-replies", json=reply).status_code == 201
    other = {"code": "hours", "text": "We are open 9 to 5."}
    assert sandbox.api("POST", "/api/v1/canned-replies", json=other).status_code == 201
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    open_conversation(page, sandbox, DEV)

    page.locator("#composer-text").press_sequentially("/")
    options = page.locator("#canned [role=option]")
    options.first.wait_for()
    assert options.count() == 2
    page.locator("#composer-text").press_sequentially("th")
    page.wait_for_function("() => document.querySelectorAll('#canned [role=option]').length === 1")
    assert options.first.inner_text().split("\n") == ["/thanks", "Thank you, Dev! Sandbox here."]
    shot(page, "canned")
    page.press("#composer-text", "Enter")  # takes the reply, does not send
    assert page.input_value("#composer-text") == "Thank you, Dev! Sandbox here."
    assert page.locator("#canned").is_hidden()

    page.click("#emoji-open")
    page.locator("#emoji-panel").wait_for()
    shot(page, "emoji")
    page.click("#emoji-panel button[aria-label='Insert 👍']")
    assert page.input_value("#composer-text") == "Thank you, Dev! Sandbox here.👍"
    page.press("#composer-text", "Enter")
    page.locator("#thread .bubble.outbound .text", has_text="Thank you, Dev! Sandbox here.👍").wait_for()


def test_a_quote_of_a_message_further_back_loads_older_pages_until_the_original_is_there(
    sandbox: Sandbox, page: Page, shot: Shots
) -> None:
    eve = "14155550190"
    question = fake(sandbox, "POST", "/_fake/inbound", json={"from": eve, "name": "Eve Far", "text": "the first one"})
    deadline = time.monotonic() + WAIT_MS / 1000
    while not any(c["contact"]["wa_id"] == eve for c in sandbox.api("GET", "/api/v1/conversations").json()["items"]):
        assert time.monotonic() < deadline, "Eve's message was never stored"
        time.sleep(0.05)
    with (
        httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.api_key}"}) as api,
        ThreadPoolExecutor(8) as pool,
    ):  # more than a page (50) between the question and its answer, sent 8 at a time
        bodies = [{"to": eve, "text": {"body": f"filler {n}"}} for n in range(55)]
        assert all(r.is_success for r in pool.map(lambda body: api.post("/api/v1/messages", json=body), bodies))
    answer = {"to": eve, "text": {"body": "about that"}, "context": {"message_id": question["wamid"]}}
    assert sandbox.api("POST", "/api/v1/messages", json=answer).status_code == 202
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    open_conversation(page, sandbox, eve)
    original = page.locator("#thread .bubble.inbound", has_text="the first one")
    assert original.count() == 0  # not on the newest page
    page.locator("#thread .bubble.outbound", has_text="about that").locator("button.quote").click()
    page.wait_for_selector("#thread .bubble.inbound.flash", state="attached")
    assert original.count() == 1 and original.is_visible()
    shot(page, "original-loaded")


def test_on_a_phone_the_composer_tools_and_the_picker_fit(sandbox: Sandbox, page: Page, shot: Shots) -> None:
    page.set_viewport_size(PHONE)
    log_in(page, sandbox.url, sandbox.admin_email, sandbox.admin_password)
    open_conversation(page, sandbox, ANA)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    page.set_input_files(
        "#attach-input",
        files=[{"name": "a photo with a long name.png", "mimeType": "image/png", "buffer": sample_png()}],
    )
    page.locator("#attachment img").wait_for()
    shot(page, "phone-attachment")
    page.click("#attachment button.secondary")

    # A document dropped on the conversation, and a picture pasted into the text, come to the same preview.
    page.evaluate(
        """() => {
            const files = new DataTransfer();
            files.items.add(new File(["%PDF-1.4 report"], "report.pdf", {type: "application/pdf"}));
            const target = document.querySelector("#messages");
            for (const kind of ["dragenter", "dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(kind, {dataTransfer: files, bubbles: true, cancelable: true}));
            }
        }"""
    )
    assert page.locator("#attachment .attach-name").inner_text() == "report.pdf · 15 B"
    assert page.locator("#attachment .doc-icon").inner_text() == "PDF"
    page.evaluate(
        """() => {
            const files = new DataTransfer();
            files.items.add(new File([new Uint8Array([137, 80, 78, 71])], "image.png", {type: "image/png"}));
            document.querySelector("#composer-text").dispatchEvent(
                new ClipboardEvent("paste", {clipboardData: files, bubbles: true, cancelable: true}));
        }"""
    )
    assert page.locator("#attachment .attach-name").inner_text() == "image.png · 4 B"
    page.click("#attachment button.secondary")
    page.click("#templates-open")
    page.locator("#template-choice").select_option(label="order_shipped · en_US · utility")
    shot(page, "phone-picker")
    box = page.locator("#template-picker").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
