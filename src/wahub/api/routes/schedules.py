"""``/api/v1/schedules``: recurring messages, sent at the times a cron expression names in a time zone
(``store/schedules.py``; fired by the worker, ``automations/schedules.py``), and the history of their firings.
They span every conversation: admins and API keys (``send`` to write, ``read`` to read); agents get 403."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from wahub import errors
from wahub.api import schemas
from wahub.api.deps import Ctx, Overseer, ReadSession, Sender
from wahub.automations.schedules import stored
from wahub.sending import service
from wahub.store import db, schedules
from wahub.store.models import Schedule, ScheduleFiring

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"])

FREE_FORM = (
    "a free-form message is sent only while the contact's 24-hour window is open: a firing when it is closed "
    "queues nothing and its history says why; send a template to reach the contact any time"
)


async def _writer(principal: Sender) -> None:
    if not principal.sees_every_conversation:
        raise errors.Forbidden("schedules span every conversation: they are for admins and API keys with 'send'")


Writer = Annotated[None, Depends(_writer)]


class ScheduleIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "cron": "0 8 * * 1-5",
                    "tz": "Europe/Madrid",
                    "message": {"to": "+14155550101", "type": "template", "template": {"name": "hello_world"}},
                }
            ]
        },
    )

    name: str | None = Field(default=None, max_length=100)
    cron: str = Field(
        min_length=1, max_length=120, description="five fields: minute hour day-of-month month day-of-week"
    )
    tz: str = Field(default="UTC", min_length=1, max_length=64, description="an IANA time zone, e.g. Europe/Madrid")
    message: schemas.SendMessage = Field(description="what to send each time, as POST /api/v1/messages takes it")


class FiringOut(BaseModel):
    due_at: datetime
    fired_at: datetime
    message_id: int | None = Field(description="the message it queued (follow it at /api/v1/messages/{id})")
    error: str | None = Field(description="why no message was queued (a closed window, a sender removed)")

    @classmethod
    def of(cls, firing: ScheduleFiring) -> FiringOut:
        return cls(due_at=firing.due_at, fired_at=firing.fired_at, message_id=firing.message_id, error=firing.error)


class ScheduleOut(BaseModel):
    id: int
    name: str | None
    cron: str
    tz: str
    state: str = Field(description="active or paused")
    next_run_at: datetime | None = Field(description="when it fires next (UTC); none while paused")
    message: dict[str, object] = Field(
        description='what it sends: recipient, type and content; a report schedule: {"report": NAME}'
    )
    last_error: str | None
    created_at: datetime
    history: list[FiringOut] | None = Field(default=None, description="its latest firings, newest first")
    warnings: list[str] = Field(default_factory=list, description="what may keep its messages from being sent")

    @classmethod
    def of(cls, schedule: Schedule, history: list[ScheduleFiring] | None = None) -> ScheduleOut:
        return cls(
            id=schedule.id,
            name=schedule.name,
            cron=schedule.cron,
            tz=schedule.tz,
            state=schedule.state,
            next_run_at=schedule.next_run_at if schedule.state == schedules.State.ACTIVE.value else None,
            message=schedule.message,
            last_error=schedule.last_error,
            created_at=schedule.created_at,
            history=None if history is None else [FiringOut.of(f) for f in history],
        )


@router.post("", status_code=201, response_model=ScheduleOut)
async def create_schedule(body: ScheduleIn, ctx: Ctx, _who: Writer) -> ScheduleOut:
    """A recurring message. A cron expression or a time zone that cannot be read is a 422. Each firing queues
    the message as a send would: a free-form message whose 24-hour window is closed by then is not sent, and the
    firing's history says why (send a template)."""
    if body.message.send_at is not None:
        raise errors.InvalidInput("message.send_at: a schedule sends at its cron times", field="message.send_at")
    request = body.message.to_request()
    async with db.transaction(ctx.sessions) as session:
        await service.prepare(session, request)  # the sender account and the recipient, checked as a send's
        schedule = await schedules.create(
            session, cron_expression=body.cron, tz=body.tz, message=stored(request), name=body.name
        )
        out = ScheduleOut.of(schedule)
    if request.free_form:
        out.warnings.append(FREE_FORM)
    return out


@router.get("", response_model=list[ScheduleOut])
async def list_schedules(session: ReadSession, _who: Overseer) -> list[ScheduleOut]:
    return [ScheduleOut.of(s) for s in await schedules.list_all(session)]


@router.get("/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(
    schedule_id: schemas.Id,
    session: ReadSession,
    _who: Overseer,
    limit: Annotated[int, Query(ge=1, le=500, description="firings of its history")] = 100,
) -> ScheduleOut:
    """A schedule with its history: each firing, the message it queued or why none was."""
    schedule = await schedules.get(session, schedule_id)
    return ScheduleOut.of(schedule, await schedules.history(session, schedule_id, limit))


@router.post("/{schedule_id}/pause", response_model=ScheduleOut)
async def pause_schedule(schedule_id: schemas.Id, ctx: Ctx, _who: Writer) -> ScheduleOut:
    async with db.transaction(ctx.sessions) as session:
        return ScheduleOut.of(await schedules.pause(session, schedule_id))


@router.post("/{schedule_id}/resume", response_model=ScheduleOut)
async def resume_schedule(schedule_id: schemas.Id, ctx: Ctx, _who: Writer) -> ScheduleOut:
    """Fires again from its next time after now; the times it missed while paused are not made up."""
    async with db.transaction(ctx.sessions) as session:
        return ScheduleOut.of(await schedules.resume(session, schedule_id))


@router.delete("/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: schemas.Id, ctx: Ctx, _who: Writer) -> Response:
    """The schedule and its history; the messages it queued stay."""
    async with db.transaction(ctx.sessions) as session:
        await schedules.delete(session, schedule_id)
    return Response(status_code=204)
