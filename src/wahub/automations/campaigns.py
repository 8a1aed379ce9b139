"""Campaigns (``store/campaigns.py``): creating one from an account, an approved template, an audience and its
parameters; and running them, one more job kind on the shared claim/lease path, run by the worker in the
sender's loop before each of its steps (``runner.Worker``), as the schedules are. No loop and no sleep of its own.

The throttle is the outbox's: the runner queues a running campaign's next chunk of recipients only while fewer
of the account's sends are due in the outbox than ``AHEAD`` seconds of its send rate (the campaign's and any
other: what its sender has before it), and the sender sends them at that rate exactly. Small chunks also keep a
pause fast: what a pause holds is at most that much.

Before each chunk the template's stored status is read (template webhooks keep it current): a template no longer
``APPROVED`` (paused or disabled by Meta) pauses the campaign with the reason, and its messages not yet taken by
a sender are cancelled with that reason (their recipients show ``skipped``). Resuming once the template is
approved again goes on with the recipients still pending. An opted-out contact (checked as its chunk is
queued) is skipped with the reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import domain, errors
from wahub.automations import campaign_audience as audience_of
from wahub.store import accounts, campaigns, db, outbound, templates
from wahub.store.models import Account, Campaign, utcnow
from wahub.worker import retry

log = logging.getLogger(__name__)

BATCH = 10  # campaigns worked on per transaction
LEASE = timedelta(minutes=2)  # a claim left by a worker that died is taken again after this
AHEAD = 2.0  # seconds of the account's send rate a campaign keeps in the outbox
# Recipients queued at most per step, and seconds between two looks. A step runs in the sender's loop and holds
# it while it queues (about 0.12 ms a recipient on SQLite): 1,000 at a time every 0.25 s stalled the sends so
# that a 10,000-recipient campaign at 1,000/s sustained 590/s; 250 every 0.1 s (up to 2,500/s) sustains what the
# sender does alone (859/s against 881/s, bench/campaign.py --no-statuses, 2026-12-01). A look at a running
# campaign takes the write lock, which the webhook path needs too.
CHUNK = 250
EVERY = 0.1


async def create(
    session: AsyncSession,
    *,
    name: str,
    sender: str | None,
    template: tuple[str, str],
    audience: dict[str, Any],
    parameters: Any,
    start_at: datetime | None = None,
) -> Campaign:
    """A draft campaign, its audience resolved into recipients with their parameters. InvalidInput (422) for an
    account that cannot send templates, a template that is not approved, parameters that do not fit it, an
    audience that selects no one, or a recipient with no value for a parameter (naming both)."""
    account = await accounts.default_sender(session, sender)
    if account.provider != accounts.META or not account.waba_id:
        raise errors.InvalidInput(
            f"account: campaigns send Meta templates; account '{account.name}' is not a Meta account with a WABA",
            field="account",
        )
    spec = audience_of.check_sources(parameters)
    row = await templates.find(session, account.waba_id, *template)
    if row is None or row.status != templates.APPROVED:
        state = "not known (run 'wahub templates sync')" if row is None else row.status
        raise errors.InvalidInput(
            f"template.name: template '{template[0]}' in {template[1]} is {state}: a campaign sends an approved one",
            field="template.name",
        )
    members = await audience_of.resolve(session, account.id, audience)
    resolved = audience_of.recipients(spec, members)
    audience_of.check_against(row.components, resolved[0][1])
    kept = {k: v for k, v in audience.items() if k != "csv"} | ({"csv_rows": len(members)} if "csv" in audience else {})
    return await campaigns.create(
        session,
        name=name,
        account_id=account.id,
        template=template,
        audience=kept,
        parameters=spec,
        recipients=[campaigns.NewRecipient(c, p) for c, p in resolved],
        start_at=start_at,
    )


def template_content(campaign: Campaign, components: list[Any] | None) -> dict[str, Any]:
    """What a recipient's message holds: the template, its language, and the recipient's parameters."""
    template: dict[str, Any] = {"name": campaign.template_name, "language": {"code": campaign.template_language}}
    if components:
        template["components"] = components
    return {"template": template}


def opted_out(pending: campaigns.Pending) -> str:
    when = pending.opted_out_at.isoformat() if pending.opted_out_at else "?"
    return f"opted out of marketing ({pending.opt_out_source or 'unknown'}) at {when}"


class CampaignRunner:
    """``clock``: now, in UTC (tests move it). ``send_rate``: messages a second of an account that sets none
    (the sender's default)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        send_rate: int = 80,
        clock: Callable[[], datetime] = utcnow,
        batch: int = BATCH,
        lease: timedelta = LEASE,
        every: float = EVERY,
    ) -> None:
        self._sessions = sessions
        self._rate = send_rate
        self._clock = clock
        self._batch = batch
        self._lease = lease
        self._every = every
        self._last = -every

    async def run_due(self) -> None:
        """Work on every due campaign, if the last look was ``every`` ago or more (``runner.Worker`` runs this
        before each of the sender's steps)."""
        if time.monotonic() - self._last < self._every:
            return
        self._last = time.monotonic()
        while await self.run_once() == self._batch:
            pass

    def look_again(self) -> None:
        """The next ``run_due`` works on the due campaigns, however soon it comes."""
        self._last = -self._every

    async def run_once(self) -> int:
        """One step of up to ``batch`` due campaigns in one transaction; returns how many. A read first: with
        nothing due, no write transaction is begun."""
        now = self._clock()
        async with self._sessions() as session:
            if not await campaigns.due_count(session, now):
                return 0
        async with db.transaction(self._sessions) as session:
            due = await campaigns.claim(session, self._batch, self._lease, now)
            for campaign in due:
                try:
                    async with session.begin_nested():
                        values = await self._step(session, campaign, now)
                except Exception as exc:  # the database, not the campaign: tried again later, as any job
                    later = retry.decide(exc, campaign.attempts, retry.CAMPAIGN_STEP, now)
                    if later is not None:
                        log.warning("campaign %s: step failed, tried again in %.0f s", campaign.id, later.delay)
                        await campaigns.later(session, campaign, later.when, repr(exc))
                        continue
                    reason = f"stopped after {campaign.attempts} failed tries: {exc!r}"
                    values = {"state": campaigns.State.PAUSED.value, "stopped_reason": reason, "last_error": reason}
                await campaigns.release(session, campaign, values)
        return len(due)

    async def _step(self, session: AsyncSession, campaign: Campaign, now: datetime) -> dict[str, Any]:
        """Queue the campaign's next chunk; returns what changes of the campaign."""
        values: dict[str, Any] = {"last_error": None}
        if campaign.state == campaigns.State.SCHEDULED.value:
            values.update(state=campaigns.State.RUNNING.value, started_at=now)
        account = await session.get(Account, campaign.account_id)
        assert account is not None  # the campaign goes with its account
        row = await templates.find(session, account.waba_id or "", campaign.template_name, campaign.template_language)
        if row is None or row.status != templates.APPROVED:
            reason = (
                f"template '{campaign.template_name}' in {campaign.template_language} is "
                f"{'gone' if row is None else row.status}: its remaining sends stopped"
            )
            stopped = await campaigns.stop_jobs(session, campaign.id, reason)
            log.warning("campaign %s paused: template not approved, %d sends cancelled", campaign.id, stopped)
            return {**values, "state": campaigns.State.PAUSED.value, "stopped_reason": reason}
        room = min(
            CHUNK, int(AHEAD * (account.send_rate or self._rate)) - await campaigns.due_sends(session, account.id)
        )
        if room > 0:
            chunk = await campaigns.next_pending(session, campaign.id, room)
            queued = await self._queue(session, account, campaign, chunk)
            # Fewer than asked for: none is pending any more.
            done = len(chunk) < room and not queued
        else:
            done = not await campaigns.any_pending(session, campaign.id)
        if done and not await campaigns.unsent(session, campaign.id):
            values.update(state=campaigns.State.COMPLETED.value, finished_at=now)
            log.info("campaign %s completed", campaign.id)
        return values

    async def _queue(
        self, session: AsyncSession, account: Account, campaign: Campaign, chunk: list[campaigns.Pending]
    ) -> int:
        """Queue ``chunk``'s messages and mark each recipient queued with its message, in this transaction;
        returns how many were queued."""
        skipped = [(p.id, opted_out(p)) for p in chunk if p.opted_out_at is not None]
        sending = [p for p in chunk if p.opted_out_at is None]
        items = [
            outbound.QueuedSend(
                account,
                domain.ContactRef(wa_id=p.wa_id, user_id=p.user_id),
                domain.MessageType.TEMPLATE,
                template_content(campaign, p.parameters),
                free_form=False,
                confirm=True,  # a send whose answer was lost waits for its status: never two to one recipient
                contact_id=p.contact_id,
            )
            for p in sending
        ]
        queued: list[tuple[int, int]] = []
        for pending, result in zip(sending, await outbound.queue_ids(session, items), strict=True):
            if isinstance(result, errors.WindowClosed):  # a template needs no window: not expected
                skipped.append((pending.id, result.message))
            else:
                queued.append((pending.id, result))
        await campaigns.mark_queued(session, queued)
        await campaigns.mark_skipped(session, skipped)
        return len(queued)


async def resume(session: AsyncSession, campaign_id: int) -> Campaign:
    """Resume a paused campaign (``campaigns.resume``), refused (Conflict) while its template is not approved:
    its sends would only fail."""
    campaign = await campaigns.get(session, campaign_id, lock=True)
    if campaign.state == campaigns.State.PAUSED.value:
        account = await session.get(Account, campaign.account_id)
        waba_id = account.waba_id if account is not None else None
        row = await templates.find(session, waba_id or "", campaign.template_name, campaign.template_language)
        if row is None or row.status != templates.APPROVED:
            raise errors.Conflict(
                f"campaign {campaign.id} cannot resume: template '{campaign.template_name}' in "
                f"{campaign.template_language} is {'gone' if row is None else row.status}"
            )
    return await campaigns.resume(session, campaign_id)
