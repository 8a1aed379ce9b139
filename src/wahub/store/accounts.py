"""Accounts: the numbers wahub sends from and receives for, with their encrypted credentials."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import config, errors
from wahub.store import outbox
from wahub.store.crypto import Vault
from wahub.store.models import Account, Message, utcnow
from wahub.webhook import signature

META = "meta"
TWILIO = "twilio"


@dataclass(frozen=True, slots=True)
class Credentials:
    """A Meta account's secrets."""

    access_token: str
    app_secret: str
    verify_token: str | None


@dataclass(frozen=True, slots=True)
class TwilioCredentials:
    """A Twilio account's secrets: the auth token (Twilio signs its callbacks with it) and, when REST calls
    should use one instead, an API key's SID and secret."""

    auth_token: str
    api_key_sid: str | None = None
    api_key_secret: str | None = None


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
        account = Account(provider=META, phone_number_id=phone_number_id, credentials=b"")
        session.add(account)
    account.name = name
    account.waba_id = waba_id
    account.sandbox = sandbox
    account.display_phone_number = display_phone_number
    account.send_rate = send_rate
    await _store_credentials(session, vault, account, credentials)
    return account


async def upsert_twilio(
    session: AsyncSession,
    vault: Vault,
    *,
    name: str,
    account_sid: str,
    sender: str,
    credentials: TwilioCredentials,
    messaging_service_sid: str | None = None,
    sandbox: bool = False,
    send_rate: int | None = None,
) -> Account:
    """Create or update the Twilio account of the WhatsApp ``sender`` (``whatsapp:+E164``, its phone_number_id).
    Writing its credentials resumes sending if it was paused for refused credentials."""
    account = await by_sender(session, sender)
    if account is None or account.provider != TWILIO:
        account = Account(provider=TWILIO, phone_number_id=sender, credentials=b"")
        session.add(account)
    account.name = name
    account.twilio_account_sid = account_sid
    account.messaging_service_sid = messaging_service_sid
    account.display_phone_number = sender.removeprefix("whatsapp:+")
    account.sandbox = sandbox
    account.send_rate = send_rate
    await _store_twilio_credentials(session, vault, account, credentials)
    return account


async def update(
    session: AsyncSession,
    vault: Vault,
    account: Account,
    *,
    access_token: str | None,
    send_rate: int | None,
    opt_out_keyword: str | None = None,
) -> None:
    """``wahub account update``: a new access token (Twilio: auth token), which resumes paused sending, send
    rate and/or opt-out keyword (``""``: none)."""
    if send_rate is not None:
        account.send_rate = send_rate
    if opt_out_keyword is not None:
        keyword = opt_out_keyword.strip()
        if len(keyword) > 32:
            raise errors.InvalidInput("opt_out_keyword: at most 32 characters", field="opt_out_keyword")
        account.opt_out_keyword = keyword or None
    if access_token is not None and account.provider == TWILIO:
        old_twilio = twilio_credentials(account, vault)
        new = TwilioCredentials(access_token, old_twilio.api_key_sid, old_twilio.api_key_secret)
        await _store_twilio_credentials(session, vault, account, new)
    elif access_token is not None:
        old = credentials(account, vault)
        await _store_credentials(session, vault, account, Credentials(access_token, old.app_secret, old.verify_token))
    await session.flush()


async def _store_credentials(session: AsyncSession, vault: Vault, account: Account, creds: Credentials) -> None:
    if _token_of(account, vault) != creds.access_token:
        # Another token: what Meta said of the old one (its kind, expiry, the warning sent) no longer holds.
        account.token_type = account.token_expires_at = account.token_checked_at = account.token_warned_for = None
    account.credentials = vault.encrypt(
        {"access_token": creds.access_token, "app_secret": creds.app_secret, "verify_token": creds.verify_token}
    )
    await _keyed(session, account, creds.app_secret)


async def _store_twilio_credentials(
    session: AsyncSession, vault: Vault, account: Account, creds: TwilioCredentials
) -> None:
    account.credentials = vault.encrypt(
        {"auth_token": creds.auth_token, "api_key_sid": creds.api_key_sid, "api_key_secret": creds.api_key_secret}
    )
    await _keyed(session, account, creds.auth_token)


async def _keyed(session: AsyncSession, account: Account, webhook_secret: str) -> None:
    """Name the secret its webhooks are signed with, and resume sending paused for refused credentials."""
    account.webhook_key_id = signature.key_id(webhook_secret) if webhook_secret else None
    await session.flush()
    if account.sending_paused:  # new credentials: try sending again, now
        account.sending_paused = account.sending_paused_at = None
        await session.flush()
        await outbox.due_now(session, account.id)


def _token_of(account: Account, vault: Vault) -> str | None:
    """The stored access token, or None (none stored, or under another WAHUB_SECRET_KEY)."""
    if not account.credentials:
        return None
    try:
        return credentials(account, vault).access_token
    except errors.InvalidInput:
        return None


def twilio_credentials(account: Account, vault: Vault) -> TwilioCredentials:
    doc = vault.decrypt(account.credentials)
    return TwilioCredentials(
        auth_token=str(doc.get("auth_token", "")),
        api_key_sid=doc.get("api_key_sid"),
        api_key_secret=doc.get("api_key_secret"),
    )


def credentials(account: Account, vault: Vault) -> Credentials:
    """A Meta account's secrets (a Twilio account's: ``twilio_credentials``)."""
    doc = vault.decrypt(account.credentials)
    return Credentials(
        access_token=str(doc.get("access_token", "")),
        app_secret=str(doc.get("app_secret", "")),
        verify_token=doc.get("verify_token"),
    )


async def fill_key_ids(session: AsyncSession, vault: Vault) -> int:
    """Give accounts stored before wahub kept ``webhook_key_id`` theirs (at start, where the vault is known).
    Returns how many it filled."""
    stmt = sa.select(Account).where(Account.provider == META, Account.webhook_key_id.is_(None))
    filled = 0
    for account in (await session.scalars(stmt)).all():
        secret = credentials(account, vault).app_secret
        if secret:
            account.webhook_key_id = signature.key_id(secret)
            filled += 1
    await session.flush()
    return filled


async def by_phone_number_id(session: AsyncSession, phone_number_id: str) -> Account | None:
    stmt = sa.select(Account).where(Account.provider == META, Account.phone_number_id == phone_number_id)
    return (await session.scalars(stmt)).first()


async def by_sender(session: AsyncSession, sender: str) -> Account | None:
    """The account that sends as ``sender``: a Meta phone_number_id, or a Twilio sender written
    ``whatsapp:+14155238886``, ``+14155238886`` or ``14155238886``."""
    if sender.isdigit():
        found = await by_phone_number_id(session, sender)
        if found is not None:
            return found
    try:
        address = config.whatsapp_address(sender)
    except ValueError:
        return None
    stmt = sa.select(Account).where(Account.provider == TWILIO, Account.phone_number_id == address)
    return (await session.scalars(stmt)).first()


async def get(session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise errors.NotFound(f"account {account_id} does not exist")
    return account


async def pause_sending(session: AsyncSession, account_id: int, reason: str) -> Account:
    """Stop sending from the account (the provider refused its credentials: Meta's 190) until new ones are
    written; keeps since when it has been paused."""
    account = await get(session, account_id)
    if account.sending_paused is None:
        account.sending_paused_at = utcnow()
    account.sending_paused = reason
    return account


async def providers(session: AsyncSession) -> dict[int, str]:
    """Each account's provider (meta, twilio) by account id: what messages and conversations show."""
    return {row.id: row.provider for row in await session.execute(sa.select(Account.id, Account.provider))}


async def all_accounts(session: AsyncSession) -> list[Account]:
    return list((await session.scalars(sa.select(Account).order_by(Account.id))).all())


async def real_accounts_exist(session: AsyncSession) -> bool:
    stmt = sa.select(sa.func.count()).select_from(Account).where(Account.sandbox.is_(False))
    return bool(await session.scalar(stmt))


async def default_sender(session: AsyncSession, phone_number_id: str | None = None) -> Account:
    """The account to send from: the one named (a Meta phone_number_id or a Twilio sender), or the only one."""
    if phone_number_id:
        account = await by_sender(session, phone_number_id)
        if account is None:
            raise errors.NoAccount(f"no account has phone_number_id {phone_number_id}")
        return account
    accounts = await all_accounts(session)
    real = [a for a in accounts if not a.sandbox] or accounts
    if not real:
        raise errors.NoAccount()
    if len(real) > 1:
        raise errors.NoAccount(
            "several accounts are configured: say which one sends with 'from' (a phone_number_id, or a Twilio "
            "sender whatsapp:+…)"
        )
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
