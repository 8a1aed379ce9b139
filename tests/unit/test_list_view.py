"""The inbox list's view (``web/listing.py``): read tolerantly from a query string, written back into links."""

from __future__ import annotations

from urllib.parse import parse_qsl

from wahub.web.listing import Filter, ListView, entity
from wahub.web.workflow import record_path


def test_a_view_round_trips_through_its_query_string() -> None:
    view = ListView.of("mine", "12", "invoice", "INV/7 & co", "zeppelin  ")
    assert view == ListView(Filter.MINE, 12, ("invoice", "INV/7 & co"), "zeppelin")
    assert dict(parse_qsl(view.query)) == {
        "filter": "mine",
        "account": "12",
        "entity_type": "invoice",
        "entity_id": "INV/7 & co",
        "q": "zeppelin",
    }
    assert ListView.of(**{k if k != "filter" else "which": v for k, v in parse_qsl(view.query)}) == view


def test_values_that_name_nothing_widen_the_view_instead_of_failing() -> None:
    assert ListView.of("nonsense", "x", "in voice", "1", "   ") == ListView()
    assert ListView.of(account="0").account is None
    assert ListView.of(account="99999999999999999").account is None
    assert ListView.of(entity_type="invoice").entity is None  # both or neither
    assert len(ListView.of(q="x" * 5000).q or "") == 200
    assert ListView().query == "filter=all"


def test_a_record_is_a_type_of_letters_digits_and_marks_and_any_printable_id() -> None:
    assert entity("erp.invoice:v2", "INV/2026/7") == ("erp.invoice:v2", "INV/2026/7")
    for bad_type, bad_id in (
        ("in voice", "1"),
        ("t" * 65, "1"),
        ("invoice", "\x01"),
        ("invoice", "x" * 129),
        ("", "1"),
    ):
        assert entity(bad_type, bad_id) is None, (bad_type, bad_id)


def test_a_records_page_quotes_each_part_whole() -> None:
    assert record_path("invoice", "INV/7 #2") == "/e/invoice/INV%2F7%20%232"
    assert ListView().but(which=Filter.RESOLVED).query == "filter=resolved"
