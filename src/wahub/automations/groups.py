"""Managing WhatsApp groups through Meta's Groups API, for the REST API and the CLI: each call is made at Meta
first and its answer stored after, so the store never claims what Meta refused. What Meta does asynchronously
(the group's id and invite link after a creation, joins, removals, settings) arrives by the group webhooks,
which ``store/groups.py`` applies.

The Graph calls go through a ``GroupApi`` the composition root gives (``provider/graph.py``'s client is one),
as template management does (``template_sync.TemplateApi``), so the API never imports the provider.
https://developers.facebook.com/documentation/business-messaging/whatsapp/groups/reference/
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import errors
from wahub.store import accounts, db, groups
from wahub.store.crypto import Vault
from wahub.store.models import Account


class GroupApi(Protocol):
    """Meta's Groups API calls, by phone number or group id and access token."""

    async def create_group(
        self, phone_number_id: str, token: str, subject: str, description: str | None, join_approval_mode: str
    ) -> str: ...

    async def group_info(self, group_id: str, token: str) -> dict[str, Any]: ...

    async def invite_link(self, group_id: str, token: str, *, reset: bool = False) -> str: ...

    async def join_requests(self, group_id: str, token: str) -> list[dict[str, Any]]: ...

    async def answer_join_requests(
        self, group_id: str, token: str, request_ids: list[str], *, approve: bool
    ) -> dict[str, Any]: ...

    async def remove_participants(self, group_id: str, token: str, users: list[str]) -> None: ...

    async def update_group(self, group_id: str, token: str, subject: str | None, description: str | None) -> None: ...

    async def delete_group(self, group_id: str, token: str) -> None: ...


async def meta_account(session: AsyncSession, account_id: int | None) -> Account:
    """The Meta account ``account_id``, or the only Meta account there is (groups are Meta's)."""
    if account_id is not None:
        try:
            account = await accounts.get(session, account_id)
        except errors.NotFound as exc:
            raise errors.InvalidInput(f"account_id: no account {account_id}", field="account_id") from exc
        if account.provider != accounts.META:
            raise errors.InvalidInput(
                f"account_id: account {account_id} is not a Meta account (groups are Meta's Cloud API)",
                field="account_id",
            )
        return account
    meta = [a for a in await accounts.all_accounts(session) if a.provider == accounts.META]
    found = [a for a in meta if not a.sandbox] or meta
    if not found:
        raise errors.NoAccount("no Meta account is configured: groups are Meta's Cloud API")
    if len(found) > 1:
        raise errors.InvalidInput("account_id: several Meta accounts: say which", field="account_id")
    return found[0]


def token_of(account: Account, vault: Vault) -> str:
    token = accounts.credentials(account, vault).access_token
    if not token:
        raise errors.NoAccount(f"account {account.id} has no access token")
    return token


async def create(
    sessions: async_sessionmaker[AsyncSession],
    api: GroupApi,
    vault: Vault,
    account_id: int | None,
    subject: str,
    description: str | None,
    join_approval_mode: str,
) -> int:
    """Ask Meta for a new group; returns the stored group's id (``creating`` until Meta's webhook names it)."""
    async with db.transaction(sessions) as session:
        account = await meta_account(session, account_id)
        number, token = account.phone_number_id, token_of(account, vault)
    if not number:
        raise errors.NoAccount(f"account {account.id} has no phone number id")
    request_id = await api.create_group(number, token, subject, description, join_approval_mode)
    async with db.transaction(sessions) as session:
        row = await groups.create_pending(session, account.id, request_id, subject, description, join_approval_mode)
        return row.id


async def target(sessions: async_sessionmaker[AsyncSession], vault: Vault, group_row_id: int) -> tuple[str, str, int]:
    """Meta's id of a stored group and a token to act on it with (``Conflict`` while Meta has not named it)."""
    async with db.transaction(sessions) as session:
        row = await groups.get(session, group_row_id)
        if row.group_id is None:
            raise errors.Conflict(
                f"group {group_row_id} is {row.state}: Meta has not named it yet (its webhook is awaited)"
            )
        if row.state == groups.DELETED:
            raise errors.NotFound(f"group {group_row_id} was deleted")
        account = await accounts.get(session, row.account_id)
        return row.group_id, token_of(account, vault), row.account_id


async def refresh(sessions: async_sessionmaker[AsyncSession], api: GroupApi, vault: Vault, group_row_id: int) -> None:
    """Read the group's metadata and participants from Meta and store them."""
    group_id, token, _ = await target(sessions, vault, group_row_id)
    info = await api.group_info(group_id, token)
    async with db.transaction(sessions) as session:
        row = await groups.get(session, group_row_id, lock=True)
        groups.apply_info(row, info)
        await groups.name_contact(session, row)


async def invite_link(
    sessions: async_sessionmaker[AsyncSession], api: GroupApi, vault: Vault, group_row_id: int, *, reset: bool
) -> str:
    """The group's invite link as Meta has it now (``reset``: a new one; the old one stops working)."""
    group_id, token, _ = await target(sessions, vault, group_row_id)
    link = await api.invite_link(group_id, token, reset=reset)
    async with db.transaction(sessions) as session:
        row = await groups.get(session, group_row_id)
        row.invite_link = link
    return link


async def update(
    sessions: async_sessionmaker[AsyncSession],
    api: GroupApi,
    vault: Vault,
    group_row_id: int,
    subject: str | None,
    description: str | None,
) -> None:
    """A new subject and/or description, at Meta and then here (the contact's name follows the subject)."""
    group_id, token, _ = await target(sessions, vault, group_row_id)
    await api.update_group(group_id, token, subject, description)
    async with db.transaction(sessions) as session:
        row = await groups.get(session, group_row_id)
        if subject is not None:
            row.subject = subject
            await groups.name_contact(session, row)
        if description is not None:
            row.description = description


async def delete(sessions: async_sessionmaker[AsyncSession], api: GroupApi, vault: Vault, group_row_id: int) -> None:
    """End the group at Meta (for every participant); it is kept here as ``deleted``, with its messages."""
    group_id, token, _ = await target(sessions, vault, group_row_id)
    await api.delete_group(group_id, token)
    async with db.transaction(sessions) as session:
        row = await groups.get(session, group_row_id)
        row.state = groups.DELETED


async def remove_participants(
    sessions: async_sessionmaker[AsyncSession], api: GroupApi, vault: Vault, group_row_id: int, users: list[str]
) -> None:
    """Ask Meta to remove these users; each removal is confirmed by a ``group_participants_update`` webhook."""
    group_id, token, _ = await target(sessions, vault, group_row_id)
    await api.remove_participants(group_id, token, users)


async def answer_join_requests(
    sessions: async_sessionmaker[AsyncSession],
    api: GroupApi,
    vault: Vault,
    group_row_id: int,
    request_ids: list[str],
    *,
    approve: bool,
) -> dict[str, Any]:
    """Approve or reject open join requests; returns Meta's answer (the requests done, and the failed ones).
    An approved request's user joins by ``group_participants_update``; the request is closed here now."""
    group_id, token, _ = await target(sessions, vault, group_row_id)
    answer = await api.answer_join_requests(group_id, token, request_ids, approve=approve)
    done_key = "approved_join_requests" if approve else "rejected_join_requests"
    done = [str(r) for r in answer.get(done_key) or [] if isinstance(r, str | int)]
    async with db.transaction(sessions) as session:
        row = await groups.get(session, group_row_id, lock=True)
        row.join_requests = {rid: r for rid, r in (row.join_requests or {}).items() if rid not in done}
    return {"done": done, "failed": answer.get("failed_join_requests") or []}
