"""``cron.next_after``: croniter walked in a zoneinfo time zone, through daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wahub import cron


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekday_mornings_in_madrid_follow_its_offset() -> None:
    assert cron.next_after("0 8 * * 1-5", "Europe/Madrid", utc(2026, 12, 4, 9)) == utc(2026, 12, 7, 7)  # Fri -> Mon
    assert cron.next_after("0 8 * * 1-5", "Europe/Madrid", utc(2026, 7, 1, 9)) == utc(2026, 7, 2, 6)  # CEST


def test_spring_forward_a_skipped_time_fires_an_hour_later_by_the_clock() -> None:
    # 29 March 2026: 02:00 CET -> 03:00 CEST. 02:30 does not exist: 03:30 CEST (01:30 UTC).
    assert cron.next_after("30 2 * * *", "Europe/Madrid", utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 1, 30)
    # Hourly: 02:00 and 03:00 are one instant that day, fired once.
    assert cron.next_after("0 * * * *", "Europe/Madrid", utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 29, 1)
    assert cron.next_after("0 * * * *", "Europe/Madrid", utc(2026, 3, 29, 1)) == utc(2026, 3, 29, 2)


def test_fall_back_a_repeated_time_fires_once() -> None:
    # 25 October 2026: 03:00 CEST -> 02:00 CET. 02:30 happens at 00:30 and 01:30 UTC: only the first.
    assert cron.next_after("30 2 * * *", "Europe/Madrid", utc(2026, 10, 24, 12)) == utc(2026, 10, 25, 0, 30)
    assert cron.next_after("30 2 * * *", "Europe/Madrid", utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 26, 1, 30)


@pytest.mark.parametrize(
    ("expression", "tz", "says"),
    [
        ("0 8 * *", "UTC", "not a cron expression"),
        ("0 8 * * * *", "UTC", "not a cron expression"),
        ("0 25 * * *", "UTC", "not a cron expression"),
        ("0 8 31 2 *", "UTC", "never matches"),
        ("0 8 * * *", "Europe/Nowhere", "unknown time zone"),
        ("0 8 * * *", "../etc/passwd", "unknown time zone"),
    ],
)
def test_what_cannot_be_read_is_refused(expression: str, tz: str, says: str) -> None:
    with pytest.raises(cron.CronError, match=says):
        cron.check(expression, tz)
