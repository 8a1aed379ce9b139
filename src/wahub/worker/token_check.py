"""The daily look at the Meta accounts' access tokens, in the webhook deliverer's loop (``runner.Worker`` runs
``TokenChecker.run_due`` before its steps, as it does the pruner and the template syncs: no loop of its own).

Each Meta account's token is described by Meta's ``debug_token`` once a day (``tokens.CHECK_EVERY``; at once
for a token never asked about, or changed since), and what it said is kept on the account. Then, from what is
kept and the clock: a token lapsing within seven days gets one ``account.event`` to subscribers
(``ACCESS_TOKEN_EXPIRING``), and a lapsed one pauses the account's sending as Meta's 190 does, with one
``ACCESS_TOKEN_EXPIRED`` (``store/tokens.py``). A token Meta refuses outright (190) pauses it the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import domain, errors
from wahub.store import accounts, db, tokens
from wahub.store.crypto import Vault
from wahub.store.models import Account, utcnow
from wahub.worker.numbers import refused_reason

log = logging.getLogger(__name__)

CHECK_SECONDS = 60.0  # between two looks (the expiry is days away; a look is one read when nothing is due)
RETRY_SECONDS = 3600.0  # a debug_token call that failed (Meta unreachable) is tried again after this


class TokenApi(Protocol):
    """Meta's ``debug_token`` (``provider/graph.py``'s client is one)."""

    async def debug_token(self, token: str) -> domain.TokenInfo: ...


class TokenChecker:
    """``clock``: now, in UTC (tests move it). ``sandbox``: check the sandbox's account too (its fakegraph is
    the Graph URL); with real accounts configured, the sandbox's stays unasked."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        api: TokenApi,
        vault: Vault,
        *,
        clock: Callable[[], datetime] = utcnow,
        sandbox: bool = False,
        every: float = CHECK_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._api = api
        self._vault = vault
        self._clock = clock
        self._sandbox = sandbox
        self._every = every
        self._last = -every
        self._failed: dict[int, float] = {}  # account id -> when its debug_token call last failed (monotonic)

    async def run_due(self) -> None:
        """Look, if the last look was ``every`` seconds ago or more."""
        if time.monotonic() - self._last < self._every:
            return
        self._last = time.monotonic()
        await self.run_once()

    async def run_once(self) -> int:
        """Ask Meta about the tokens due, then warn and pause as the clock says; returns how many accounts were
        asked about or warned."""
        now = self._clock()
        asked = await self._ask(now)
        async with self._sessions() as session:
            due = [a.id for a in await tokens.to_warn(session, now)]
        for account_id in due:
            async with db.transaction(self._sessions) as session:
                account = await session.get(Account, account_id)
                if account is not None and await tokens.warn(session, account, now):
                    log.warning(
                        "an access token lapses soon or has lapsed",
                        extra={"account_id": account_id, "expires_at": str(account.token_expires_at)},
                    )
        return asked + len(due)

    async def _ask(self, now: datetime) -> int:
        async with self._sessions() as session:
            due = [
                (a.id, token)
                for a in await tokens.due_checks(session, now)
                if (self._sandbox or not a.sandbox)
                and time.monotonic() - self._failed.get(a.id, -RETRY_SECONDS) >= RETRY_SECONDS
                and (token := _token(a, self._vault))
            ]
        for account_id, token in due:
            refused: errors.ProviderError | None = None
            try:
                info = await self._api.debug_token(token)
            except errors.AccessTokenInvalid as exc:
                refused = exc
            except Exception as exc:  # Meta unreachable, or a token not allowed to debug itself: tried later
                message = exc.message if isinstance(exc, errors.WahubError) else type(exc).__name__
                log.warning("debug_token failed", extra={"account_id": account_id, "error": message[:200]})
                self._failed[account_id] = time.monotonic()
                continue
            self._failed.pop(account_id, None)
            if refused is None and not info.valid:
                refused = errors.AccessTokenInvalid(f"debug_token: {info.error or 'the token is not valid'}", code=190)
            async with db.transaction(self._sessions) as session:
                account = await session.get(Account, account_id)
                if account is None or _token(account, self._vault) != token:
                    continue  # removed, or given another token meanwhile: that one is asked about next time
                if refused is not None:
                    await accounts.pause_sending(session, account_id, refused_reason(account.provider, refused))
                    account.token_checked_at = now
                else:
                    tokens.record(account, info, now)
        return len(due)


def _token(account: Account, vault: Vault) -> str | None:
    """The account's access token; None when there is none, or it was stored under another WAHUB_SECRET_KEY
    (the sender reports that one)."""
    try:
        return accounts.credentials(account, vault).access_token or None
    except errors.InvalidInput:
        return None
