"""What the HTTP layer needs, built by the composition root and handed to ``create_app``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wahub import storage
from wahub.api.intake import SendIntake
from wahub.api.limits import FailedKeys, KeyLimiter
from wahub.api.sessions import AccessTokens
from wahub.api.usage import KeyUsage
from wahub.automations.groups import GroupApi
from wahub.automations.template_sync import TemplateApi
from wahub.config import Settings
from wahub.storage.base import BlobStore
from wahub.store import counters, db
from wahub.store.crypto import Vault
from wahub.store.models import utcnow
from wahub.wakeups import Notifier


@dataclass(slots=True)
class AppContext:
    settings: Settings
    engine: AsyncEngine
    # Where webhook events are journaled: ``engine`` itself, or a SQLite file of their own (``db.events_url``).
    events: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]
    notifier: Notifier
    vault: Vault
    # Where media files are kept (``WAHUB_STORAGE_URL``).
    storage: BlobStore
    # Sends posted to the API, queued together (``api/intake.py``).
    intake: SendIntake
    # What this process counted for ``/metrics`` and has not written yet (``store/counters.py``).
    tally: counters.Tally
    # Requests per API key (``WAHUB_API_RATE_LIMIT``).
    limiter: KeyLimiter
    # When each API key was last used, written now and then (``wahub apikey list``).
    key_usage: KeyUsage
    # Client addresses that sent wrong API keys, shut out for a while after too many (``api/limits.py``).
    failed_keys: FailedKeys
    # Users' access tokens (``api/sessions.py``), and the logins that failed, by address and by email.
    tokens: AccessTokens
    failed_logins: FailedKeys
    # The id and scopes of each API key this process authenticated (a send's fast path needs no query).
    known_keys: dict[str, tuple[int, frozenset[str]]]
    # Meta's template calls (create, delete, sync on request), set by the composition root; None: not offered.
    template_api: TemplateApi | None = None
    # Meta's Groups API calls (create, invite link, join requests...), set likewise; None: not offered.
    group_api: GroupApi | None = None
    # The time refresh tokens are checked against (their grace window) and /readyz's access token warnings are
    # reckoned at, moved by tests.
    clock: Callable[[], datetime] = utcnow

    @classmethod
    def build(cls, settings: Settings, engine: AsyncEngine, events: AsyncEngine, vault: Vault) -> AppContext:
        """The context of ``engine``: writer and reader sessions on it, and a fresh notifier."""
        sessions = db.sessionmaker(engine)
        return cls(
            settings=settings,
            engine=engine,
            events=events,
            sessions=sessions,
            readers=db.sessionmaker(engine, readonly=True),
            notifier=Notifier(),
            vault=vault,
            storage=storage.from_url(settings.storage_url),
            intake=SendIntake(sessions),
            tally=counters.Tally(),
            limiter=KeyLimiter(settings.api_rate_limit),
            key_usage=KeyUsage(),
            failed_keys=FailedKeys(),
            tokens=AccessTokens(vault),
            failed_logins=FailedKeys(threshold=5),
            known_keys={},
        )
