"""``wahub campaign``: a template sent to an audience, as ``/api/v1/campaigns`` (a running 'wahub serve' sends
it), with its progress and an export of its results."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wahub import errors
from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession

    from wahub.commands import Store
    from wahub.store.models import Campaign

app = typer.Typer(help="Campaigns: one template to many contacts, throttled by the outbox.", no_args_is_help=True)

CampaignId = Annotated[int, typer.Argument(help="The campaign's id (printed by wahub campaign create)")]
FOLLOW_EVERY = 0.5  # seconds between two reads of a followed campaign's totals
_PREFIXES = {"attribute:": "attribute", "column:": "column", "text:": "text"}


def _source(value: str) -> dict[str, str]:
    """A parameter's source as written on the command line: 'attribute:KEY', 'column:NAME', 'name' (the
    contact's), 'text:…' or any other text (literal)."""
    if value == "name":
        return {"contact": "name"}
    for prefix, kind in _PREFIXES.items():
        if value.startswith(prefix):
            return {kind: value[len(prefix) :]}
    return {"text": value}


def _audience(labels: list[str], numbers: list[str], csv_file: Path | None, entity: str | None) -> dict[str, Any]:
    if csv_file is not None:
        try:
            return {"csv": csv_file.read_text(encoding="utf-8-sig")}
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {csv_file}: {exc}", code=2)
    if entity is not None:
        kind, _, ident = entity.partition(":")
        if not kind or not ident:
            fail("--entity is TYPE:ID, e.g. deal:D-123", code=2)
        return {"entity": {"entity_type": kind, "entity_id": ident}}
    return {"labels": labels} if labels else {"numbers": numbers} if numbers else {}


@app.command(
    "create",
    epilog="Example: wahub campaign create --name 'Winter sale' --template seasonal_promotion --label vip "
    "--header-param 'Winter Sale' --param attribute:end_date --param name --param 20%",
)
@runs
async def create(
    name: Annotated[str, typer.Option(help="A name to recognise it by")],
    template: Annotated[str, typer.Option(help="An approved template's name")],
    language: Annotated[str, typer.Option(help="The template's language code")] = "en_US",
    label: Annotated[list[str] | None, typer.Option(help="Audience: contacts with this label (repeat: all)")] = None,
    number: Annotated[list[str] | None, typer.Option(help="Audience: this number in E.164 (repeat)")] = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Audience: a contacts CSV file (number, name, labels, attributes)")
    ] = None,
    entity: Annotated[str | None, typer.Option(help="Audience: contacts linked to TYPE:ID")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="A body parameter, in order: attribute:KEY, column:NAME, name, or text"),
    ] = None,
    header_param: Annotated[str | None, typer.Option(help="The header's parameter (same forms)")] = None,
    start_at: Annotated[str | None, typer.Option(help="Start then (ISO 8601 with a time zone) once started")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="phone_number_id to send from")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a draft campaign; its audience is resolved now. Prints its id on the last line."""
    from pydantic import ValidationError

    from wahub import commands
    from wahub.api.schemas.campaigns import CampaignIn
    from wahub.automations import campaigns

    parameters: dict[str, Any] = {}
    if header_param is not None:
        parameters["header"] = [_source(header_param)]
    if param:
        parameters["body"] = [_source(p) for p in param]
    raw = {
        "name": name,
        "template": {"name": template, "language": language},
        "audience": _audience(label or [], number or [], csv_file, entity),
        "parameters": parameters or None,
        "start_at": start_at,
        "account": sender,
    }
    try:
        body = CampaignIn.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}", code=2)
    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        try:
            made = await campaigns.create(
                session,
                name=body.name,
                sender=body.account,
                template=(body.template.name, body.template.language),
                audience=body.audience.model_dump(exclude_none=True),
                parameters=body.parameters.model_dump(exclude_none=True) if body.parameters else None,
                start_at=body.start_at,
            )
        except errors.WahubError as exc:
            fail(exc.message, code=2)
    say(f"created campaign {made.id} ({made.recipients} recipients), a draft: start it with 'wahub campaign start'")
    print(made.id)


async def _act(store: Store, campaign_id: int, action: str) -> Campaign:
    from wahub.automations import campaigns as running
    from wahub.store import campaigns

    acts: dict[str, Callable[[AsyncSession, int], Awaitable[Campaign]]] = {
        "start": campaigns.start,
        "pause": campaigns.pause,
        "resume": running.resume,
        "cancel": campaigns.cancel,
    }
    async with store.transaction() as session:
        try:
            return await acts[action](session, campaign_id)
        except errors.WahubError as exc:  # not found (2), or a state that does not allow it (1)
            fail(exc.message, code=2 if isinstance(exc, errors.NotFound) else 1)


async def _do(campaign_id: int, action: str, data_dir: Path | None, database_url: str | None) -> None:
    from wahub import commands

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        campaign = await _act(store, campaign_id, action)
    say(f"campaign {campaign.id}: {campaign.state}")


@app.command("start")
@runs
async def start(campaign_id: CampaignId, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Start a draft: now, or at its start time (a running 'wahub serve' sends it)."""
    await _do(campaign_id, "start", data_dir, database_url)


@app.command("pause")
@runs
async def pause(campaign_id: CampaignId, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Stop sending: its messages not yet taken by a sender are held."""
    await _do(campaign_id, "pause", data_dir, database_url)


@app.command("resume")
@runs
async def resume(campaign_id: CampaignId, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Go on where it stopped."""
    await _do(campaign_id, "resume", data_dir, database_url)


@app.command("cancel")
@runs
async def cancel(campaign_id: CampaignId, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """End it: the recipients not sent to yet are skipped."""
    await _do(campaign_id, "cancel", data_dir, database_url)


def _line(campaign: Campaign, totals: dict[str, int]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in totals.items() if k != "recipients")
    why = f" ({campaign.stopped_reason})" if campaign.stopped_reason else ""
    return f"campaign {campaign.id} {campaign.name}: {campaign.state}{why}; {totals['recipients']} recipients: {counts}"


@app.command("show")
@app.command("status")  # SPEC's word
@runs
async def show(
    campaign_id: CampaignId,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Draw its progress until it stops")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """A campaign's state and totals; with --follow, a progress bar of recipients done until it stops."""
    from rich.console import Console
    from rich.progress import Progress

    from wahub import commands
    from wahub.store import campaign_results, campaigns

    async def read(store: Store) -> tuple[Campaign, dict[str, int]]:
        async with store.sessions() as session:
            try:
                campaign = await campaigns.get(session, campaign_id)
            except errors.NotFound as exc:
                fail(exc.message, code=2)
            return campaign, await campaign_results.totals(session, campaign_id)

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        campaign, totals = await read(store)
        if follow:
            moving = (campaigns.State.SCHEDULED.value, campaigns.State.RUNNING.value)
            with Progress(console=Console(stderr=True)) as bar:
                task = bar.add_task(f"campaign {campaign_id}", total=totals["recipients"])
                while True:
                    bar.update(task, completed=totals["recipients"] - totals["pending"] - totals["queued"])
                    if campaign.state not in moving:
                        break
                    await asyncio.sleep(FOLLOW_EVERY)
                    campaign, totals = await read(store)
    print(_line(campaign, totals))


@app.command("export", epilog="Example: wahub campaign export 3 --out results.csv")
@runs
async def export(
    campaign_id: CampaignId,
    out: Annotated[Path, typer.Option(help="The CSV file to write ('-' for standard output)")] = Path("-"),
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Every recipient's result as CSV: number, name, result, reason, message id, wamid and times."""
    import csv
    import sys

    from wahub import commands
    from wahub.store import campaign_results, campaigns

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.sessions() as session:
        try:
            await campaigns.get(session, campaign_id)
        except errors.NotFound as exc:
            fail(exc.message, code=2)
        pages = await campaign_results.every(session, campaign_id)
    target = sys.stdout if str(out) == "-" else out.open("w", encoding="utf-8", newline="")
    try:
        writer = csv.writer(target)
        writer.writerow(campaign_results.CSV_COLUMNS)
        for page in pages:
            writer.writerows(campaign_results.csv_cells(r) for r in page)
    finally:
        if target is not sys.stdout:
            target.close()
    if str(out) != "-":
        say(f"wrote {sum(len(p) for p in pages)} recipients to {out}")
