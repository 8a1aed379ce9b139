"""What a message is found by (``search_text``), and how a typed search becomes FTS5 and tsquery text that carries
none of the user's syntax. No database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wahub.store import search
from wahub.store.search_text import Query, fts5_match, indexed_text, number_digits, parse, search_text, tsquery

WEBHOOKS = Path(__file__).resolve().parent.parent / "data" / "meta-webhooks"


def _messages(name: str) -> list[dict[str, Any]]:
    """The message objects of a conformance payload, as the parser keeps them (content keyed by type)."""
    body = json.loads((WEBHOOKS / f"{name}.json").read_text())
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            found.extend(value.get("messages", []) if isinstance(value.get("messages"), list) else [])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(body)
    return found


def _text_of(message: dict[str, Any]) -> str:
    return search_text(message["type"], message)


def test_inbound_messages_are_found_by_their_body_caption_filename_and_titles() -> None:
    found = {_text_of(m) for m in _messages("message")}
    assert "Body Text" in found
    assert "caption" in found  # a video's caption
    assert "filename.pdf\ncaption" in found  # a document's filename, then its caption
    assert "Facebook HQ\n1 Hacker Way, Menlo Park, CA 94025" in found  # a location's name and address
    assert "Chandler Bing\n+1 555-555-5555\nMonica\n+1 666-666-6666\nRachel Green\n+1 777-777-7777" in found
    assert "BODY" in found
    assert {_text_of(m) for m in _messages("callback_button")} == {"title"}
    assert {_text_of(m) for m in _messages("callback_selection")} == {"title", "title\ndescription"}
    assert {_text_of(m) for m in _messages("system")} == {
        "User A changed from 972987654321 to 972912345678",
        "User identity changed",
    }


@pytest.mark.parametrize("name", ["edited_message", "deleted_message"])
def test_edits_and_revokes_themselves_carry_no_text(name: str) -> None:
    assert [_text_of(m) for m in _messages(name)] == [""]


@pytest.mark.parametrize(
    ("message_type", "content"),
    [
        ("audio", {"audio": {"id": "1", "voice": True}}),
        ("sticker", {"sticker": {"id": "1"}}),
        ("reaction", {"reaction": {"message_id": "wamid.1", "emoji": "x"}}),
        ("image", {"image": {"id": "1"}}),  # no caption
        ("unknown", {"original_type": "media_placeholder"}),
        ("text", {}),  # revoked: its content is gone
        ("text", {"text": "not an object"}),
        ("contacts", {"contacts": "not a list"}),
        ("interactive", {"interactive": None}),
    ],
)
def test_messages_without_words_have_no_index_entry(message_type: str, content: dict[str, Any]) -> None:
    assert search_text(message_type, content) == ""
    assert indexed_text(message_type, content) is None


def test_outbound_interactive_and_template_messages_are_found_by_what_the_recipient_reads() -> None:
    buttons = {
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Your order"},
            "body": {"text": "Ready to ship?"},
            "footer": {"text": "Reply below"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "y", "title": "Yes please"}}]},
        }
    }
    assert search_text("interactive", buttons) == "Your order\nReady to ship?\nReply below\nYes please"
    listed = {
        "interactive": {
            "type": "list",
            "body": {"text": "Pick one"},
            "action": {
                "button": "Menu",
                "sections": [{"title": "Drinks", "rows": [{"id": "1", "title": "Tea", "description": "green"}]}],
            },
        }
    }
    assert search_text("interactive", listed) == "Pick one\nMenu\nDrinks\nTea\ngreen"
    template = {
        "template": {
            "name": "order_update",
            "language": {"code": "en"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "currency"}]},
                {"type": "button", "parameters": [{"type": "payload", "payload": "p"}]},
            ],
        }
    }
    assert search_text("template", template) == "order_update\nAda"


def test_whitespace_and_control_characters_are_flattened() -> None:
    assert search_text("text", {"text": {"body": "  two\n\nlines\x02 and\ttabs  "}}) == "two lines and tabs"


def test_plain_words_must_all_match_and_the_last_one_is_a_prefix() -> None:
    query = parse("quarterly repo")
    assert query == Query(("quarterly", "repo"), prefix=True, text="quarterly repo")
    assert fts5_match(query) == '"quarterly" "repo"*'
    assert tsquery(query) == "'quarterly' & 'repo':*"


def test_a_trailing_space_a_quote_or_a_short_word_ends_the_prefix() -> None:
    assert not parse("quarterly report ").prefix
    assert not parse('"quarterly report"').prefix
    assert not parse("report in").prefix  # "in" is too short to be worth a prefix scan
    assert fts5_match(parse('find "the quarterly report" now')) == '"find" "the quarterly report" "now"*'
    assert tsquery(parse('"the report"')) == "'the' <-> 'report'"


def test_punctuation_splits_words_into_a_phrase() -> None:
    query = parse("john@example.com invoice_2024.pdf")
    assert query.terms == ("john example com", "invoice 2024 pdf")
    assert tsquery(query) == "'john' <-> 'example' <-> 'com' & 'invoice' <-> '2024' <-> 'pdf':*"


@pytest.mark.parametrize(
    "typed",
    ['"', "*", ":", "'", "\\", "(", ")", "^", "-", "NEAR(", "col:word", '"unclosed', "a*b", "''", "{x y}", "%_"],
)
def test_user_syntax_never_reaches_the_engines(typed: str) -> None:
    query = parse(f"report {typed}")
    # Only words of letters and digits, each term in quotes, and our own '*' after the last quote.
    assert all(word.isalnum() for term in query.terms for word in term.split())
    quoted = " ".join(f'"{term}"' for term in query.terms)
    assert fts5_match(query) in (quoted, quoted + "*")
    lexemes = " & ".join(" <-> ".join(f"'{word}'" for word in term.split()) for term in query.terms)
    assert tsquery(query) in (lexemes, lexemes + ":*")


def test_a_query_of_only_symbols_is_empty() -> None:
    for typed in ['"', "***", ":::", "🙂", " ", "\x00"]:
        assert parse(typed).empty
        assert fts5_match(parse(typed)) == ""


def test_nul_and_control_characters_are_dropped_from_queries() -> None:
    query = parse("ab\x00cd")
    assert query.terms == ("ab", "cd")  # a control character separates words, as a space
    assert "\x00" not in query.text


def test_letters_of_any_script_stay_words() -> None:
    assert parse("Café ñandú 日本語").terms == ("Café", "ñandú", "日本語")


def test_partial_phone_numbers_are_their_digits() -> None:
    assert number_digits("+49 151-23") == "4915123"
    assert number_digits("(415) 555") == "415555"
    assert number_digits("12") is None  # too short
    assert number_digits("ada 123") is None  # not a number


def test_snippet_markers_become_offsets() -> None:
    assert search._marked("see \x02quarterly\x03 \x02report\x03 now") == (
        "see quarterly report now",
        ((4, 13), (14, 20)),
    )
    assert search._marked(None) == (None, ())
    assert search._marked("\x02\x03no match") == ("no match", ())


def test_the_search_index_is_left_out_of_the_models_comparison() -> None:
    assert not search.modeled("messages_fts", "table", {})
    assert not search.modeled("messages_fts_idx", "table", {})
    assert not search.modeled("ix_messages_search_vector", "index", {})
    assert not search.modeled("search_vector", "column", {"table_name": "messages"})
    assert search.modeled("search_text", "column", {"table_name": "messages"})
    assert search.modeled("messages", "table", {})
    assert search.modeled("ix_messages_conversation_id_id", "index", {})
