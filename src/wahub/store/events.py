"""Webhook events: raw bodies appended before the ack, claimed by the processor, never deleted on failure."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub.store.models import WebhookEvent, utcnow

MAX_ATTEMPTS = 5


async def append(session: AsyncSession, provider: str, body: bytes) -> None:
    """Store a received body as it came; the caller commits before answering 200."""
    await session.execute(
        sa.insert(WebhookEvent).values(provider=provider, body=body, received_at=utcnow(), attempts=0)
    )


async def claim_batch(session: AsyncSession, limit: int) -> list[WebhookEvent]:
    """Unprocessed events, oldest first, locked for this transaction (other workers skip them)."""
    stmt = (
        sa.select(WebhookEvent)
        .where(WebhookEvent.processed_at.is_(None))
        .order_by(WebhookEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(stmt)).all())


def mark_processed(event: WebhookEvent, result: str) -> None:
    event.processed_at = utcnow()
    event.result = result


def mark_failed_attempt(event: WebhookEvent, error: str) -> None:
    """A processing error: retried on the next pass, given up (and kept, with the reason) after MAX_ATTEMPTS."""
    event.attempts += 1
    event.result = f"error: {error}"
    if event.attempts >= MAX_ATTEMPTS:
        event.processed_at = utcnow()
        event.result = f"failed after {event.attempts} attempts: {error}"


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) or 0)


async def backlog(session: AsyncSession) -> int:
    stmt = sa.select(sa.func.count()).select_from(WebhookEvent).where(WebhookEvent.processed_at.is_(None))
    return int(await session.scalar(stmt) or 0)
