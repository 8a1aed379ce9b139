"""Report schedules through the API (``/api/v1/reports/{name}/schedules``): made, listed, deleted, shown among
``/api/v1/schedules``; and a report with schedules refused deletion (409 naming them) unless they go with it, so
no schedule is left firing runs of a report that no longer exists (one of a report removed from wahub.toml fails
its runs naming itself)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from wahub.api.context import AppContext
from wahub.automations.reports import ReportRunner
from wahub.automations.schedules import ScheduleFirer, report_message
from wahub.store import db, reports, schedules
from wahub.store.models import ReportRun, Schedule


async def _report(client: httpx.AsyncClient, tmp_path: Path, name: str = "orders") -> None:
    path = tmp_path / "orders.csv"
    path.write_text("item,qty\napples,3\n")
    body = {"name": name, "source": "csv", "path": str(path), "to": ["+14155550101"]}
    assert (await client.post("/api/v1/reports", json=body)).status_code == 201


async def test_a_report_schedule_is_made_listed_and_deleted_through_the_api(
    client: httpx.AsyncClient, ctx: AppContext, tmp_path: Path
) -> None:
    await _report(client, tmp_path)
    made = await client.post("/api/v1/reports/orders/schedules", json={"cron": "0 9 * * 1", "tz": "Europe/Madrid"})
    assert made.status_code == 201, made.text
    schedule = made.json()
    assert schedule["message"] == {"report": "orders"} and schedule["name"] == "report orders"
    assert schedule["state"] == "active" and schedule["next_run_at"]
    listed = (await client.get("/api/v1/reports/orders/schedules")).json()
    assert [s["id"] for s in listed] == [schedule["id"]]
    assert [s["id"] for s in (await client.get("/api/v1/schedules")).json()] == [schedule["id"]]

    # what fires is a run of the report, as the CLI's schedules do
    async with ctx.sessions() as session:
        row = await session.get(Schedule, schedule["id"])
        assert row is not None and row.next_run_at is not None
        due = row.next_run_at
    assert await ScheduleFirer(ctx.sessions, clock=lambda: due.replace(tzinfo=UTC)).run_once() == 1
    async with ctx.sessions() as session:
        (run,) = (await session.scalars(sa.select(ReportRun))).all()
    assert run.report == "orders" and run.trigger == "schedule"

    other = await client.post("/api/v1/schedules/0/pause")  # an id no row has: as before
    assert other.status_code == 404
    wrong = await client.delete(f"/api/v1/reports/nope/schedules/{schedule['id']}")
    assert wrong.status_code == 404 and "does not run report 'nope'" in wrong.text
    assert (await client.delete(f"/api/v1/reports/orders/schedules/{schedule['id']}")).status_code == 204
    assert (await client.get("/api/v1/reports/orders/schedules")).json() == []
    gone = await client.delete(f"/api/v1/reports/orders/schedules/{schedule['id']}")
    assert gone.status_code == 404


async def test_bad_report_schedules_are_refused_with_the_field_named(client: httpx.AsyncClient, tmp_path: Path) -> None:
    await _report(client, tmp_path)
    missing = await client.post("/api/v1/reports/nope/schedules", json={"cron": "0 9 * * *"})
    assert missing.status_code == 404 and "report 'nope' does not exist" in missing.text
    bad_cron = await client.post("/api/v1/reports/orders/schedules", json={"cron": "61 * * * *"})
    assert bad_cron.status_code == 422 and bad_cron.json()["error"]["details"]["field"] == "cron"
    bad_zone = await client.post("/api/v1/reports/orders/schedules", json={"cron": "0 9 * * *", "tz": "Mars/Base"})
    assert bad_zone.status_code == 422 and bad_zone.json()["error"]["details"]["field"] == "tz"
    extra = await client.post("/api/v1/reports/orders/schedules", json={"cron": "0 9 * * *", "to": "+1415"})
    assert extra.status_code == 422
    assert (await client.get("/api/v1/reports/nope/schedules")).status_code == 404
    assert (await client.get("/api/v1/reports/orders/schedules")).json() == []


async def test_a_report_with_schedules_is_not_deleted_unless_they_go_with_it(
    client: httpx.AsyncClient, ctx: AppContext, tmp_path: Path
) -> None:
    await _report(client, tmp_path)
    await _report(client, tmp_path, "kept")
    ids = [
        (await client.post("/api/v1/reports/orders/schedules", json={"cron": cron})).json()["id"]
        for cron in ("0 9 * * *", "0 18 * * *")
    ]
    kept = (await client.post("/api/v1/reports/kept/schedules", json={"cron": "0 9 * * *"})).json()["id"]

    refused = await client.delete("/api/v1/reports/orders")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["details"]["schedules"] == ids and f"({ids[0]}, {ids[1]})" in error["message"]
    assert "with_schedules=true" in error["message"]
    assert (await client.get("/api/v1/reports/orders")).status_code == 200  # nothing went

    assert (await client.delete("/api/v1/reports/orders?with_schedules=true")).status_code == 204
    assert (await client.get("/api/v1/reports/orders")).status_code == 404
    assert [s["id"] for s in (await client.get("/api/v1/schedules")).json()] == [kept]
    # nothing is left to fire a run of the report that went, however late it gets
    late = datetime(2100, 1, 1, tzinfo=UTC)
    assert await ScheduleFirer(ctx.sessions, clock=lambda: late).run_once() == 1  # 'kept''s only
    async with ctx.sessions() as session:
        assert (await session.scalars(sa.select(ReportRun.report))).all() == ["kept"]
    assert (await client.delete("/api/v1/reports/kept?with_schedules=false")).status_code == 409
    assert (await client.delete("/api/v1/reports/kept?with_schedules=maybe")).status_code == 422


async def test_a_schedule_of_a_report_gone_from_wahub_toml_fails_its_run_naming_itself(ctx: AppContext) -> None:
    async with db.transaction(ctx.sessions) as session:
        made = await schedules.create(session, cron_expression="0 9 * * *", tz="UTC", message=report_message("gone"))
        schedule_id, due = made.id, made.next_run_at
    assert due is not None
    clock = lambda: due.replace(tzinfo=UTC) + timedelta(seconds=1)  # noqa: E731
    assert await ScheduleFirer(ctx.sessions, clock=clock).run_once() == 1
    assert await ReportRunner(ctx.sessions, ctx.storage, ctx.settings, clock=clock).run_once() == 1
    async with ctx.sessions() as session:
        (run,) = await reports.runs(session, "gone")
    assert run.state == "failed" and run.attempts == 1  # not retried: it cannot get better by itself
    assert f"its schedules ({schedule_id}) still fire" in (run.error or "")
