"""Webhook intake, without HTTP: check a body's signature against the keys of every configured account (Meta's
app secrets over the raw bytes, Twilio's auth tokens over the URL and form), append it durably to the journal
(``webhook/journal.py``), count it, wake the processor.

The flow in: ``api/webhooks.py`` (the HTTP edge: reads the body, answers by ``Outcome``) → ``intake.accept`` /
``accept_twilio`` → ``journal.append`` (group commit) → ``webhook_events`` → ``worker/processor.py`` →
``webhook/meta.py`` or ``webhook/twilio.py`` (parse) → ``worker/apply.py`` (store). This path carries the most
traffic and does the least work: everything else happens in the processor after the ack.
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
from wahub.webhook.sources import Source

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
    (provider, outcome): (
        "wahub_webhook_requests_total",
        counters.labels_text({"provider": provider, "result": outcome.value}),
    )
    for provider in ("meta", "twilio")
    for outcome in Outcome
}


class WebhookKeys:
    """The secrets webhooks are checked against (Meta's app secrets and verify tokens, Twilio's auth tokens):
    settings plus every stored account. Kept in memory and refreshed in the background, so checking a webhook
    costs no database read."""

    def __init__(self) -> None:
        self.app_secrets: tuple[str, ...] = ()
        self.meta_keys: tuple[signature.MetaKey, ...] = ()  # the app secrets, ready to check bodies
        # ``signature.key_id`` of each app secret, in the same order: recorded with the events it verifies.
        self.key_ids: tuple[str, ...] = ()
        self.verify_tokens: tuple[str, ...] = ()
        self.twilio_tokens: tuple[str, ...] = ()
        self.twilio_key_ids: tuple[str, ...] = ()

    async def refresh(self, settings: Settings, readers: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        secrets: list[str] = []
        tokens: list[str] = []
        twilio: list[str] = []
        if settings.app_secret is not None:
            secrets.append(settings.app_secret.get_secret_value())
        if settings.verify_token is not None:
            tokens.append(settings.verify_token.get_secret_value())
        if settings.twilio_auth_token is not None:
            twilio.append(settings.twilio_auth_token.get_secret_value())
        async with readers() as session, session.begin():
            for account in await accounts.all_accounts(session):
                if account.provider == accounts.TWILIO:
                    twilio.append(accounts.twilio_credentials(account, vault).auth_token)
                    continue
                creds = accounts.credentials(account, vault)
                secrets.append(creds.app_secret)
                if creds.verify_token:
                    tokens.append(creds.verify_token)
        self.app_secrets = tuple(dict.fromkeys(s for s in secrets if s))
        self.meta_keys = tuple(signature.MetaKey(s) for s in self.app_secrets)
        self.key_ids = tuple(signature.key_id(s) for s in self.app_secrets)
        self.verify_tokens = tuple(dict.fromkeys(t for t in tokens if t))
        self.twilio_tokens = tuple(dict.fromkeys(t for t in twilio if t))
        self.twilio_key_ids = tuple(signature.key_id(t) for t in self.twilio_tokens)

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


class Intake:
    """Takes webhook bodies: ``accept`` (Meta's) and ``accept_twilio`` return once a body is durable (or say why
    it is not). One path for every provider: check the signature, journal the raw bytes, count, wake."""

    def __init__(self, keys: WebhookKeys, journal: EventJournal, notifier: Notifier, tally: counters.Tally) -> None:
        self._keys = keys
        self._journal = journal
        self._notifier = notifier
        self._tally = tally

    async def accept(self, raw: bytes, signature_header: str | None) -> Outcome:
        """A body posted to ``/webhooks/meta`` with its ``X-Hub-Signature-256``."""
        keys = self._keys
        meta_keys, key_ids = keys.meta_keys, keys.key_ids  # one refresh's pair, whatever happens while checking
        signer = signature.meta_signer(meta_keys, raw, signature_header)
        if signer is None:
            return self.counted(Outcome.BAD_SIGNATURE)
        return await self._journaled(Source.META, raw, key_ids[signer])

    async def accept_twilio(self, source: Source, raw: bytes, url: str, signature_header: str | None) -> Outcome:
        """A form Twilio posted to ``url`` (as Twilio requested it) with its ``X-Twilio-Signature``."""
        keys = self._keys
        tokens, key_ids = keys.twilio_tokens, keys.twilio_key_ids
        signer = signature.twilio_signer(tokens, url, raw, signature_header)
        if signer is None:
            return self.counted(Outcome.BAD_SIGNATURE, source.provider)
        return await self._journaled(source, raw, key_ids[signer])

    async def _journaled(self, source: Source, raw: bytes, signed_by: str) -> Outcome:
        try:
            await self._journal.append(source.value, raw, signed_by)
        except Exception:
            return self.counted(Outcome.UNAVAILABLE, source.provider)
        self._notifier.notify(Channel.EVENTS)
        return self.counted(Outcome.ACCEPTED, source.provider)

    def counted(self, outcome: Outcome, provider: str = "meta") -> Outcome:
        self._tally.bump(_REQUESTS[provider, outcome])
        return outcome
