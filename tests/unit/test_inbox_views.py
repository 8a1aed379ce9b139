"""The inbox's pure parts: who may frame it (``WAHUB_FRAME_ANCESTORS``) and the headers that say so, local times
and day labels, the 24-hour window's label, what a bubble shows, and the cursor of the list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from wahub import config, errors
from wahub.api import headers
from wahub.store import conversations
from wahub.store.models import Conversation, Message
from wahub.web import serves_page, views

NOW = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("'none'", "'none'"),
        ("'self'", "'self'"),
        ("'self'   https://erp.example.com", "'self' https://erp.example.com"),
        ("https://*.example.com:8443 http://localhost:3000", "https://*.example.com:8443 http://localhost:3000"),
        ("https:", "https:"),
    ],
)
def test_frame_ancestors_takes_csp_sources(monkeypatch: pytest.MonkeyPatch, tmp_path, value: str, kept: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAHUB_FRAME_ANCESTORS", value)
    assert config.load().frame_ancestors == kept


@pytest.mark.parametrize(
    "value",
    [
        "",
        "'none' 'self'",
        "'unsafe-inline'",
        "https://erp.example.com; script-src *",
        "https://erp.example.com,https://x.example",
        "'self\" onload=x",
    ],
)
def test_frame_ancestors_refuses_what_could_change_the_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAHUB_FRAME_ANCESTORS", value)
    with pytest.raises(config.SettingsError, match="WAHUB_FRAME_ANCESTORS"):
        config.load()


def test_the_inbox_pages_get_their_policy_and_everything_else_keeps_the_strict_one() -> None:
    security = headers.SecurityHeaders("'self' https://erp.example.com", serves_page)
    page = dict(security.for_path("/c/12"))
    policy = page[b"content-security-policy"].decode()
    assert policy.endswith("frame-ancestors 'self' https://erp.example.com")
    assert "unsafe" not in policy
    assert page[b"cache-control"] == b"no-store"
    for path in ("/", "/login", "/list", "/list/3"):
        assert dict(security.for_path(path)) == page, path
    for path in ("/nowhere", "/healthz", "/static/abc/app.css", "/cx"):
        assert dict(security.for_path(path))[b"content-security-policy"] == headers.STRICT, path
    assert dict(security.for_path("/api/v1/messages"))[b"cache-control"] == b"no-store"


def test_times_are_shown_in_the_browsers_zone_with_day_labels() -> None:
    clock = views.Clock(ZoneInfo("Asia/Tokyo"), NOW)  # 07:30 on 2 December there
    assert clock.time(NOW) == "07:30"
    assert clock.day(NOW) == "2026-12-02"
    assert clock.day_label(NOW) == "Today"
    assert clock.day_label(NOW - timedelta(days=1)) == "Yesterday"
    assert clock.day_label(NOW - timedelta(days=3)) == "Sunday"
    assert clock.day_label(NOW - timedelta(days=30)) == "2 November 2026"
    assert clock.stamp(NOW - timedelta(hours=2)) == "05:30"
    assert clock.stamp(None) == ""


@pytest.mark.parametrize("name", [None, "", "Not/A/Zone/Really", "../../etc/passwd", "Europe/Berlin\x00", "x" * 70])
def test_a_zone_the_browser_names_badly_is_utc(name: str | None) -> None:
    assert views.zone_named(name) is UTC


def test_a_known_zone_is_taken() -> None:
    assert views.zone_named("Europe/Berlin") == ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("inbound_ago", "state", "label"),
    [
        (None, "closed", "window closed"),
        (timedelta(hours=25), "closed", "window closed"),
        (timedelta(hours=1), "open", "window open"),
        (timedelta(hours=20, minutes=30), "closing", "closes in 3 h"),
        (timedelta(hours=23, minutes=50), "closing", "closes in 10 min"),
    ],
)
def test_the_window_says_open_when_it_closes_or_closed(inbound_ago: timedelta | None, state: str, label: str) -> None:
    conversation = Conversation(last_inbound_at=None if inbound_ago is None else NOW - inbound_ago)
    shown = views.window(conversation, NOW)
    assert (shown.state, shown.label) == (state, label)
    assert shown.open == (state != "closed")


def message(**fields: object) -> Message:
    values: dict[str, object] = {
        "id": 7,
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
    }
    values.update(fields)
    return Message(**values)


def test_a_bubble_says_what_every_type_holds() -> None:
    clock = views.Clock(UTC, NOW)
    text = views.bubble(message(content={"text": {"body": "two\nlines"}}), clock)
    assert (text.label, text.lines) == (None, ["two\nlines"])
    image = views.bubble(message(type="image", content={"image": {"caption": "the view"}}), clock)
    assert (image.label, image.lines) == ("📷 Photo", ["the view"])
    voice = views.bubble(message(type="audio", content={"audio": {"voice": True}}), clock)
    assert voice.label == "🎤 Voice message"
    document = views.bubble(message(type="document", content={"document": {"filename": "q3.pdf"}}), clock)
    assert document.lines == ["q3.pdf"]
    place = views.bubble(message(type="location", content={"location": {"latitude": 52.5, "longitude": 13.4}}), clock)
    assert place.map_url == "https://www.openstreetmap.org/?mlat=52.500000&mlon=13.400000#map=16/52.500000/13.400000"
    hostile = {"location": {"latitude": '52.5" onclick="x', "longitude": 13.4}}
    assert views.bubble(message(type="location", content=hostile), clock).map_url is None
    future = views.bubble(message(type="unknown", content={"hologram": {}}), clock)
    assert future.label == "⚠ A message of a type wahub does not know"
    gone = views.bubble(message(revoked_at=NOW, content={}), clock)
    assert gone.revoked and gone.lines == []


def test_a_failed_message_says_why_and_its_tick_ranks_as_the_server_does() -> None:
    failed = views.bubble(
        message(
            direction="outbound",
            status="failed",
            error_code=131047,
            error_title="Re-engagement message",
            error_details="More than 24 hours have passed",
        ),
        views.Clock(UTC, NOW),
    )
    assert failed.error == "Re-engagement message: More than 24 hours have passed (code 131047)"
    assert failed.rank == views.RANKS["failed"] == 3
    assert views.RANKS["read"] > views.RANKS["delivered"] > views.RANKS["sent"] > views.RANKS["queued"]


def test_reactions_edits_and_deletions_of_a_message_are_not_bubbles_of_their_own() -> None:
    assert not views.shown(message(type="reaction", target_wamid="wamid.1"))
    assert not views.shown(message(type="edit", target_wamid="wamid.1"))
    assert views.shown(message(type="reaction", target_wamid=None))
    assert views.shown(message(type="text"))


def test_the_list_cursor_round_trips_and_refuses_anything_else() -> None:
    cursor = conversations.encode_activity(NOW, 42)
    assert conversations.decode_activity(cursor) == (NOW, 42)
    assert conversations.decode_activity(conversations.encode_activity(None, 3)) == (None, 3)
    for bad in ("", "!!", "eDox", conversations.encode_activity(NOW, 42)[:-3], "YTp8MA", "YTpub3QtYS10aW1lfDE"):
        with pytest.raises(errors.InvalidInput):
            conversations.decode_activity(bad)
