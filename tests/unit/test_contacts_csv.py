"""Reading a contacts CSV (``imports/contacts_csv.py``): numbers, line numbers, columns; no database."""

from __future__ import annotations

import pytest

from wahub import errors
from wahub.imports import contacts_csv


@pytest.mark.parametrize(
    ("given", "wa_id"),
    [
        ("+14155550101", "14155550101"),
        ("14155550101", "14155550101"),
        ("+1 (415) 555-0101", "14155550101"),
        ("0034 612 34 56 78", "34612345678"),
        ("+34.612.345.678", "34612345678"),
    ],
)
def test_numbers_in_e164_with_or_without_plus_and_separators(given: str, wa_id: str) -> None:
    assert contacts_csv.number(given) == wa_id


@pytest.mark.parametrize("given", ["0612345678", "+1415555", "+999 1234567", "phone", "+1415555010199", "١٤١٥٥٥٥٠١٠١"])
def test_what_is_not_e164_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match=r"not a number in E\.164"):
        contacts_csv.number(given)


def test_rows_keep_their_first_line_across_blank_lines_and_quoted_line_breaks() -> None:
    data = b'number,name,labels,plan\n\n+14155550101,"Ada\nLovelace",a;b | c,pro\n\n,x,,\n+14155550102,,,\n'
    parsed = contacts_csv.parse(data)
    assert [(r.line, r.wa_id, r.name) for r in parsed.rows] == [
        (3, "14155550101", "Ada Lovelace"),
        (7, "14155550102", None),
    ]
    assert parsed.rows[0].labels == {"a": "a", "b": "b", "c": "c"} and parsed.rows[0].attributes == {"plan": "pro"}
    assert parsed.rows[1].attributes == {}  # an empty cell sets nothing
    assert [(r.line, r.reason) for r in parsed.rejected] == [(6, "no number")]


def test_spaces_in_a_header_become_underscores() -> None:
    (row,) = contacts_csv.parse(b"Phone, Customer  ID \n+14155550101,C-42\n").rows
    assert row.attributes == {"Customer_ID": "C-42"}


def test_extra_cells_are_a_bad_row_and_missing_ones_are_empty() -> None:
    parsed = contacts_csv.parse(b"number,city\n+14155550101,London,extra\n+14155550102\n")
    assert [r.reason for r in parsed.rejected] == ["3 cells, but the header names 2 columns"]
    assert [r.wa_id for r in parsed.rows] == ["14155550102"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"number,number\n", "appears twice"),
        (b"phone,wa_id\n", "appears twice"),
        (b"number,,city\n", "column 2 has no name"),
        (b"number,2nd\n", "cannot name an attribute"),
        (b"number,a/b\n", "cannot name an attribute"),
    ],
)
def test_a_header_that_cannot_be_read_is_refused(data: bytes, says: str) -> None:
    with pytest.raises(errors.InvalidInput, match=says):
        contacts_csv.parse(data)
