"""``/api/v1/reports``: report definitions (``automations/report_definition.py``) beside the ones in
``wahub.toml``, their runs, and a run on request: queued for the worker (``automations/reports.py``), which
builds, stores and sends it; the web process never builds one. Admins and API keys (``send`` to write,
``read`` to read); agents get 403."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from wahub import errors
from wahub.api.deps import Ctx, Overseer, ReadSession, Sender
from wahub.automations import report_definition
from wahub.automations.report_definition import Definition
from wahub.store import db, reports
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
async def delete_report(name: str, ctx: Ctx, _who: Writer) -> Response:
    """A report made through the API; its runs and the messages they queued stay. A schedule of it fails its
    runs from then on (remove it with DELETE /api/v1/schedules/{id})."""
    if name in ctx.settings.reports:
        raise errors.Conflict(f"report '{name}' is defined in wahub.toml: remove it there")
    async with db.transaction(ctx.sessions) as session:
        await reports.delete(session, name)
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
