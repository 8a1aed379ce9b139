"""``/api/v1/campaigns``: a template sent to an audience through the outbox, a chunk at a time
(``store/campaigns.py``; run by the worker, ``automations/campaigns.py``), with each recipient's result and
the totals. They span every conversation: admins and API keys (``send`` to write, ``read`` to read); agents
get 403. A transition the campaign's state does not allow is a 409."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.api import schemas
from wahub.api.deps import Ctx, Overseer, ReadSession, Sender
from wahub.api.schemas.campaigns import CampaignIn, CampaignOut, RecipientOut, RecipientPage
from wahub.automations import campaigns as running
from wahub.store import campaign_results, campaigns, db, paging
from wahub.store.models import Campaign
from wahub.wakeups import Channel

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])
_CURSOR = "cr"


async def _writer(principal: Sender) -> None:
    if not principal.sees_every_conversation:
        raise errors.Forbidden("campaigns span every conversation: they are for admins and API keys with 'send'")


Writer = Annotated[None, Depends(_writer)]


async def _out(session: AsyncSession, campaign: Campaign) -> CampaignOut:
    return CampaignOut.of(campaign, await campaign_results.totals(session, campaign.id))


@router.post("", status_code=201, response_model=CampaignOut)
async def create_campaign(body: CampaignIn, ctx: Ctx, _who: Writer) -> CampaignOut:
    """A draft campaign: its audience resolved into recipients now, each with its template parameters. The
    template must be approved and the parameters fit it; a recipient with no value for a parameter refuses the
    whole campaign (422 naming both). Start it with POST /api/v1/campaigns/{id}/start."""
    async with db.transaction(ctx.sessions) as session:
        campaign = await running.create(
            session,
            name=body.name,
            sender=body.account,
            template=(body.template.name, body.template.language),
            audience=body.audience.model_dump(exclude_none=True),
            parameters=body.parameters.model_dump(exclude_none=True) if body.parameters else None,
            start_at=body.start_at,
        )
        return await _out(session, campaign)


@router.get("", response_model=list[CampaignOut])
async def list_campaigns(
    session: ReadSession,
    _who: Overseer,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    before: Annotated[int | None, Query(ge=1, le=paging.ID_MAX, description="campaigns older than this id")] = None,
) -> list[CampaignOut]:
    """The newest campaigns first, with their totals."""
    return [await _out(session, c) for c in await campaigns.list_all(session, limit, before)]


@router.get("/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign_id: schemas.Id, session: ReadSession, _who: Overseer) -> CampaignOut:
    return await _out(session, await campaigns.get(session, campaign_id))


@router.post("/{campaign_id}/start", response_model=CampaignOut)
async def start_campaign(campaign_id: schemas.Id, ctx: Ctx, _who: Writer) -> CampaignOut:
    """A draft starts sending now, or at its start_at if that is to come (state ``scheduled``)."""
    async with db.transaction(ctx.sessions) as session:
        out = await _out(session, await campaigns.start(session, campaign_id))
    ctx.notifier.notify(Channel.OUTBOX)  # the runner goes in the sender's loop: its first chunk now, not at its poll
    return out


@router.post("/{campaign_id}/pause", response_model=CampaignOut)
async def pause_campaign(campaign_id: schemas.Id, ctx: Ctx, _who: Writer) -> CampaignOut:
    """No new sends once this answers: its messages not yet taken by a sender are held (those a sender had
    taken, at most a moment's worth, still go out)."""
    async with db.transaction(ctx.sessions) as session:
        return await _out(session, await campaigns.pause(session, campaign_id))


@router.post("/{campaign_id}/resume", response_model=CampaignOut)
async def resume_campaign(campaign_id: schemas.Id, ctx: Ctx, _who: Writer) -> CampaignOut:
    """Goes on where it stopped. 409 while its template is not approved."""
    async with db.transaction(ctx.sessions) as session:
        out = await _out(session, await running.resume(session, campaign_id))
    ctx.notifier.notify(Channel.OUTBOX)
    return out


@router.post("/{campaign_id}/cancel", response_model=CampaignOut)
async def cancel_campaign(campaign_id: schemas.Id, ctx: Ctx, _who: Writer) -> CampaignOut:
    """Ends it: messages not yet taken by a sender are cancelled and the recipients not sent to are skipped
    (``cancelled``)."""
    async with db.transaction(ctx.sessions) as session:
        return await _out(session, await campaigns.cancel(session, campaign_id))


@router.get("/{campaign_id}/recipients", response_model=RecipientPage)
async def list_recipients(
    campaign_id: schemas.Id,
    session: ReadSession,
    _who: Overseer,
    result: Annotated[
        str | None, Query(max_length=16, description="pending, queued, sent, delivered, read, failed or skipped")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecipientPage:
    """The recipients in the order they were added, each with its result; ``next_cursor`` pages on."""
    await campaigns.get(session, campaign_id)
    after = paging.decode(_CURSOR, cursor) if cursor else 0
    rows = await campaign_results.page(session, campaign_id, result=result, after=after, limit=limit)
    more = len(rows) == limit
    return RecipientPage(
        items=[RecipientOut.of(r) for r in rows],
        next_cursor=paging.encode(_CURSOR, rows[-1].id) if more and rows else None,
    )


@router.get(
    "/{campaign_id}/results.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "one row a recipient"}},
)
async def export_results(campaign_id: schemas.Id, ctx: Ctx, _who: Overseer) -> StreamingResponse:
    """Every recipient's result as CSV: number, name, result, reason, message id, wamid and its times."""
    async with ctx.sessions() as session:
        await campaigns.get(session, campaign_id)
    return StreamingResponse(
        _csv(ctx.sessions, campaign_id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}-results.csv"'},
    )


async def _csv(sessions: async_sessionmaker[AsyncSession], campaign_id: int) -> AsyncIterator[str]:
    yield _line(list(campaign_results.CSV_COLUMNS))
    after = 0
    while True:
        async with sessions() as session:
            rows = await campaign_results.page(session, campaign_id, after=after, limit=1000)
        if not rows:
            return
        yield "".join(_line(campaign_results.csv_cells(r)) for r in rows)
        after = rows[-1].id


def _line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()
