"""When a recurring schedule fires: a cron expression read by ``croniter`` in a time zone from ``zoneinfo``.
No I/O.

The expression is walked in the zone's wall-clock time, and each wall-clock time is turned into an instant with
``zoneinfo``'s rules (PEP 495, ``fold=0``):

- a time that does not exist (02:30 on the day Europe/Madrid springs forward from 02:00 to 03:00) is taken as the
  same time on the clock before the change, which is 03:30 of the new one: the schedule still fires that day, an
  hour later by the clock;
- a time that happens twice (02:30 on the day the clocks go back) fires once, at its first occurrence;
- two wall-clock times that fall on one instant (02:00 and 03:00 on the spring-forward day) fire once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

# Looking further ahead than this for the next time means the expression never matches (``30 2 31 2 *``).
HORIZON = timedelta(days=366 * 5)


class CronError(ValueError):
    """An expression croniter cannot read, or a time zone zoneinfo does not know."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Madrid``, ``UTC``)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(f"unknown time zone {name!r} (an IANA name such as Europe/Madrid or UTC)") from None


def check(expression: str, tz: str) -> None:
    """Raises ``CronError`` unless ``expression`` is a five-field cron expression that matches some time."""
    zone(tz)
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise CronError(
            f"not a cron expression: {expression!r} (five fields: minute hour day-of-month month day-of-week, "
            "e.g. '0 8 * * 1-5')"
        )
    if next_after(expression, tz, datetime.now(tz=UTC)) is None:
        raise CronError(f"the cron expression {expression!r} never matches a date")


def next_after(expression: str, tz: str, after: datetime) -> datetime | None:
    """The first instant strictly after ``after`` (aware) that ``expression`` names in ``tz``, in UTC; None if
    there is none within ``HORIZON``."""
    where = zone(tz)
    wall = after.astimezone(where).replace(tzinfo=None)
    # Start an hour back on the clock: a wall time skipped forward may still map to an instant after ``after``.
    times = croniter(expression, wall - timedelta(hours=1))
    limit = wall + HORIZON
    while True:
        try:
            candidate: datetime = times.get_next(datetime)
        except CroniterBadDateError:  # croniter gave up looking
            return None
        if candidate > limit:
            return None
        instant = candidate.replace(tzinfo=where, fold=0).astimezone(UTC)
        if instant > after:
            return instant
