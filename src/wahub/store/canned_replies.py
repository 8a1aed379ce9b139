"""Canned replies: texts agents insert into a conversation by a short code, with fields filled from it.

A text names a field as ``{{contact.name}}`` (spaces inside the braces allowed). The fields, and what each one
becomes (empty when it is not known):

- ``contact.name``: the contact's WhatsApp profile name
- ``contact.first_name``: the first word of it
- ``contact.phone``: the contact's number, ``+`` and its digits (``+14155550101``)
- ``agent.name``: the name of the user who inserts the reply; with an API key, the conversation's assignee's
- ``agent.first_name``: the first word of it

A text that names any other field is refused when it is saved (``InvalidInput``), so rendering never meets one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.store import db
from wahub.store.models import CannedReply, Contact, utcnow

FIELDS: dict[str, str] = {
    "contact.name": "the contact's WhatsApp profile name",
    "contact.first_name": "the first word of the contact's name",
    "contact.phone": "the contact's number in E.164 (+14155550101)",
    "agent.name": "the name of the user who inserts the reply (with an API key: the conversation's assignee)",
    "agent.first_name": "the first word of the agent's name",
}
CODE = r"^[a-z0-9][a-z0-9_-]{0,31}$"
TEXT_MAX = 4096  # the longest text message WhatsApp sends

_FIELD = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def unknown_fields(text: str) -> list[str]:
    """The fields ``text`` names that are not in ``FIELDS``, in order, once each."""
    names = (match.group(1).strip() for match in _FIELD.finditer(text))
    return list(dict.fromkeys(name for name in names if name not in FIELDS))


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each field replaced by its value (a field without one becomes empty)."""
    return _FIELD.sub(lambda match: values.get(match.group(1).strip(), ""), text)


def values(contact: Contact, agent_name: str | None) -> dict[str, str]:
    """What each field becomes in a conversation with ``contact``, inserted by the agent ``agent_name``."""
    name = (contact.profile_name or "").strip()
    agent = (agent_name or "").strip()
    return {
        "contact.name": name,
        "contact.first_name": name.split()[0] if name else "",
        "contact.phone": f"+{contact.wa_id}" if contact.wa_id else "",
        "agent.name": agent,
        "agent.first_name": agent.split()[0] if agent else "",
    }


async def all_replies(session: AsyncSession) -> list[CannedReply]:
    """Every canned reply, by code."""
    return list((await session.scalars(sa.select(CannedReply).order_by(CannedReply.code))).all())


async def get(session: AsyncSession, reply_id: int) -> CannedReply:
    reply = await session.get(CannedReply, reply_id)
    if reply is None:
        raise errors.NotFound(f"canned reply {reply_id} does not exist")
    return reply


async def create(session: AsyncSession, code: str, text: str) -> CannedReply:
    """A new canned reply; ``Conflict`` if ``code`` is taken, ``InvalidInput`` if ``text`` names unknown fields."""
    _check(text)
    reply = CannedReply(code=code, text=text)
    session.add(reply)
    await db.flush_unique(session, _taken(code))
    return reply


async def update(session: AsyncSession, reply_id: int, *, code: str | None, text: str | None) -> CannedReply:
    """Change the reply's code or text (``None``: as it is)."""
    reply = await get(session, reply_id)
    if text is not None:
        _check(text)
        reply.text = text
    if code is not None:
        reply.code = code
    reply.updated_at = utcnow()
    await db.flush_unique(session, _taken(reply.code))
    return reply


async def delete(session: AsyncSession, reply_id: int) -> None:
    await session.delete(await get(session, reply_id))


def _check(text: str) -> None:
    unknown = unknown_fields(text)
    if unknown:
        raise errors.InvalidInput(
            f"text: unknown field {{{{{unknown[0]}}}}}; the fields are {', '.join(FIELDS)}",
            field="text",
            unknown=unknown,
        )


def _taken(code: str) -> errors.Conflict:
    return errors.Conflict(f"a canned reply with code '{code}' exists", code=code)
