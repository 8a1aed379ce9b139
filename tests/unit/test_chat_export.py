"""The chat-export parser: the five real exports against their expected parse (tests/data/chat-exports), and
synthetic exports for each layout, date order, clock, attachment style, invisible character and system line."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from wahub.imports import chat_export
from wahub.imports.chat_export import DateOrder, Entry, Kind

DATA = Path(__file__).parent.parent / "data" / "chat-exports"
EXPORTS = sorted(DATA.glob("*.txt"))
LRM, NNBSP, NBSP, NBHY = "\u200e", "\u202f", "\u00a0", "\u2011"


def messages(text: str, order: DateOrder | None = None) -> list[Entry]:
    return [e for e in chat_export.parse(text, order).entries if e.kind is Kind.MESSAGE]


def test_the_five_real_exports_are_found() -> None:
    assert len(EXPORTS) == 5


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.stem)
def test_real_export_parses_to_its_target(path: Path) -> None:
    """target.json lists the messages newest first and reads line breaks as spaces; we keep the file's breaks,
    so the comparison joins them, and separately checks that the break is there."""
    target = json.loads((DATA / "target.json").read_text(encoding="utf-8"))
    parsed = chat_export.parse(path.read_text(encoding="utf-8"))
    assert parsed.skipped == []
    got = [
        {"timestamp": e.time.isoformat(), "author": e.author, "message": e.text.replace("\n", " ")}
        for e in reversed(messages(path.read_text(encoding="utf-8")))
    ]
    assert got == target
    first = messages(path.read_text(encoding="utf-8"))[1]
    assert first.text == "Lorem ipsum dolor sit amet,\nconsectetur adipiscing elit. Duis libero."


@pytest.mark.parametrize(
    ("name", "order"),
    [
        ("test_ddmmyy_24hrs", DateOrder.DMY),
        ("test_mmddyy_24hrs", DateOrder.MDY),
        ("test_[mmddyy]_24hrs", DateOrder.MDY),
        ("test_mmddyyyy_12hrs", DateOrder.MDY),
        ("test_yyyymmdd_24hrs", DateOrder.YMD),
    ],
)
def test_real_export_date_order_is_decided_from_the_whole_file(name: str, order: DateOrder) -> None:
    text = (DATA / f"{name}.txt").read_text(encoding="utf-8")
    assert chat_export.parse(text).order is order
    # Its first line alone (01/01/19) fits more than one order: only the rest of the file decides.
    first = text.split("\n")[0]
    if order is not DateOrder.YMD:
        with pytest.raises(chat_export.MalformedExport, match="--date-order"):
            chat_export.parse(first)


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.stem)
def test_real_export_system_lines(path: Path) -> None:
    system = [e.text for e in chat_export.parse(path.read_text(encoding="utf-8")).entries if e.kind is Kind.SYSTEM]
    # "John Doe:." has no ": " after the name: WhatsApp writes no message so, and target.json leaves it out.
    assert system == ["John Doe:.", '+12 345 578 created group "Groupname"', "You were added"]


ANDROID_DMY = """\
20/01/2024, 09:05 - Messages and calls are end-to-end encrypted. No one outside of this chat can read them.
20/01/2024, 09:06 - Ana Gómez: Hola
20/01/2024, 09:07 - Shop: Buenos días,
¿en qué puedo ayudar?

Saludos
21/01/2024, 18:30 - Ana Gómez: IMG-20240121-WA0003.jpg (file attached)
Mi recibo
21/01/2024, 18:31 - Ana Gómez: <Media omitted>
21/01/2024, 18:32 - Ana Gómez: This message was deleted
21/01/2024, 18:33 - Shop: You deleted this message
21/01/2024, 18:34 - Ana Gómez left
"""


def test_android_day_first_every_kind() -> None:
    parsed = chat_export.parse(ANDROID_DMY)
    assert parsed.order is DateOrder.DMY and parsed.skipped == []
    got = [(e.line, e.time, e.author, e.kind, e.attachment, e.text) for e in parsed.entries]
    assert got == [
        (1, datetime(2024, 1, 20, 9, 5), None, Kind.SYSTEM, None, ANDROID_DMY.split("\n")[0][20:]),
        (2, datetime(2024, 1, 20, 9, 6), "Ana Gómez", Kind.MESSAGE, None, "Hola"),
        (3, datetime(2024, 1, 20, 9, 7), "Shop", Kind.MESSAGE, None, "Buenos días,\n¿en qué puedo ayudar?\n\nSaludos"),
        (7, datetime(2024, 1, 21, 18, 30), "Ana Gómez", Kind.MESSAGE, "IMG-20240121-WA0003.jpg", "Mi recibo"),
        (9, datetime(2024, 1, 21, 18, 31), "Ana Gómez", Kind.MEDIA_OMITTED, None, "<Media omitted>"),
        (10, datetime(2024, 1, 21, 18, 32), "Ana Gómez", Kind.DELETED, None, "This message was deleted"),
        (11, datetime(2024, 1, 21, 18, 33), "Shop", Kind.DELETED, None, "You deleted this message"),
        (12, datetime(2024, 1, 21, 18, 34), None, Kind.SYSTEM, None, "Ana Gómez left"),
    ]


IOS_GROUP = f"""\
[03/02/24, 10:00:01] Friends: {LRM}Messages and calls are end-to-end encrypted.
[03/02/24, 10:00:02] Friends: {LRM}Ana created this group
[03/02/24, 10:00:03] Friends: {LRM}Ana added Bob
[03/02/24, 10:01:00] Ana: Hi all
[03/02/24, 10:02:00] {LRM}+34{NBSP}612{NBSP}34{NBHY}56{NBHY}78: {LRM}<attached: 00000003-AUDIO-2024-02-03-10-02-00.opus>
[03/02/24, 10:03:00] Bob: {LRM}<attached: 00000004-PHOTO-2024-02-03-10-03-00.jpg>
[03/02/24, 10:04:00] Bob: {LRM}image omitted
[03/02/24, 10:05:00] Ana: {LRM}This message was deleted.
[14/02/24, 10:05:00] Ana: Happy {LRM}day
"""


def test_ios_group_system_lines_attachments_and_invisible_characters() -> None:
    parsed = chat_export.parse(IOS_GROUP)
    assert parsed.order is DateOrder.DMY  # 14/02 decides
    system = [(e.author, e.chat, e.text) for e in parsed.entries if e.kind is Kind.SYSTEM]
    assert [s[:2] for s in system] == [(None, "Friends")] * 3
    assert system[1][2] == "Ana created this group"
    got = [(e.time.second, e.author, e.kind, e.attachment, e.text) for e in parsed.entries if e.author]
    assert got == [
        (0, "Ana", Kind.MESSAGE, None, "Hi all"),
        (0, "+34 612 34-56-78", Kind.MESSAGE, "00000003-AUDIO-2024-02-03-10-02-00.opus", ""),
        (0, "Bob", Kind.MESSAGE, "00000004-PHOTO-2024-02-03-10-03-00.jpg", ""),
        (0, "Bob", Kind.MEDIA_OMITTED, None, "image omitted"),
        (0, "Ana", Kind.DELETED, None, "This message was deleted."),
        (0, "Ana", Kind.MESSAGE, None, f"Happy {LRM}day"),  # a mark the author typed is the author's text
    ]
    survey = chat_export.survey(IOS_GROUP.split("\n"))
    assert survey.chat == "Friends"
    assert survey.authors == {"Ana": 3, "+34 612 34-56-78": 1, "Bob": 2}


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1/20/24, 9:05 AM", datetime(2024, 1, 20, 9, 5)),
        (f"1/20/24, 9:05{NNBSP}PM", datetime(2024, 1, 20, 21, 5)),
        ("1/20/24, 12:05 AM", datetime(2024, 1, 20, 0, 5)),
        ("1/20/24, 12:05 PM", datetime(2024, 1, 20, 12, 5)),
        ("1/20/24, 9:05 a.m.", datetime(2024, 1, 20, 9, 5)),
        ("1/20/24, 9:05 p.m.", datetime(2024, 1, 20, 21, 5)),
        (f"1/20/24, 9:05{NBSP}p.{NBSP}m.", datetime(2024, 1, 20, 21, 5)),
        ("1/20/24, 09:05 p. m.", datetime(2024, 1, 20, 21, 5)),
        ("1/20/24, 9:05 pm", datetime(2024, 1, 20, 21, 5)),
        ("1/20/24 21:05", datetime(2024, 1, 20, 21, 5)),
    ],
)
def test_android_clocks(stamp: str, expected: datetime) -> None:
    [entry] = messages(f"{stamp} - Ana: hi\n")
    assert entry.time == expected


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("[20/01/2024, 21:05:09]", datetime(2024, 1, 20, 21, 5, 9)),
        (f"[1/20/24, 9:05:09{NNBSP}PM]", datetime(2024, 1, 20, 21, 5, 9)),
        ("[20.01.24, 21:05:09]", datetime(2024, 1, 20, 21, 5, 9)),
        ("[2024-01-20, 21:05:09]", datetime(2024, 1, 20, 21, 5, 9)),
        ("[20/01/24 21:05]", datetime(2024, 1, 20, 21, 5)),
    ],
)
def test_ios_clocks_and_date_forms(stamp: str, expected: datetime) -> None:
    [entry] = messages(f"{LRM}{stamp} Ana: hi\n")
    assert entry.time == expected


def test_german_dotted_dates_android() -> None:
    [entry] = messages("20.01.24, 21:05 - Ana: hallo\n")
    assert entry.time == datetime(2024, 1, 20, 21, 5)


def test_ambiguous_file_needs_the_order_and_says_so() -> None:
    text = "01/02/24, 10:00 - Ana: one\n03/04/24, 10:00 - Ana: two\n"
    with pytest.raises(chat_export.MalformedExport, match=r"DMY and MDY.*--date-order"):
        chat_export.parse(text)
    assert [e.time.month for e in messages(text, DateOrder.DMY)] == [2, 4]
    assert [e.time.month for e in messages(text, DateOrder.MDY)] == [1, 3]


def test_time_order_decides_when_every_date_fits_both() -> None:
    # Both dates are real either way; day-first they are in time order (12 Jan, 1 Feb), month-first not (1 Dec,
    # then 2 Jan of the same year): an export is written in time order, so day-first it is.
    text = "12/01/24, 10:00 - Ana: a\n01/02/24, 10:00 - Ana: b\n"
    assert chat_export.parse(text).order is DateOrder.DMY  # MDY: 1 Dec then 2 Jan, out of order


def test_given_order_that_does_not_fit_is_refused() -> None:
    with pytest.raises(chat_export.MalformedExport, match="do not fit the order MDY"):
        chat_export.parse("20/01/24, 10:00 - Ana: a\n25/01/24, 10:00 - Ana: b\n", DateOrder.MDY)


@pytest.mark.parametrize(
    ("body", "attachment", "text"),
    [
        ("IMG-20240120-WA0001.jpg (file attached)", "IMG-20240120-WA0001.jpg", ""),
        ("VID-20240120-WA0002.mp4 (archivo adjunto)\nmira", "VID-20240120-WA0002.mp4", "mira"),
        ("PTT-20240120-WA0003.opus (Datei angehängt)", "PTT-20240120-WA0003.opus", ""),
        ("Invoice March.pdf (fichier joint)", "Invoice March.pdf", ""),
        ("STK-20240120-WA0004.webp (liite)", "STK-20240120-WA0004.webp", ""),
        (f"{LRM}<adjunto: 00000005-PHOTO-2024-01-20-10-00-00.jpg>", "00000005-PHOTO-2024-01-20-10-00-00.jpg", ""),
        (f"{LRM}<anexado: 00000006-Contract.pdf>", "00000006-Contract.pdf", ""),
    ],
)
def test_attachment_styles(body: str, attachment: str, text: str) -> None:
    [entry] = messages(f"20/01/2024, 10:00 - Ana: {body}\n")
    assert (entry.attachment, entry.text) == (attachment, text)


@pytest.mark.parametrize(
    "body",
    ["<Media omitted>", "<Multimedia omitido>", "<Medien ausgelassen>", f"{LRM}video omitted", f"{LRM}imagen omitida"],
)
def test_media_omitted_in_languages(body: str) -> None:
    [entry] = chat_export.parse(f"20/01/2024, 10:00 - Ana: {body}\n").entries
    assert entry.kind is Kind.MEDIA_OMITTED and entry.author == "Ana"


@pytest.mark.parametrize(
    "body", ["Se eliminó este mensaje", "Eliminaste este mensaje.", f"{LRM}You deleted this message."]
)
def test_deleted_in_languages(body: str) -> None:
    [entry] = chat_export.parse(f"20/01/2024, 10:00 - Ana: {body}\n").entries
    assert entry.kind is Kind.DELETED


def test_text_that_reads_like_a_marker_without_the_ios_mark_is_a_message() -> None:
    [entry] = chat_export.parse("[20/01/2024, 10:00:00] Ana: Ana added Bob\n").entries
    assert (entry.kind, entry.author, entry.text) == (Kind.MESSAGE, "Ana", "Ana added Bob")


def test_bad_lines_are_skipped_with_their_numbers() -> None:
    text = "junk before\n20/01/2024, 10:00 - Ana: a\n31/02/2024, 10:00 - Ana: not a day\n20/01/2024, 25:00 - Ana: b\n"
    parsed = chat_export.parse(text)
    assert [(s.line, s.reason) for s in parsed.skipped] == [(1, "text before the first message (no date and time)")]
    # A line with a date that does not exist is kept as text of the message above: nothing is lost.
    assert parsed.entries[0].text == "a\n31/02/2024, 10:00 - Ana: not a day\n20/01/2024, 25:00 - Ana: b"


def test_bad_lines_before_any_message_are_skipped_with_why() -> None:
    parsed = chat_export.parse("20/01/2024, 25:00 - Ana: b\n20/01/2024, 10:00 - Ana: a\n")
    assert [(s.line, s.reason) for s in parsed.skipped] == [(1, "'25:00' is not a time")]


@pytest.mark.parametrize("text", ["", "\n\n", "hello\nworld\n", "name,number\nAna,+34612345678\n"])
def test_not_an_export(text: str) -> None:
    with pytest.raises(chat_export.MalformedExport, match="not a WhatsApp chat export"):
        chat_export.parse(text)


def test_windows_line_ends_and_byte_order_mark() -> None:
    text = "\ufeff20/01/2024, 10:00 - Ana: a\r\nsecond line\r\n21/01/2024, 10:00 - Bo: b\r\n"
    assert [(e.author, e.text) for e in messages(text)] == [("Ana", "a\nsecond line"), ("Bo", "b")]


def test_right_to_left_marks_around_the_frame_and_author() -> None:
    rlm = "\u200f"
    text = f"{rlm}20/01/2024, 10:00 - {rlm}أحمد{rlm}: مرحبا\n{rlm}21/01/2024, 10:01 - Ana: hi\n"
    got = [(e.author, e.text, e.time.day) for e in messages(text)]
    assert got == [("أحمد", "مرحبا", 20), ("Ana", "hi", 21)]


def test_a_members_missed_call_does_not_name_the_group() -> None:
    text = (
        f"[03/02/24, 09:00:00] Ana: {LRM}Missed voice call\n"
        f"[03/02/24, 10:00:02] Friends: {LRM}Ana added Bob\n"
        "[13/02/24, 10:01:00] Ana: Hi all\n"
    )
    assert chat_export.survey(text.split("\n")).chat == "Friends"
    one_to_one = (
        f"[03/02/24, 09:00:00] Ana: {LRM}Messages and calls are end-to-end encrypted.\n[13/02/24, 10:01:00] Ana: Hi\n"
    )
    assert chat_export.survey(one_to_one.split("\n")).chat == "Ana"
