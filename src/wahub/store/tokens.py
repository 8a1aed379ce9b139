"""The lifetimes of the Meta accounts' access tokens: what Meta's ``debug_token`` last said of each (kind, expiry),
which tokens lapse within ``WARN_BEFORE`` (``/readyz``, ``wahub monitor``), and the one ``account.event`` each
such token gets, written with the delivery to subscribers in one transaction.

A token a person made (a user token, about 60 days once exchanged) lapses; a System User's never does. The
worker asks Meta once a day (``worker/token_check.py``), ``wahub account test`` and ``exchange-token`` when run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain
from wahub.store import account_events, accounts, subscriber_webhooks
from wahub.store.models import Account

WARN_BEFORE = timedelta(days=7)  # a token lapsing within this long is warned about
CHECK_EVERY = timedelta(days=1)  # Meta is asked again this long after the last answer
EXPIRING, EXPIRED = "ACCESS_TOKEN_EXPIRING", "ACCESS_TOKEN_EXPIRED"
EVENT_FIELD = "access_token"
SYSTEM_USER = "SYSTEM_USER"


@dataclass(frozen=True, slots=True)
class TokenWarning:
    """An account whose token lapses soon (or has lapsed): what ``/readyz`` and ``wahub monitor`` show."""

    phone_number_id: str
    name: str
    expires_at: datetime
    lapsed: bool

    def message(self, now: datetime) -> str:
        when = f"{self.expires_at:%Y-%m-%d %H:%M} UTC"
        if self.lapsed:
            return f"the access token of account {self.phone_number_id} ({self.name}) expired on {when}"
        return (
            f"the access token of account {self.phone_number_id} ({self.name}) expires on {when} "
            f"({days_left(self.expires_at, now)}): replace it with wahub account exchange-token, or use a System "
            "User token, which does not expire"
        )


def days_left(expires_at: datetime, now: datetime) -> str:
    """``in 12 days``, ``in 1 day``, ``in less than a day``, ``expired``: whole days, to the nearest (a token
    of 60 days, a few seconds old, still says 60)."""
    left = expires_at - now
    if left <= timedelta(0):
        return "expired"
    days = int(left / timedelta(days=1) + 0.5)
    if days == 0:
        return "in less than a day"
    return f"in {days} day{'s' if days != 1 else ''}"


def describe(account: Account, now: datetime) -> str:
    """The token's lifetime as ``account test`` prints it."""
    if account.token_checked_at is None:
        return "expiry not known yet (Meta was not asked)"
    if account.token_expires_at is None:
        return "never expires" + (" (System User token)" if account.token_type == SYSTEM_USER else "")
    when = f"{account.token_expires_at:%Y-%m-%d %H:%M} UTC"
    return f"expires on {when} ({days_left(account.token_expires_at, now)})"


def record(account: Account, info: domain.TokenInfo, now: datetime) -> None:
    """Keep what ``debug_token`` said of the account's token (a valid one's; a refused one pauses instead)."""
    account.token_type = info.type[:32] if info.type else None
    account.token_expires_at = info.expires_at
    account.token_checked_at = now


def record_expiry(account: Account, token_type: str | None, expires_at: datetime | None, now: datetime) -> None:
    """Keep a token's lifetime known otherwise (the exchange answers with it)."""
    account.token_type = token_type
    account.token_expires_at = expires_at
    account.token_checked_at = now


def expiring(account: Account, now: datetime) -> bool:
    """Whether the token lapses within ``WARN_BEFORE`` from ``now`` (exactly seven days before counts)."""
    at = account.token_expires_at
    return at is not None and now < at <= now + WARN_BEFORE


def lapsed(account: Account, now: datetime) -> bool:
    return account.token_expires_at is not None and account.token_expires_at <= now


async def warnings(session: AsyncSession, now: datetime) -> list[TokenWarning]:
    """The Meta accounts whose token lapses within ``WARN_BEFORE`` or has lapsed, soonest first."""
    stmt = (
        sa.select(Account)
        .where(
            Account.provider == accounts.META,
            Account.token_expires_at.is_not(None),
            Account.token_expires_at <= now + WARN_BEFORE,
        )
        .order_by(Account.token_expires_at, Account.id)
    )
    return [
        TokenWarning(a.phone_number_id or "-", a.name, a.token_expires_at, a.token_expires_at <= now)
        for a in (await session.scalars(stmt)).all()
        if a.token_expires_at is not None
    ]


async def due_checks(session: AsyncSession, now: datetime) -> list[Account]:
    """Meta accounts whose token Meta was not asked about in ``CHECK_EVERY`` (or ever, or since it changed).
    A paused account is left alone: Meta refused its token already, and a new one resumes it."""
    stmt = (
        sa.select(Account)
        .where(
            Account.provider == accounts.META,
            Account.sending_paused.is_(None),
            sa.or_(Account.token_checked_at.is_(None), Account.token_checked_at <= now - CHECK_EVERY),
        )
        .order_by(Account.id)
    )
    return list((await session.scalars(stmt)).all())


async def to_warn(session: AsyncSession, now: datetime) -> list[Account]:
    """Meta accounts whose token lapses within ``WARN_BEFORE`` (or has lapsed, still sending) and whose
    subscribers were not told of that expiry yet: a read, so an idle check takes no write lock."""
    stmt = sa.select(Account).where(
        Account.provider == accounts.META,
        Account.token_expires_at.is_not(None),
        Account.token_expires_at <= now + WARN_BEFORE,
        sa.or_(
            Account.token_warned_for.is_(None),
            Account.token_warned_for != Account.token_expires_at,
            sa.and_(Account.token_expires_at <= now, Account.sending_paused.is_(None)),
        ),
    )
    return list((await session.scalars(stmt.order_by(Account.id))).all())


async def warn(session: AsyncSession, account: Account, now: datetime) -> bool:
    """Tell subscribers, once per token, that it lapses soon (``ACCESS_TOKEN_EXPIRING``) or has lapsed
    (``ACCESS_TOKEN_EXPIRED``, and sending is paused as for Meta's 190): an account event (stored once: two
    workers at once write one) and its ``account.event`` delivery, in the caller's transaction. Returns
    whether an event was new."""
    at = account.token_expires_at
    if at is None:
        return False
    gone = at <= now
    if gone and account.sending_paused is None:
        await accounts.pause_sending(
            session,
            account.id,
            f"Meta's access token expired on {at:%Y-%m-%d %H:%M} UTC (190 from now on); replace it (wahub account "
            "exchange-token or update --access-token, or WAHUB_ACCESS_TOKEN and restart) and sending resumes; "
            "queued messages wait",
        )
    account.token_warned_for = at
    value = {
        "event": EXPIRED if gone else EXPIRING,
        "phone_number_id": account.phone_number_id,
        "expires_at": subscriber_webhooks.timestamp(at),
        "token_type": account.token_type,
    }
    event = account_events.NewEvent(EVENT_FIELD, account.waba_id, account.phone_number_id, value, now, account.id)
    out = await subscriber_webhooks.collector(session)
    new, _ = await account_events.record_many(session, [event], out)
    await subscriber_webhooks.emit(session, out)
    return new > 0
