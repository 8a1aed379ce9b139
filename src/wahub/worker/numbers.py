"""The sender's state for each phone number whose send lease it holds, and the provider that sends for it."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from wahub import domain, errors
from wahub.provider import base
from wahub.store import accounts, outbox
from wahub.store.crypto import Vault
from wahub.store.models import Account
from wahub.worker import ratelimit

CLAIM_AHEAD = 0.5  # claim at most this many seconds' worth of a number's rate ahead of sending it


@dataclass(slots=True)
class Number:
    """A phone number this sender holds the lease of."""

    account_id: int
    kind: str  # the provider: meta or twilio
    address: str  # the provider's id of the number: what the pair pacer and the logs name it by
    provider: base.Provider
    window: ratelimit.SendWindow
    slots: asyncio.Semaphore
    deadline: float = 0.0  # monotonic time until which our lease lets us send
    paused: bool = False
    waiting: int = 0  # claimed and not yet through the window
    busy: int = 0  # claimed and its result not yet handed to the recorder
    recorded: asyncio.Future[None] | None = None  # resolved once its results so far are written
    leaving: bool = False  # beyond our fair share of the numbers: handed over once its sends are recorded
    active: float = field(default_factory=time.monotonic)  # when it last had work

    def held(self, now: float) -> bool:
        """Ours to send for: not leaving, and its lease not lost (a lost one left its deadline behind)."""
        return not self.leaving and self.deadline > now

    def recorded_all(self) -> bool:
        return self.recorded is None or self.recorded.done()

    def may_send(self) -> bool:
        return not self.paused and time.monotonic() < self.deadline

    def room(self) -> int:
        """How many more jobs to claim now: none unless a quarter of CLAIM_AHEAD is free, so claims come in
        batches rather than one transaction per job."""
        if not self.may_send():
            return 0
        ahead = max(1, math.ceil(self.window.current * CLAIM_AHEAD))
        room = ahead - self.waiting
        return room if room >= max(1, ahead // 4) else 0


def provider_account(account: Account, vault: Vault) -> base.Account:
    """A stored account as its provider sees it, with its credentials decrypted."""
    if account.provider == accounts.TWILIO:
        creds = accounts.twilio_credentials(account, vault)
        key = (creds.api_key_sid, creds.api_key_secret) if creds.api_key_sid and creds.api_key_secret else None
        return base.Account(
            provider=account.provider,
            number=account.phone_number_id or "",
            token=creds.auth_token,
            account_sid=account.twilio_account_sid,
            api_key=key,
            messaging_service_sid=account.messaging_service_sid,
        )
    token = accounts.credentials(account, vault).access_token
    return base.Account(provider=account.provider, number=account.phone_number_id or "", token=token)


# What each provider's credential is called, and its setting: for the reason a paused account shows.
_CREDENTIALS = {"meta": ("access token", "WAHUB_ACCESS_TOKEN"), "twilio": ("auth token", "WAHUB_TWILIO_AUTH_TOKEN")}


def refused_reason(kind: str, exc: errors.ProviderError) -> str:
    """Why an account's sending is paused when its provider refused its credentials (Meta's 190): what the
    admin pages, ``/readyz`` and ``wahub monitor`` show."""
    credential, setting = _CREDENTIALS.get(kind, _CREDENTIALS["meta"])
    return (
        f"{kind.capitalize()} refused the {credential} ({exc.code}: {exc.message}); replace it (wahub "
        f"account update --{credential.replace(' ', '-')}, or {setting} and restart) and sending resumes; "
        "queued messages wait"
    )


def outbound(job: outbox.Claimed) -> base.Outbound | None:
    """The message a send job carries, in provider-neutral terms; None for a read receipt."""
    if job.kind != outbox.JobKind.SEND.value:
        return None
    recipient = base.Recipient(group_id=job.group_id, wa_id=job.wa_id, user_id=job.user_id)
    reference = domain.send_reference(job.message_id) if job.confirm else None
    return base.Outbound(recipient, job.message_type, job.content, reply_to=job.reply_to_wamid, reference=reference)


def kind_of(job: outbox.Claimed) -> str:
    """A job's message type, or ``read`` / ``typing`` for a read receipt (with the typing indicator)."""
    if job.kind == outbox.JobKind.SEND.value:
        return job.message_type
    return "typing" if job.kind == outbox.JobKind.READ_TYPING.value else "read"
