"""What bubbles and the composer show besides text, as pure values: a file's view and its link, contact cards,
quotes, the template picker's fields (positional, named, a URL button's, a media header's) and a sent template's
text, and the closed window's note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wahub.store.models import Conversation, Media, Message, Template
from wahub.web import contents, template_forms, views

NOW = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)


def message(**fields: Any) -> Message:
    values: dict[str, Any] = {
        "id": 9,
        "direction": "inbound",
        "type": "text",
        "status": "received",
        "content": {},
        "created_at": NOW,
        "provider_timestamp": None,
        "reactions": None,
        "edited_at": None,
        "revoked_at": None,
        "error_code": None,
        "error_title": None,
        "error_details": None,
        "target_wamid": None,
        "wamid": "wamid.9",
    }
    values.update(fields)
    return Message(**values)


def signed(item: Media) -> str:
    return f"/api/v1/media/{item.id}/content?expires=1&sig=x"


def test_a_stored_file_gets_a_signed_link_and_others_say_why_not() -> None:
    doc = message(type="document", content={"document": {"filename": "q3 report.xlsx", "caption": "for Monday"}})
    item = Media(id=4, state="stored", storage_key="sha256/ab", size=1_572_864, mime_type="application/pdf")
    view = contents.media(doc, item, signed)
    assert view is not None
    assert (view.kind, view.state, view.url) == ("document", "stored", "/api/v1/media/4/content?expires=1&sig=x")
    assert (view.filename, view.size, view.extension) == ("q3 report.xlsx", "1.5 MB", "XLSX")
    bubble = views.bubble(doc, views.Clock(UTC, NOW), extras=views.Extras(media=view))
    assert bubble.lines == ["for Monday"]  # the name is on the chip
    assert views.bubble(doc, views.Clock(UTC, NOW)).lines == ["q3 report.xlsx", "for Monday"]  # without the file

    voice = contents.media(
        message(type="audio", content={"audio": {"voice": True}}), Media(id=5, state="fetching"), signed
    )
    assert voice is not None and (voice.kind, voice.state, voice.url) == ("voice", "pending", None)
    failed = contents.media(message(type="image"), Media(id=6, state="failed", error="Meta no longer has it"), signed)
    assert failed is not None and (failed.state, failed.error, failed.url) == ("failed", "Meta no longer has it", None)
    inbound = contents.media(message(type="sticker"), None, signed)
    assert inbound is not None and inbound.error == "wahub has no copy of this file"
    outbound = contents.media(message(type="image", direction="outbound"), None, signed)
    assert outbound is not None and "wahub keeps no copy" in (outbound.error or "")
    assert contents.media(message(), None, signed) is None  # a text has no file
    assert [contents.size_label(n) for n in (0, 1023, 1024, 10_240, 5 * 1024 * 1024)] == [
        "0 B", "1023 B", "1 KB", "10 KB", "5.0 MB"
    ]  # fmt: skip
    odd = contents.MediaView("document", 1, "stored", "/x", "archive.tar.gz<x>", None, None, None)
    assert odd.extension == "FILE"


def test_contact_cards_keep_their_fields_and_link_only_digits() -> None:
    card = {
        "name": {"first_name": "Ana", "last_name": "Souza"},
        "org": {"company": "Acme"},
        "phones": [
            {"phone": "+55 (11) 98765-4321", "type": "CELL", "wa_id": "5511987654321"},
            {"phone": "javascript:alert(1)"},
            {"type": "HOME"},
        ],
        "emails": [{"email": "ana@example.com"}, {"type": "WORK"}],
    }
    (made,) = contents.cards(message(type="contacts", content={"contacts": [card, "not a card"]}))
    assert (made.name, made.org) == ("Ana Souza", "Acme")
    assert [(p.number, p.label, p.tel) for p in made.phones] == [
        ("+55 (11) 98765-4321", "CELL", "tel:+5511987654321"),
        ("javascript:alert(1)", None, None),
    ]
    assert made.emails == ["ana@example.com"]
    assert contents.cards(message(type="contacts", content={"contacts": "x"})) == []
    (unnamed,) = contents.cards(message(type="contacts", content={"contacts": [{}]}))
    assert unnamed.name == "Unnamed contact"


def test_a_quote_names_its_original_or_says_it_is_not_here() -> None:
    assert contents.quote(message(id=3), "You", "hello") == contents.Quote(3, "You", "hello")
    assert contents.quote(None, "x", "y") == contents.Quote(None, "", "The original message is not in wahub")


def template(components: Any, **fields: Any) -> Template:
    return Template(id=fields.get("id", 1), name="t", language="en_US", category="UTILITY", components=components)


def test_the_picker_makes_a_field_of_each_variable_once() -> None:
    row = template(
        [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["#7"]}},
            {"type": "BODY", "text": "Hi {{1}}, {{2}} and {{1}} again.", "example": {"body_text": [["Ana", "x"]]}},
            {"type": "FOOTER", "text": "bye"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Stop"},
                    {
                        "type": "URL",
                        "text": "Track",
                        "url": "https://x.example/t/{{1}}",
                        "example": ["https://x.example/t/77"],
                    },
                ],
            },
        ]
    )
    made = template_forms.choice(row)
    assert made is not None and made.unusable is None and not made.named
    assert [(p.key, p.example) for p in made.params] == [
        ("header-1", "#7"), ("body-1", "Ana"), ("body-2", "x"), ("button-1-1", "77")
    ]  # fmt: skip
    assert [p.button_index for p in made.params] == [None, None, None, 1]
    assert [(s.text, s.param) for s in made.body] == [
        ("Hi ", None), ("{{1}}", "body-1"), (", ", None), ("{{2}}", "body-2"), (" and ", None), ("{{1}}", "body-1"),
        (" again.", None),
    ]  # fmt: skip
    assert (made.footer, made.buttons) == ("bye", ["Stop", "Track"])


def test_named_variables_media_headers_and_unusable_headers() -> None:
    named = template_forms.choice(template([{"type": "BODY", "text": "Hallo {{first_name}}"}]))
    assert named is not None and named.named and [p.name for p in named.params] == ["first_name"]
    media = template_forms.choice(template([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "x"}]))
    assert media is not None and media.media_header == "image"
    assert [(p.key, p.media) for p in media.params] == [("header-media", "image")]
    place = template_forms.choice(template([{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "x"}]))
    assert place is not None and place.unusable == "its location header cannot be filled in the inbox"
    assert template_forms.choice(template(None)) is None
    assert template_forms.choice(template([{"message_template_element": "from a webhook"}])) is None


def test_a_sent_template_reads_with_its_parameters() -> None:
    row = template(
        [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, pay {{2}} by {{3}}."},
        ]
    )
    sent = {
        "name": "t",
        "components": [
            {"type": "header", "parameters": [{"type": "text", "text": "#7"}]},
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "Ana"},
                    {"type": "currency", "currency": {"fallback_value": "$10", "code": "USD", "amount_1000": 10000}},
                ],
            },
        ],
    }
    filled = template_forms.filled(row, sent)
    assert filled is not None
    assert (filled.header, filled.body) == ("Order #7", "Hi Ana, pay $10 by {{3}}.")  # a missing one stays a variable
    assert template_forms.filled(None, sent) is None and template_forms.filled(row, "x") is None


def test_the_closed_windows_note_says_since_when() -> None:
    clock = views.Clock(UTC, NOW)
    assert views.window_note(Conversation(last_inbound_at=NOW - timedelta(hours=2)), clock) == ""
    closed = views.window_note(Conversation(last_inbound_at=NOW - timedelta(hours=30)), clock)
    assert closed.startswith("The 24-hour window closed today at 16:30: free text is disabled")
    older = views.window_note(Conversation(last_inbound_at=NOW - timedelta(days=20)), clock)
    assert older.startswith("The 24-hour window closed on 12 November 2026 at 22:30:")
    never = views.window_note(Conversation(last_inbound_at=None), clock)
    assert never == "The customer has not written yet: only a template can start the conversation."
