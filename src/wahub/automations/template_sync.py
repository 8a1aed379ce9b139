"""Keeping the templates wahub knows equal to Meta's: each WhatsApp Business Account's full list read from
``GET /{waba_id}/message_templates`` (every page), at start, once a day, on request (``wahub templates sync``,
``POST /api/v1/templates/sync``) and at once after a template webhook (status, quality, category), which only
says what changed of one template, while the list brings its components too.

The due syncs are rows of ``template_syncs`` (``store/template_syncs.py``), claimed like every other job, so two
workers never read one WABA at once; ``TemplateSyncer.run_due`` runs in the webhook deliverer's loop, as the
pruner does, and checks for due syncs at most every ``CHECK_SECONDS``. The Graph calls go through a
``TemplateApi`` the composition root gives (``provider/graph.py``'s client is one), so this module, and the API
that creates and deletes templates through the same protocol, never import the provider.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.store import accounts, db, template_syncs, templates
from wahub.store.crypto import Vault
from wahub.store.models import Account, utcnow
from wahub.worker import retry

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0


class TemplateApi(Protocol):
    """Meta's template management calls, by WABA and access token."""

    async def templates(self, waba_id: str, token: str) -> list[dict[str, Any]]: ...

    async def create_template(self, waba_id: str, token: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def delete_template(self, waba_id: str, token: str, name: str, hsm_id: str | None = None) -> None: ...


async def token_for(session: AsyncSession, vault: Vault, waba_id: str) -> str:
    """An access token of a Meta account of this WABA (``NoAccount`` when none has one)."""
    stmt = sa.select(Account).where(Account.provider == accounts.META, Account.waba_id == waba_id).order_by(Account.id)
    for account in (await session.scalars(stmt)).all():
        token = accounts.credentials(account, vault).access_token
        if token:
            return token
    raise errors.NoAccount(f"no Meta account of WhatsApp Business Account {waba_id} has an access token")


async def meta_wabas(session: AsyncSession) -> list[str]:
    """The WABAs of the Meta accounts."""
    stmt = sa.select(Account.waba_id).where(Account.provider == accounts.META, Account.waba_id.is_not(None))
    return sorted({w for w in (await session.scalars(stmt)).all() if w})


async def sync(sessions: async_sessionmaker[AsyncSession], api: TemplateApi, vault: Vault, waba_id: str) -> int:
    """Read ``waba_id``'s templates from Meta and make the stored ones equal to them; returns how many. The
    list is read in full before anything is written, so a failure halfway leaves the stored ones as they were."""
    async with db.transaction(sessions) as session:
        token = await token_for(session, vault, waba_id)
        sync_id = await template_syncs.begin(session, waba_id)
    found = await api.templates(waba_id, token)
    async with db.transaction(sessions) as session:
        count = await templates.replace_all(session, waba_id, found)
        await template_syncs.done(session, sync_id, count)
    return count


class TemplateSyncer:
    """The worker's part: request a sync of every Meta WABA when it starts, then run the due ones."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], api: TemplateApi, vault: Vault) -> None:
        self._sessions = sessions
        self._api = api
        self._vault = vault
        self._started = False
        self._checked = -CHECK_SECONDS

    async def run_due(self) -> None:
        if time.monotonic() - self._checked < CHECK_SECONDS:
            return
        self._checked = time.monotonic()
        if not self._started:
            async with db.transaction(self._sessions) as session:
                await template_syncs.request(session, await meta_wabas(session), template_syncs.START)
            self._started = True
        await self.run_once()

    async def run_once(self) -> int:
        """Run the syncs due now; returns how many were claimed."""
        async with db.transaction(self._sessions) as session:
            claimed = await template_syncs.claim(session)
        for sync_id, waba_id, attempts in claimed:
            try:
                async with db.transaction(self._sessions) as session:
                    token = await token_for(session, self._vault, waba_id)
                found = await self._api.templates(waba_id, token)
            except Exception as exc:
                await self._failed(sync_id, waba_id, attempts, exc)
                continue
            async with db.transaction(self._sessions) as session:
                count = await templates.replace_all(session, waba_id, found)
                await template_syncs.done(session, sync_id, count)
            log.info("templates synced", extra={"waba_id": waba_id, "templates": count})
        return len(claimed)

    async def _failed(self, sync_id: int, waba_id: str, attempts: int, exc: Exception) -> None:
        message = exc.message if isinstance(exc, errors.WahubError) else type(exc).__name__
        again = retry.decide(exc, attempts, retry.TEMPLATE_SYNC, utcnow())
        log.warning("template sync failed", extra={"waba_id": waba_id, "error": message[:200], "retry": bool(again)})
        async with db.transaction(self._sessions) as session:
            await template_syncs.failed(session, sync_id, message, again.when if again else None)
