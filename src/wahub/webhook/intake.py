"""Webhook intake, without HTTP: check a body's signature on its raw bytes against the keys of every configured
account, append it durably to the journal (``webhook/journal.py``), count it, wake the processor.

The flow in: ``api/webhooks.py`` (the HTTP edge: reads the body, answers by ``Outcome``) → ``intake.accept`` →
``journal.append`` (group commit) → ``webhook_events`` → ``worker/processor.py`` → ``webhook/meta.py`` (parse) →
``worker/apply.py`` (store). This path carries the most traffic and does the least work: everything else happens
in the processor after the ack.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
import logging
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub.config import Settings
from wahub.store import accounts, counters
from wahub.store.crypto import Vault
from wahub.wakeups import Channel, Notifier
from wahub.webhook import signature
from wahub.webhook.journal import EventJournal

log = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0


class Outcome(enum.StrEnum):
    """What became of a webhook body; also its ``result`` label in ``wahub_webhook_requests_total``."""

    ACCEPTED = "accepted"  # durable: answer 200
    BAD_SIGNATURE = "bad_signature"
    TOO_LARGE = "too_large"
    TOO_SLOW = "too_slow"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"  # not stored, so not acknowledged: Meta retries on anything but 200


_REQUESTS = {
    outcome: ("wahub_webhook_requests_total", counters.labels_text({"provider": "meta", "result": outcome.value}))
    for outcome in Outcome
}


class WebhookKeys:
    """The app secrets and verify tokens webhooks are checked against: settings plus every stored account.
    Kept in memory and refreshed in the background, so checking a webhook costs no database read."""

    def __init__(self) -> None:
        self.app_secrets: tuple[str, ...] = ()
        # ``signature.key_id`` of each app secret, in the same order: recorded with the events it verifies.
        self.key_ids: tuple[str, ...] = ()
        self.verify_tokens: tuple[str, ...] = ()

    async def refresh(self, settings: Settings, readers: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        secrets: list[str] = []
        tokens: list[str] = []
        if settings.app_secret is not None:
            secrets.append(settings.app_secret.get_secret_value())
        if settings.verify_token is not None:
            tokens.append(settings.verify_token.get_secret_value())
        async with readers() as session, session.begin():
            for account in await accounts.all_accounts(session):
                if account.provider != "meta":
                    continue
                creds = accounts.credentials(account, vault)
                secrets.append(creds.app_secret)
                if creds.verify_token:
                    tokens.append(creds.verify_token)
        self.app_secrets = tuple(dict.fromkeys(s for s in secrets if s))
        self.key_ids = tuple(signature.key_id(s) for s in self.app_secrets)
        self.verify_tokens = tuple(dict.fromkeys(t for t in tokens if t))

    async def keep_fresh(self, settings: Settings, readers: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh(settings, readers, vault)
            except Exception:
                log.exception("could not refresh webhook keys; keeping the previous ones")

    def challenge(self, params: Mapping[str, str]) -> str | None:
        """Meta's subscription check: the ``hub.challenge`` to echo when ``hub.verify_token`` is ours, else None.
        (Meta names no app in it, so every configured verify token is accepted.)"""
        token = params.get("hub.verify_token", "")
        known = any(hmac.compare_digest(token.encode(), t.encode()) for t in self.verify_tokens)
        if params.get("hub.mode") != "subscribe" or not token or not known:
            return None
        return params.get("hub.challenge", "")


class MetaIntake:
    """Takes Meta's webhook bodies: ``accept`` returns once a body is durable (or says why it is not)."""

    def __init__(self, keys: WebhookKeys, journal: EventJournal, notifier: Notifier, tally: counters.Tally) -> None:
        self._keys = keys
        self._journal = journal
        self._notifier = notifier
        self._tally = tally

    async def accept(self, raw: bytes, signature_header: str | None) -> Outcome:
        keys = self._keys
        secrets, key_ids = keys.app_secrets, keys.key_ids  # one refresh's pair, whatever happens while checking
        signer = signature.meta_signer(secrets, raw, signature_header)
        if signer is None:
            return self.counted(Outcome.BAD_SIGNATURE)
        try:
            await self._journal.append("meta", raw, key_ids[signer])
        except Exception:
            return self.counted(Outcome.UNAVAILABLE)
        self._notifier.notify(Channel.EVENTS)
        return self.counted(Outcome.ACCEPTED)

    def counted(self, outcome: Outcome) -> Outcome:
        self._tally.bump(_REQUESTS[outcome])
        return outcome
