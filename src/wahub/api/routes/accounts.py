"""``/api/v1/accounts``: the senders, and how far each one's coexistence history sync has got (the sync itself is
asked for with ``wahub account sync-history``; its progress comes from Meta's ``history`` webhooks)."""

from __future__ import annotations

from fastapi import APIRouter

from wahub.api import schemas
from wahub.api.deps import Overseer, ReadSession
from wahub.api.schemas.accounts import AccountOut, HistorySyncOut
from wahub.store import accounts, history_syncs

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"])


@router.get("", response_model=list[AccountOut])
async def list_accounts(session: ReadSession, _key: Overseer) -> list[AccountOut]:
    """Every account, oldest first, with its history sync. For admins and API keys (an agent gets 403)."""
    syncs = await history_syncs.by_account(session)
    return [AccountOut.of(a, syncs.get(a.id, history_syncs.NONE)) for a in await accounts.all_accounts(session)]


@router.get("/{account_id}/history", response_model=HistorySyncOut)
async def history(account_id: schemas.Id, session: ReadSession, _key: Overseer) -> HistorySyncOut:
    """The account's coexistence history sync: when it was asked of Meta, the progress and phase reported, the
    chunks received and when the last came. 404 if there is no such account."""
    account = await accounts.get(session, account_id)
    return HistorySyncOut.of(await history_syncs.status(session, account.id))
