"""Read receipts: an inbound message marked read is an outbox job of its own (``outbox_jobs``, one row per
message), sent by the sender like a message; ``read_typing`` also shows the customer the typing indicator."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import upsert
from wahub.store.models import OutboxJob, utcnow
from wahub.store.outbox import JobKind, JobState

# Meta shows the typing indicator for up to 25 s (or until the answer), so asking again sooner adds nothing.
# https://developers.facebook.com/docs/whatsapp/cloud-api/typing-indicators
TYPING_EVERY = timedelta(seconds=20)


async def queue(session: AsyncSession, message_id: int, account_id: int, *, typing: bool) -> tuple[OutboxJob, bool]:
    """The read receipt of an inbound message, queued if it has none; returns it, locked, and whether it is new.
    Two requests for one message at once (every tab of the inbox that shows it marks it read) queue one: the
    second insert waits for the first to commit and does nothing, then reads that one."""
    kind = JobKind.READ_TYPING if typing else JobKind.READ
    values = {
        "message_id": message_id,
        "account_id": account_id,
        "kind": kind.value,
        "state": JobState.PENDING.value,
        "run_at": utcnow(),
    }
    return await upsert.locked_row(session, OutboxJob, values, OutboxJob.message_id == message_id)


def show_typing(job: OutboxJob, now: datetime) -> None:
    """Have the read receipt ``job`` (an inbound message's) show the customer the typing indicator: a pending one
    takes it along; a settled one is sent again with it (its one row per message), unless it showed the
    indicator less than ``TYPING_EVERY`` ago: someone typing asks again and again. One being sent is left as
    it is."""
    if job.kind == JobKind.SEND.value or job.state == JobState.RUNNING.value:
        return
    if job.state == JobState.PENDING.value:
        job.kind = JobKind.READ_TYPING.value
        return
    if job.kind == JobKind.READ_TYPING.value and job.run_at > now - TYPING_EVERY:
        return
    job.kind = JobKind.READ_TYPING.value
    job.state = JobState.PENDING.value
    job.run_at = job.updated_at = now
    job.attempts = 0
    job.last_error = job.locked_by = None
    job.locked_until = None
