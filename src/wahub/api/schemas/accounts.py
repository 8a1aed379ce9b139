"""The answers of ``/api/v1/accounts``: the senders, with how far a coexistence history sync has got."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from wahub.store import history_syncs
from wahub.store.models import Account


class HistorySyncOut(BaseModel):
    """A coexistence history sync (``wahub account sync-history``): the requests made of Meta and the progress
    its ``history`` webhooks reported."""

    history_requested_at: datetime | None = Field(description="when wahub asked Meta for the history (once)")
    history_request_id: str | None = Field(description="Meta's request id for it")
    contacts_requested_at: datetime | None = Field(description="when wahub asked Meta for the contacts (once)")
    contacts_request_id: str | None = Field(description="Meta's request id for it")
    progress: int | None = Field(description="percent, 0-100, the furthest a history webhook reported")
    phase: int | None = Field(description="Meta's phase of that webhook: 0 (day 0-1), 1 (day 1-90), 2 (day 90-180)")
    phases: int = Field(default=history_syncs.PHASES, description="how many phases there are")
    chunks: int = Field(description="history webhooks' chunks received")
    updated_at: datetime | None = Field(description="when the last one came")
    error: str | None = Field(description="why no history comes (the business declined to share it), or null")
    summary: str = Field(description="one line: 'history sync: 60% (phase 2 of 3)'")

    @classmethod
    def of(cls, sync: history_syncs.Status) -> HistorySyncOut:
        return cls(
            history_requested_at=sync.history_requested_at,
            history_request_id=sync.history_request_id,
            contacts_requested_at=sync.contacts_requested_at,
            contacts_request_id=sync.contacts_request_id,
            progress=sync.progress,
            phase=sync.phase,
            chunks=sync.chunks,
            updated_at=sync.updated_at,
            error=sync.error,
            summary=sync.summary(),
        )


class AccountOut(BaseModel):
    """A sender: a Meta number or a Twilio sender."""

    id: int
    name: str
    provider: str = Field(description="meta or twilio")
    phone_number_id: str | None
    display_phone_number: str | None
    sandbox: bool
    sending_paused: str | None = Field(description="why sending is paused (Meta's 190), or null")
    history: HistorySyncOut

    @classmethod
    def of(cls, account: Account, sync: history_syncs.Status) -> AccountOut:
        return cls(
            id=account.id,
            name=account.name,
            provider=account.provider,
            phone_number_id=account.phone_number_id,
            display_phone_number=account.display_phone_number,
            sandbox=account.sandbox,
            sending_paused=account.sending_paused,
            history=HistorySyncOut.of(sync),
        )
