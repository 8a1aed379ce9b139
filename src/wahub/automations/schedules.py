"""Firing recurring schedules (``store/schedules.py``): one more job kind on the shared claim/lease path, run
by the worker in the sender's loop before each of its steps (``runner.Worker``), so a schedule's message is
queued and then sent by the same loop, with no scheduler loop of its own.

A firing queues the schedule's message exactly as ``POST /api/v1/messages`` would (``sending/service.py`` and
``store/outbound.py``: the sender account, the recipient, the 24-hour window), records it in the schedule's
history with the message's id, or with the reason nothing was queued (a window closed, an account removed),
and moves the schedule to its next time. A refusal is the firing's outcome, not a retry: the next time comes
as planned. Any other failure (the database) is retried as any job is (``worker/retry.py``'s
``SCHEDULE_FIRING``), the due time kept, then recorded as not sent. A report schedule (``wahub report schedule``)
fires the same way, its firing queueing a run of its report (``automations/reports.py``) instead of a message."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import domain, errors
from wahub.sending import service
from wahub.sending.request import SendRequest
from wahub.store import db, outbound, reports, schedules
from wahub.store.models import Schedule, utcnow
from wahub.worker import retry

log = logging.getLogger(__name__)

BATCH = 20  # schedules fired per transaction
LEASE = timedelta(minutes=2)  # a claim left by a worker that died is taken again after this
# Seconds between two looks for due schedules (their times are minutes): the sender's loop runs a step per
# batch of sends, and a look that found something takes the write lock, which the webhook path needs too.
EVERY = 1.0


def stored(request: SendRequest) -> dict[str, Any]:
    """What a schedule keeps of the message it sends (``request``, checked by the API's send schema)."""
    return {
        "to": request.to,
        "type": request.type.value,
        "content": request.content,
        "group": request.group,
        "sender": request.sender,
        "reply_to": request.reply_to,
        "callback_data": request.callback_data,
        "entities": [list(e) for e in request.entities],
    }


def request_of(message: dict[str, Any]) -> SendRequest:
    return SendRequest(
        to=message["to"],
        type=domain.MessageType(message["type"]),
        content=message["content"],
        group=bool(message.get("group")),
        sender=message.get("sender"),
        reply_to=message.get("reply_to"),
        callback_data=message.get("callback_data"),
        entities=tuple((e[0], e[1]) for e in message.get("entities") or ()),
    )


class ScheduleFirer:
    """``clock``: now, in UTC (tests move it)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
        batch: int = BATCH,
        lease: timedelta = LEASE,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._batch = batch
        self._lease = lease
        self._last = -EVERY

    async def run_due(self) -> None:
        """Fire every due schedule, if the last look was ``EVERY`` ago or more (``runner.Worker`` runs this
        before each of the sender's steps)."""
        if time.monotonic() - self._last < EVERY:
            return
        self._last = time.monotonic()
        while await self.run_once() == self._batch:
            pass

    async def run_once(self) -> int:
        """Fire up to ``batch`` due schedules in one transaction; returns how many. A read first: with nothing
        due, no write transaction is begun."""
        now = self._clock()
        async with self._sessions() as session:
            if not await schedules.due_count(session, now):
                return 0
        async with db.transaction(self._sessions) as session:
            due = await schedules.claim(session, self._batch, self._lease, now)
            for schedule in due:
                try:
                    message_id, error = await _queue(session, schedule)
                except Exception as exc:  # not the message's fault: tried again later, as any job
                    later = retry.decide(exc, schedule.attempts, retry.SCHEDULE_FIRING, now)
                    if later is not None:
                        log.warning("schedule %s: firing failed, tried again in %.0f s", schedule.id, later.delay)
                        await schedules.later(session, schedule, later.when, repr(exc))
                        continue
                    message_id, error = None, f"not sent: {exc!r}"
                await schedules.fired(session, schedule, now, message_id=message_id, error=error)
        if due:
            log.info("fired schedules", extra={"schedules": [s.id for s in due]})
        return len(due)


def report_message(name: str) -> dict[str, Any]:
    """What a report schedule keeps in place of a message (``wahub report schedule``): the report's name."""
    return {"report": name}


async def _queue(session: AsyncSession, schedule: Schedule) -> tuple[int | None, str | None]:
    """The schedule's message queued: its id, or why it was not. A report schedule queues a run of its report
    instead (``store/reports.py``), which the worker's report runner builds and sends; its firing names no
    message."""
    report = schedule.message.get("report")
    if isinstance(report, str):
        await reports.queue_run(session, report, "schedule", schedule.next_run_at)
        return None, None
    try:
        async with session.begin_nested():
            prepared = await service.prepare(session, request_of(schedule.message))
            (result,) = await outbound.queue_many(session, [prepared])
            if isinstance(result, errors.WindowClosed):
                raise result
            return result[0].id, None
    except errors.WahubError as exc:
        return None, exc.message
