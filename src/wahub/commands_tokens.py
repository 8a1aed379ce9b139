"""The work of ``wahub account exchange-token`` and the token part of ``wahub account test`` (``cli/account.py``):
Meta's token exchange and ``debug_token``, and what they say kept on the account (``store/tokens.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wahub import errors
from wahub.commands import Store
from wahub.store import accounts, tokens
from wahub.store.crypto import Vault
from wahub.store.models import Account, utcnow

if TYPE_CHECKING:
    from wahub.provider.graph import GraphClient


async def exchange(
    store: Store, secret_key: str, phone_number_id: str | None, *, app_id: str, app_secret: str | None, short_token: str
) -> tuple[Account, str]:
    """Turn a short-lived user token into a long-lived one at Meta (the configured Graph URL) and store it on the
    account, encrypted, with its expiry (a new token resumes sending paused for the old one). ``app_secret``
    defaults to the account's: Meta's app secret both signs its webhooks and exchanges its tokens. Returns the
    account and how long the new token lives, in words."""
    import aiohttp

    from wahub.provider.graph import GraphClient

    vault = Vault(secret_key)
    async with store.transaction() as session:
        account = await accounts.default_sender(session, phone_number_id)
        if account.provider != accounts.META:
            raise errors.InvalidInput("exchange-token is for Meta accounts; Twilio's auth token does not expire")
        if account.sandbox:
            raise errors.InvalidInput("the sandbox's token is a System User's and never expires: nothing to exchange")
        secret = app_secret or accounts.credentials(account, vault).app_secret
        account_id = account.id
    settings = store.settings
    async with aiohttp.ClientSession() as http:
        graph = GraphClient(http, settings.graph_url, settings.graph_version, timeout=15)
        long_lived = await graph.exchange_token(app_id, secret, short_token)
    now = utcnow()
    async with store.transaction() as session:
        account = await accounts.get(session, account_id)
        await accounts.update(session, vault, account, access_token=long_lived.access_token, send_rate=None)
        tokens.record_expiry(account, "USER", long_lived.expires_at, now)
    return account, tokens.describe(account, now)


async def looked_up(store: Store, vault: Vault, account_id: int, graph: GraphClient, token: str) -> dict[str, Any]:
    """Ask Meta's ``debug_token`` about the account's token, keep what it says, and return it for ``account
    test`` to show (``summary``: ``expires on … (in N days)`` or ``never expires (System User token)``). A
    refusal (190) is raised; any other failure is shown, not raised: the number itself answered."""
    try:
        info = await graph.debug_token(token)
    except errors.AccessTokenInvalid:
        raise
    except errors.ProviderError as exc:
        return {"summary": f"expiry not known: debug_token answered {exc.code or '-'}: {exc.message}"}
    if not info.valid:
        raise errors.AccessTokenInvalid(f"debug_token: {info.error or 'the token is not valid'}", code=190)
    now = utcnow()
    async with store.transaction() as session:
        account = await accounts.get(session, account_id)
        tokens.record(account, info, now)
        summary = tokens.describe(account, now)
    return {
        "type": info.type,
        "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        "data_access_expires_at": info.data_access_expires_at.isoformat() if info.data_access_expires_at else None,
        "scopes": list(info.scopes),
        "summary": summary,
    }
