"""``/api/v1/reports``: report definitions (``automations/report_definition.py``) beside the ones in
``wahub.toml``, their runs, and a run on request: queued for the worker (``automations/reports.py``), which
builds, stores and sends it; the web process never builds one; and its schedules (``/{name}/schedules``: rows of
``/api/v1/schedules`` whose message is ``{"report": NAME}``). Admins and API keys (``send`` to write,
``read`` to read); agents get 403."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from wahub import errors
from wahub.api import schemas
from wahub.api.deps import Ctx, Overseer, ReadSession, Sender
from wahub.api.routes.schedules import ScheduleOut
from wahub.automations import report_definition
from wahub.automations.report_definition import Definition
from wahub.automations.schedules import report_message
from wahub.store import db, reports, schedules
from wahub.store.models import ReportRun

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


async def _writer(principal: Sender) -> None:
    if not principal.sees_every_conversation:
        raise errors.Forbidden("reports span every conversation: they are for admins and API keys with 'send'")


Writer = Annotated[None, Depends(_writer)]


class ReportIn(Definition):
    name: str = Field(min_length=1, max_length=64, description="letters, digits, '_', '.', '-'")


class ReportOut(BaseModel):
    name: str
    origin: str = Field(description="config (wahub.toml: changed there) or api")
    definition: dict[str, Any]


class RunOut(BaseModel):
    id: int
    report: str
    trigger: str = Field(description="cli, api or schedule")
    state: str = Field(description="queued, running, done or failed")
    attempts: int
    run_at: datetime = Field(description="when it is (or was) due")
    started_at: datetime | None
    finished_at: datetime | None
    storage_key: str | None = Field(description="where its file is in the storage backend")
    size: int | None
    message_ids: list[int] = Field(description="the messages it queued (follow them at /api/v1/messages/{id})")
    error: str | None = Field(description="why it failed; for a run done, the recipients it could not reach")

    @classmethod
    def of(cls, run: ReportRun) -> RunOut:
        return cls(
            id=run.id,
            report=run.report,
            trigger=run.trigger,
            state=run.state,
            attempts=run.attempts,
            run_at=run.run_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            storage_key=run.storage_key,
            size=run.size,
            message_ids=list(run.message_ids or []),
            error=run.error,
        )


def _configured(ctx: Ctx, name: str) -> ReportOut | None:
    definition = report_definition.configured(ctx.settings.reports, name)
    return None if definition is None else ReportOut(name=name, origin="config", definition=definition.model_dump())


async def _one(ctx: Ctx, session: ReadSession, name: str) -> ReportOut:
    found = _configured(ctx, name)
    if found is not None:
        return found
    stored = await reports.find(session, name)
    if stored is None:
        raise errors.NotFound(f"report '{name}' does not exist")
    return ReportOut(name=name, origin="api", definition=stored.definition)


@router.post("", status_code=201, response_model=ReportOut)
async def create_report(body: ReportIn, ctx: Ctx, _who: Writer) -> ReportOut:
    """A report. Its source is read when it runs: a database name not in [report_databases], a file that is
    not there, a query that writes, fail that run (recorded in its runs)."""
    name = report_definition.check_name(body.name)
    if name in ctx.settings.reports:
        raise errors.Conflict(f"report '{name}' is defined in wahub.toml: change it there")
    definition = Definition.model_validate(body.model_dump(exclude={"name"})).model_dump()
    async with db.transaction(ctx.sessions) as session:
        await reports.create(session, name, definition)
    return ReportOut(name=name, origin="api", definition=definition)


@router.get("", response_model=list[ReportOut])
async def list_reports(ctx: Ctx, session: ReadSession, _who: Overseer) -> list[ReportOut]:
    """Every report: wahub.toml's, then the API's, by name."""
    found = [r for r in (_configured(ctx, n) for n in sorted(ctx.settings.reports)) if r is not None]
    stored = [ReportOut(name=r.name, origin="api", definition=r.definition) for r in await reports.list_all(session)]
    return found + [r for r in stored if r.name not in ctx.settings.reports]


@router.get("/{name}", response_model=ReportOut)
async def get_report(name: str, ctx: Ctx, session: ReadSession, _who: Overseer) -> ReportOut:
    return await _one(ctx, session, name)


@router.delete("/{name}", status_code=204)
async def delete_report(
    name: str,
    ctx: Ctx,
    _who: Writer,
    with_schedules: Annotated[bool, Query(description="delete its schedules with it (else: 409 naming them)")] = False,
) -> Response:
    """A report made through the API; its runs and the messages they queued stay. A report with schedules is a
    409 naming them (each firing would run a report that no longer exists): delete them first, or with it."""
    if name in ctx.settings.reports:
        raise errors.Conflict(f"report '{name}' is defined in wahub.toml: remove it there")
    async with db.transaction(ctx.sessions) as session:
        await reports.delete(session, name, with_schedules=with_schedules)
    return Response(status_code=204)


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"cron": "0 8 * * 1", "tz": "UTC"}]})

    cron: str = Field(
        min_length=1, max_length=120, description="five fields: minute hour day-of-month month day-of-week"
    )
    tz: str = Field(default="UTC", min_length=1, max_length=64, description="an IANA time zone, e.g. Europe/Madrid")
    name: str | None = Field(default=None, max_length=100, description="default: 'report NAME'")


@router.post("/{name}/schedules", status_code=201, response_model=ScheduleOut)
async def schedule_report(name: str, body: ScheduleIn, ctx: Ctx, _who: Writer) -> ScheduleOut:
    """Run the report at the times a cron expression names in a time zone, as ``wahub report schedule`` does:
    each firing queues a run for the worker (retried when it fails; GET /api/v1/reports/{name}/runs). Its
    firings, pause and resume are at /api/v1/schedules/{id}, where it is listed with the other schedules."""
    async with db.transaction(ctx.sessions) as session:
        await _one(ctx, session, name)
        made = await schedules.create(
            session,
            cron_expression=body.cron,
            tz=body.tz,
            message=report_message(name),
            name=body.name or f"report {name}",
        )
        return ScheduleOut.of(made)


@router.get("/{name}/schedules", response_model=list[ScheduleOut])
async def list_report_schedules(name: str, ctx: Ctx, session: ReadSession, _who: Overseer) -> list[ScheduleOut]:
    """The report's schedules, oldest first (also those of a report since removed from wahub.toml)."""
    found = await schedules.of_report(session, name)
    if not found:
        await _one(ctx, session, name)
    return [ScheduleOut.of(s) for s in found]


@router.delete("/{name}/schedules/{schedule_id}", status_code=204)
async def delete_report_schedule(name: str, schedule_id: schemas.Id, ctx: Ctx, _who: Writer) -> Response:
    """The schedule and its history; the runs it queued stay."""
    async with db.transaction(ctx.sessions) as session:
        schedule = await schedules.get(session, schedule_id)
        if schedule.message.get("report") != name:
            raise errors.NotFound(f"schedule {schedule_id} does not run report '{name}'")
        await schedules.delete(session, schedule_id)
    return Response(status_code=204)


@router.post("/{name}/run", status_code=202, response_model=RunOut)
async def run_report(name: str, ctx: Ctx, _who: Writer) -> RunOut:
    """Queue a run now: the worker builds the file, stores it and queues its sends; follow it at
    GET /api/v1/reports/{name}/runs."""
    async with db.transaction(ctx.sessions) as session:
        await _one(ctx, session, name)
        return RunOut.of(await reports.queue_run(session, name, "api"))


@router.get("/{name}/runs", response_model=list[RunOut])
async def list_runs(name: str, ctx: Ctx, session: ReadSession, _who: Overseer) -> list[RunOut]:
    """The latest runs, newest first."""
    if (
        _configured(ctx, name) is None
        and await reports.find(session, name) is None
        and not await reports.runs(session, name, 1)
    ):
        raise errors.NotFound(f"report '{name}' does not exist")
    return [RunOut.of(r) for r in await reports.runs(session, name)]
