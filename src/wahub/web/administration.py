"""What the admin pages show, read through the store: users, API keys, accounts and their sending state, the
webhook subscriptions with their failed deliveries, and the statistics of ``GET /api/v1/stats`` with the chart.

The writes the pages make go through the same store functions as the API's routes (``routes/admin.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store import accounts, apikeys, history_syncs, stats, subscriber_webhooks
from wahub.store.models import Account, ApiKey, WebhookDelivery, WebhookSubscription
from wahub.web import chart, views

FAILED_SHOWN = 20  # failed deliveries listed per subscription, newest first
PERIODS = (7, 30, 90)  # the dashboard's choices of days


def when(clock: views.Clock, at: datetime | None) -> str:
    """A time as the admin pages show it, in the viewer's time zone: ``2026-12-01 11:05``."""
    return "" if at is None else clock.local(at).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class Key:
    """An API key as its list shows it: never the key, only the prefix that names it."""

    id: int
    name: str
    shown: str  # wahub_<prefix>_…
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def key_of(row: ApiKey) -> Key:
    shown = f"{apikeys.KEY_PREFIX}{row.prefix}_…"
    return Key(
        row.id, row.name, shown, sorted(apikeys.scopes_of(row)), row.created_at, row.last_used_at, row.revoked_at
    )


async def keys(session: AsyncSession) -> list[Key]:
    return [key_of(row) for row in await apikeys.list_keys(session)]


async def senders(session: AsyncSession) -> list[Account]:
    """Every account, oldest first (its ``sending_paused`` and ``sending_paused_at`` say whether it sends)."""
    return await accounts.all_accounts(session)


async def history_lines(session: AsyncSession, clock: views.Clock) -> dict[int, str]:
    """Per account id with a coexistence history sync: ``history sync: 60% (phase 2 of 3), last update …``."""
    lines = {}
    for account_id, sync in (await history_syncs.by_account(session)).items():
        last = f", last update {when(clock, sync.updated_at)}" if sync.updated_at else ""
        lines[account_id] = sync.summary() + last
    return lines


@dataclass(frozen=True, slots=True)
class Subscription:
    row: WebhookSubscription
    counts: dict[str, int]  # its deliveries kept, by state (pending, delivered, failed)
    failed: list[WebhookDelivery]  # the newest failed ones, at most FAILED_SHOWN


async def subscriptions(session: AsyncSession) -> list[Subscription]:
    """Every subscription with its deliveries counted by state and its newest failed ones."""
    rows = await subscriber_webhooks.subscriptions(session)
    counted = await session.execute(
        sa.select(WebhookDelivery.subscription_id, WebhookDelivery.state, sa.func.count()).group_by(
            WebhookDelivery.subscription_id, WebhookDelivery.state
        )
    )
    counts: dict[int, dict[str, int]] = {}
    for sub_id, state, n in counted:
        counts.setdefault(int(sub_id), {})[str(state)] = int(n)
    found = []
    for row in rows:
        failed = subscriber_webhooks.deliveries_of(row.id, subscriber_webhooks.FAILED)
        newest = (await session.scalars(failed.order_by(WebhookDelivery.id.desc()).limit(FAILED_SHOWN))).all()
        found.append(Subscription(row, counts.get(row.id, {}), list(newest)))
    return found


@dataclass(frozen=True, slots=True)
class Dashboard:
    days: int
    stats: stats.Stats
    chart: chart.Chart
    delivery_rate: str
    read_rate: str


def period(value: str | None) -> int:
    """The dashboard's period in days: one of ``PERIODS``, 30 for anything else."""
    return int(value) if value in {str(p) for p in PERIODS} else 30


async def dashboard(session: AsyncSession, days: int, now: datetime) -> Dashboard:
    """The statistics of the last ``days`` days (as ``GET /api/v1/stats?days=…``), and their chart."""
    found = await stats.summary(session, now - timedelta(days=days), now)
    out = found.outbound
    return Dashboard(
        days,
        found,
        chart.messages_per_day(found.by_day),
        chart.percent(out.delivery_rate),
        chart.percent(out.read_rate),
    )
