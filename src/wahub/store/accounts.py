"""Accounts: the numbers wahub sends from and receives for, with their encrypted credentials."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store import outbox
from wahub.store.crypto import Vault
from wahub.store.models import Account, Message
from wahub.webhook import signature


@dataclass(frozen=True, slots=True)
class Credentials:
    access_token: str
    app_secret: str
    verify_token: str | None


async def upsert_meta(
    session: AsyncSession,
    vault: Vault,
    *,
    name: str,
    phone_number_id: str,
    waba_id: str | None,
    credentials: Credentials,
    sandbox: bool = False,
    display_phone_number: str | None = None,
    send_rate: int | None = None,
) -> Account:
    """Create or update the Meta account for ``phone_number_id`` (settings and the sandbox call this at start).
    Writing its credentials resumes sending if it was paused for an expired token."""
    account = await by_phone_number_id(session, phone_number_id)
    if account is None:
        account = Account(provider="meta", phone_number_id=phone_number_id, credentials=b"")
        session.add(account)
    account.name = name
    account.waba_id = waba_id
    account.sandbox = sandbox
    account.display_phone_number = display_phone_number
    account.send_rate = send_rate
    await _store_credentials(session, vault, account, credentials)
    return account


async def update(
    session: AsyncSession, vault: Vault, account: Account, *, access_token: str | None, send_rate: int | None
) -> None:
    """``wahub account update``: a new access token (which resumes paused sending) and/or send rate."""
    if send_rate is not None:
        account.send_rate = send_rate
    if access_token is not None:
        old = credentials(account, vault)
        await _store_credentials(session, vault, account, Credentials(access_token, old.app_secret, old.verify_token))
    await session.flush()


async def _store_credentials(session: AsyncSession, vault: Vault, account: Account, creds: Credentials) -> None:
    account.credentials = vault.encrypt(
        {"access_token": creds.access_token, "app_secret": creds.app_secret, "verify_token": creds.verify_token}
    )
    account.webhook_key_id = signature.key_id(creds.app_secret) if creds.app_secret else None
    await session.flush()
    if account.sending_paused:  # new credentials: try sending again, now
        account.sending_paused = None
        await session.flush()
        await outbox.due_now(session, account.id)


def credentials(account: Account, vault: Vault) -> Credentials:
    doc = vault.decrypt(account.credentials)
    return Credentials(
        access_token=str(doc.get("access_token", "")),
        app_secret=str(doc.get("app_secret", "")),
        verify_token=doc.get("verify_token"),
    )


async def fill_key_ids(session: AsyncSession, vault: Vault) -> int:
    """Give accounts stored before wahub kept ``webhook_key_id`` theirs (at start, where the vault is known).
    Returns how many it filled."""
    stmt = sa.select(Account).where(Account.provider == "meta", Account.webhook_key_id.is_(None))
    filled = 0
    for account in (await session.scalars(stmt)).all():
        secret = credentials(account, vault).app_secret
        if secret:
            account.webhook_key_id = signature.key_id(secret)
            filled += 1
    await session.flush()
    return filled


async def by_phone_number_id(session: AsyncSession, phone_number_id: str) -> Account | None:
    stmt = sa.select(Account).where(Account.provider == "meta", Account.phone_number_id == phone_number_id)
    return (await session.scalars(stmt)).first()


async def get(session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise errors.NotFound(f"account {account_id} does not exist")
    return account


async def all_accounts(session: AsyncSession) -> list[Account]:
    return list((await session.scalars(sa.select(Account).order_by(Account.id))).all())


async def real_accounts_exist(session: AsyncSession) -> bool:
    stmt = sa.select(sa.func.count()).select_from(Account).where(Account.sandbox.is_(False))
    return bool(await session.scalar(stmt))


async def default_sender(session: AsyncSession, phone_number_id: str | None = None) -> Account:
    """The account to send from: the one named, or the only one there is."""
    if phone_number_id:
        account = await by_phone_number_id(session, phone_number_id)
        if account is None:
            raise errors.NoAccount(f"no account has phone_number_id {phone_number_id}")
        return account
    accounts = await all_accounts(session)
    real = [a for a in accounts if not a.sandbox] or accounts
    if not real:
        raise errors.NoAccount()
    if len(real) > 1:
        raise errors.NoAccount("several accounts are configured: say which one sends with 'from' (a phone_number_id)")
    return real[0]


async def remove(session: AsyncSession, account: Account) -> int:
    """Delete the account with everything that belongs to it (contacts, conversations, messages, jobs: the
    foreign keys cascade). Returns how many messages were deleted."""
    messages = int(
        await session.scalar(sa.select(sa.func.count()).select_from(Message).where(Message.account_id == account.id))
        or 0
    )
    await session.delete(account)
    await session.flush()
    return messages
