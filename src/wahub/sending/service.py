"""Checking a ``SendRequest`` against the data and queueing it: the one way the API (``api/intake.py``, many at
once) and ``wahub send`` (one) queue what a client asks to send.

The checks that need the database are here: the sender account and what its provider can send
(``sending/rules.py``), a recipient that only a contact's ``wa_id``
makes valid, a file uploaded to wahub and its kind, and, for an agent, that the send stays within what they may
see (``store/reach.py``). The window check and the writing (message, outbox job, entity
links, in the caller's transaction) are ``store/outbound.py``'s."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.message_templates import params
from wahub.sending import rules
from wahub.sending.request import SendRequest
from wahub.store import accounts, contacts, media, outbound, reach, template_syncs, templates
from wahub.store.models import Account, Contact, Message


async def prepare(
    session: AsyncSession,
    request: SendRequest,
    senders: dict[str | None, Account] | None = None,
    *,
    sent_by_user_id: int | None = None,
    sent_by_api_key_id: int | None = None,
    agent_id: int | None = None,
) -> outbound.QueuedSend:
    """What ``request`` asks to queue, from its sender (the default account when it names none; ``senders``
    remembers them across the requests of one transaction), its recipient and any file uploaded to wahub
    checked; raises ``InvalidInput`` (or the sender's ``NotFound``) if they do not hold. ``sent_by_*`` records
    who asks (a user, an API key). ``agent_id`` is the agent who sends, whose view limits where it may go
    (``_within_reach``); None for keys and admins."""
    senders = {} if senders is None else senders
    account = senders.get(request.sender)
    if account is None:
        account = senders[request.sender] = await accounts.default_sender(session, request.sender)
    rules.check(account.provider, request)
    if request.type is domain.MessageType.TEMPLATE and account.provider == accounts.META and account.waba_id:
        await _check_template(session, account.waba_id, request.content)
    if (
        not request.group
        and not _valid_number(request.to)
        and await contacts.find(session, account.id, domain.ContactRef(wa_id=request.to)) is None
    ):
        raise errors.InvalidInput(
            f"to: not a valid phone number: '+{request.to}' (use E.164, e.g. +14155550101; a wa_id Meta gave for a "
            "contact is taken as it is)",
            field="to",
        )
    if agent_id is not None:
        await _within_reach(session, account, request, agent_id)
    if request.uploaded_file is not None:
        await _check_upload(session, account, request.type.value, request.uploaded_file)
    content: dict[str, Any] = {request.type.value: request.content}
    if request.callback_data is not None:
        content["biz_opaque_callback_data"] = request.callback_data
    return outbound.QueuedSend(
        account,
        domain.group_contact(request.to) if request.group else domain.ContactRef(wa_id=request.to),
        request.type,
        content,
        reply_to=request.reply_to,
        free_form=request.free_form,
        group_id=request.to if request.group else None,
        entities=tuple(dict.fromkeys(request.entities)),
        sent_by_user_id=sent_by_user_id,
        sent_by_api_key_id=sent_by_api_key_id,
        send_at=request.send_at,
    )


async def queue(session: AsyncSession, request: SendRequest) -> tuple[Message, Contact]:
    """Queue ``request`` in the caller's transaction (``wahub send``); raises ``WindowClosed`` if it needs a
    window that is closed."""
    (result,) = await outbound.queue_many(session, [await prepare(session, request)])
    if isinstance(result, errors.WindowClosed):
        raise result
    return result


async def _within_reach(session: AsyncSession, account: Account, request: SendRequest, agent_id: int) -> None:
    """An agent writes only where they may read: to a contact whose conversation on this account is theirs,
    unassigned or not started yet; answering (a reply's context, a reaction) only a message they may see; and
    sending only a file no hidden conversation carries. A refusal is the 404 a read of it gets, so a send tells
    no more about another agent's conversation than a read does."""
    chat = domain.group_contact(request.to) if request.group else domain.ContactRef(wa_id=request.to)
    if await reach.hides_contact(session, agent_id, account.id, chat):
        raise errors.NotFound(f"conversation with {request.to} does not exist")
    for wamid in _answered(request):
        if await reach.hides_message(session, agent_id, account.id, wamid):
            raise errors.NotFound(f"message {wamid} does not exist")
    if request.uploaded_file is not None and await reach.hides_media(session, agent_id, request.uploaded_file):
        where = f"{request.type.value}.wahub_media_id"  # as ``_check_upload`` answers a file it does not know
        unknown = f"{where}: no file {request.uploaded_file} was uploaded for this account"
        raise errors.InvalidInput(unknown, field=where)


def _answered(request: SendRequest) -> list[str]:
    """The wamids a send acts on: the message it replies to, the message a reaction is put on."""
    wamids = [request.reply_to] if request.reply_to else []
    if request.type is domain.MessageType.REACTION and isinstance(request.content, dict):
        target = request.content.get("message_id")
        if isinstance(target, str) and target:
            wamids.append(target)
    return wamids


def _valid_number(digits: str) -> bool:
    try:
        return domain.e164_digits(digits) == digits
    except ValueError:
        return False


async def _check_upload(session: AsyncSession, account: Account, kind: str, media_id: int) -> None:
    item = await media.get(session, media_id)
    where = f"{kind}.wahub_media_id"
    if item is None or item.account_id != account.id or not media.is_upload(item):
        raise errors.InvalidInput(f"{where}: no file {media_id} was uploaded for this account", field=where)
    kinds = domain.MEDIA_TYPES.get(item.mime_type or "", (frozenset(), 0))[0]
    if kind not in kinds:
        raise errors.InvalidInput(
            f"{where}: a {item.mime_type} file cannot be sent as {kind} (only as {', '.join(sorted(kinds))})",
            field=where,
        )


# Statuses in which Meta refuses to send a template (132001 not approved, 132015 paused, 132016 disabled).
_UNSENDABLE = frozenset({"PENDING", "REJECTED", "PAUSED", "DISABLED", "PENDING_DELETION", "DELETED", "LIMIT_EXCEEDED"})


async def _check_template(session: AsyncSession, waba_id: str, content: Any) -> None:
    """A template send checked against the stored template: its status, then its parameters (count, types,
    button indexes: ``message_templates/params.py``). A template wahub does not have is refused only once a sync
    has read the account's full list: before that, wahub cannot tell a missing template from one it has not
    read, and Meta decides. After a sync, a template created since is what a user most likely means, so the
    refusal says when the list was read and how to read it again."""
    if not isinstance(content, dict) or not isinstance(content.get("name"), str):
        return
    language = content.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str):
        return
    name = content["name"]
    row = await templates.find(session, waba_id, name, code)
    if row is None:
        synced = await template_syncs.last_synced(session, waba_id)
        if synced is not None:
            raise errors.InvalidInput(
                f"template.name: this account has no template '{name}' in {code} (its templates were read from "
                f"Meta at {synced:%Y-%m-%d %H:%M} UTC; run 'wahub templates sync' or POST /api/v1/templates/sync "
                "if it was created since)",
                field="template.name",
            )
        return
    if row.status in _UNSENDABLE:
        raise errors.InvalidInput(
            f"template.name: template '{name}' in {code} is {row.status}: Meta sends only approved templates",
            field="template.name",
        )
    if row.components:
        params.check(row.components, content)
