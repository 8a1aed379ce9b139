"""The work of ``wahub account sync-history`` and ``account history-status`` (``cli/account.py``): ask Meta
for a coexistence number's WhatsApp Business app contacts and chat history (``POST /{phone_number_id}/
smb_app_data``), once per onboarding, and read how far the sync has got (``store/history_syncs.py``).

What Meta sends afterwards arrives as webhooks like any other: ``smb_app_state_sync`` (contacts) and ``history``
(chunks of past messages, in three phases), applied by the worker; the progress is kept from them."""

from __future__ import annotations

from dataclasses import dataclass

from wahub import errors
from wahub.commands import Store
from wahub.store import accounts, history_syncs
from wahub.store.crypto import Vault


@dataclass(frozen=True, slots=True)
class Requested:
    """What one ``sync-history`` asked of Meta: per kind (``smb_app_state_sync``, ``history``) Meta's request
    id, and the kinds left out because they were asked before."""

    phone_number_id: str
    request_ids: dict[str, str | None]
    skipped: list[str]


async def sync_history(store: Store, secret_key: str, phone_number_id: str | None, *, contacts: bool) -> Requested:
    """Ask Meta for the account's chat history and (``contacts``) its contacts, contacts first as Meta's guide
    orders them. Each kind is asked once per onboarding: a history already asked for raises
    ``AlreadyRequested`` saying when; contacts already asked for are skipped. Each kind is claimed before Meta is
    asked (two commands at once cannot both ask) and released if Meta refuses, so it can be asked again."""
    import aiohttp

    from wahub.provider.graph import GraphClient
    from wahub.worker import numbers

    vault = Vault(secret_key)
    async with store.transaction() as session:
        account = await accounts.default_sender(session, phone_number_id)
        if account.provider != accounts.META:
            raise errors.InvalidInput("history sync is Meta's (coexistence numbers); Twilio has no such request")
        if account.sandbox:
            raise errors.InvalidInput("the sandbox's number has no WhatsApp Business app, so no history to sync")
        identity, account_id = numbers.provider_account(account, vault), account.id
    kinds, skipped = [history_syncs.HISTORY], []
    async with store.transaction() as session:
        await history_syncs.claim(session, account_id, history_syncs.HISTORY)
    if contacts:
        try:
            async with store.transaction() as session:
                await history_syncs.claim(session, account_id, history_syncs.CONTACTS)
            kinds.insert(0, history_syncs.CONTACTS)
        except errors.AlreadyRequested:
            skipped.append(history_syncs.CONTACTS)
    settings = store.settings
    request_ids: dict[str, str | None] = {}
    async with aiohttp.ClientSession() as http:
        graph = GraphClient(http, settings.graph_url, settings.graph_version, timeout=15)
        for kind in kinds:
            try:
                request_ids[kind] = await graph.smb_app_data(identity.number, identity.token, kind)
            except errors.ProviderError:
                # Not asked (or not known to be): this kind and the ones not reached yet may be asked again.
                async with store.transaction() as session:
                    for left in kinds[kinds.index(kind) :]:
                        await history_syncs.release(session, account_id, left)
                raise
            async with store.transaction() as session:
                await history_syncs.record_request(session, account_id, kind, request_ids[kind])
    return Requested(identity.number, request_ids, skipped)


async def history_status(store: Store, phone_number_id: str | None) -> tuple[str, history_syncs.Status]:
    """The account's phone_number_id and its history sync's state."""
    async with store.transaction() as session:
        account = await accounts.default_sender(session, phone_number_id)
        return account.phone_number_id or "", await history_syncs.status(session, account.id)


async def by_phone_number(store: Store) -> dict[str, history_syncs.Status]:
    """Every account's history sync that has begun, by phone_number_id (``account list`` shows them)."""
    async with store.transaction() as session:
        syncs = await history_syncs.by_account(session)
        return {a.phone_number_id or "": syncs[a.id] for a in await accounts.all_accounts(session) if a.id in syncs}
