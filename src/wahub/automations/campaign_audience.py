"""A campaign's audience resolved into its recipients, each with the template parameters it gets, when the
campaign is created (``store/campaigns.py``).

An audience is one of: ``labels`` (the contacts of the account with every one of them, ``store/audiences.py``),
an ``entity`` (the contacts whose conversations or messages are linked to it, ``store/entities.py``),
``numbers`` (E.164; contacts found or created), or ``csv`` (the text of a contacts CSV file, read as
``wahub contacts import`` reads one, its contacts created or updated as that import does).

Parameters say where each of the template's parameters comes from: ``{"text": "..."}`` (the same for all),
``{"attribute": "first_name"}`` (the contact's custom attribute), ``{"contact": "name"}`` (its saved or profile
name), or ``{"column": "code"}`` (the CSV row's column). A recipient without a value for one refuses the whole
campaign (``InvalidInput`` naming the recipient and the parameter): a campaign is not half-sent by surprise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import domain, errors
from wahub.imports import contact_importer, contacts_csv
from wahub.message_templates import params
from wahub.store import audiences, contacts, entities
from wahub.store.models import Contact, Conversation, Message

MAX_RECIPIENTS = 100_000
SOURCES = ("text", "attribute", "contact", "column")


@dataclass(frozen=True, slots=True)
class Member:
    contact: Contact
    columns: dict[str, str] | None = None  # its CSV row's cells by column (``csv`` audiences)


def _invalid(field: str, reason: str) -> errors.InvalidInput:
    return errors.InvalidInput(f"{field}: {reason}", field=field)


async def resolve(session: AsyncSession, account_id: int, audience: dict[str, Any]) -> list[Member]:
    """The contacts ``audience`` selects, in a stable order; ``InvalidInput`` naming what is wrong with it."""
    given = [k for k in ("labels", "entity", "numbers", "csv") if audience.get(k) is not None]
    if len(given) != 1:
        raise _invalid("audience", "give exactly one of labels, entity, numbers, csv")
    kind = given[0]
    if kind == "labels":
        members = [Member(c) for c in await _labelled(session, account_id, audience["labels"])]
    elif kind == "entity":
        members = [Member(c) for c in await _linked(session, account_id, audience["entity"])]
    elif kind == "numbers":
        members = [Member(c) for c in await _numbers(session, account_id, audience["numbers"])]
    else:
        members = await _csv(session, account_id, audience["csv"])
    if not members:
        raise _invalid(f"audience.{kind}", "selects no contacts")
    if len(members) > MAX_RECIPIENTS:
        raise _invalid(f"audience.{kind}", f"selects {len(members)} contacts; a campaign takes {MAX_RECIPIENTS}")
    return members


async def _labelled(session: AsyncSession, account_id: int, labels: Any) -> list[Contact]:
    if not isinstance(labels, list) or not labels:
        raise _invalid("audience.labels", "a list of one or more labels")
    condition = audiences.labelled(labels)
    stmt = sa.select(Contact).where(Contact.account_id == account_id, condition).order_by(Contact.id)
    return [c for c in (await session.scalars(stmt)).all() if not _group(c)]


def _group(contact: Contact) -> bool:
    return bool(contact.user_id and contact.user_id.startswith("group:"))


async def _linked(session: AsyncSession, account_id: int, entity: Any) -> list[Contact]:
    if not isinstance(entity, dict) or not all(isinstance(entity.get(k), str) for k in ("entity_type", "entity_id")):
        raise _invalid("audience.entity", "an object with entity_type and entity_id")
    pair = (entity["entity_type"], entity["entity_id"])
    by_conversation = sa.select(Conversation.contact_id).where(Conversation.id.in_(entities.linked_conversations(pair)))
    by_message = sa.select(Message.contact_id).where(Message.id.in_(entities.linked_messages(pair)))
    stmt = (
        sa.select(Contact)
        .where(Contact.account_id == account_id, sa.or_(Contact.id.in_(by_conversation), Contact.id.in_(by_message)))
        .order_by(Contact.id)
    )
    return [c for c in (await session.scalars(stmt)).all() if not _group(c)]


async def _numbers(session: AsyncSession, account_id: int, numbers: Any) -> list[Contact]:
    if not isinstance(numbers, list) or not numbers:
        raise _invalid("audience.numbers", "a list of one or more numbers in E.164")
    wa_ids: list[str] = []
    for n, value in enumerate(numbers):
        try:
            wa_ids.append(contacts_csv.number(value if isinstance(value, str) else ""))
        except ValueError as exc:
            raise _invalid(f"audience.numbers[{n}]", str(exc)) from None
    return await _contacts(session, account_id, list(dict.fromkeys(wa_ids)))


async def _contacts(session: AsyncSession, account_id: int, wa_ids: list[str]) -> list[Contact]:
    """The contacts of these numbers, found or created, in the numbers' order."""
    found: dict[str, Contact] = {}
    for start in range(0, len(wa_ids), contact_importer.CHUNK):
        part = wa_ids[start : start + contact_importer.CHUNK]
        resolved = await contacts.resolve_many(session, account_id, [domain.ContactRef(wa_id=w) for w in part])
        for wa_id in part:
            found[wa_id] = resolved.get(domain.ContactRef(wa_id=wa_id))
    return [found[w] for w in wa_ids]


async def _csv(session: AsyncSession, account_id: int, text: Any) -> list[Member]:
    if not isinstance(text, str) or not text.strip():
        raise _invalid("audience.csv", "the text of a CSV file with a header line and a 'number' column")
    try:
        parsed = contacts_csv.parse(text.encode())
    except errors.InvalidInput as exc:
        raise _invalid("audience.csv", exc.message) from None
    if parsed.rejected:
        first = parsed.rejected[0]
        raise _invalid("audience.csv", f"line {first.line}: {first.reason} ({len(parsed.rejected)} bad rows)")
    summary = contact_importer.Summary()
    for start in range(0, len(parsed.rows), contact_importer.CHUNK):
        await contact_importer.store(session, account_id, parsed.rows[start : start + contact_importer.CHUNK], summary)
    if summary.skipped:
        first = summary.skipped[0]
        raise _invalid("audience.csv", f"line {first.line}: {first.reason}")
    found = await _contacts(session, account_id, [r.wa_id for r in parsed.rows])
    return [
        Member(contact, {"number": "+" + row.wa_id, "name": row.name or "", **_keyed(row.attributes)})
        for contact, row in zip(found, parsed.rows, strict=True)
    ]


def _keyed(cells: dict[str, str]) -> dict[str, str]:
    return {_column(k): v for k, v in cells.items()}


def _column(name: str) -> str:
    """A column's name as lookups compare it: spaces as '_' (as the import names attributes), any case."""
    return "_".join(name.split()).casefold()


# --- parameters ---


def check_sources(spec: Any) -> dict[str, Any] | None:
    """``parameters`` as given, checked for shape: ``{"header": [source], "body": [source], "buttons": [{"index",
    "sub_type", "parameters": [source]}]}``; InvalidInput naming the first wrong one."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or set(spec) - {"header", "body", "buttons"}:
        raise _invalid("parameters", "an object with header, body and buttons (lists of parameter sources)")
    for part in ("header", "body"):
        for n, source in enumerate(_list(spec.get(part), f"parameters.{part}")):
            _source(source, f"parameters.{part}[{n}]")
    for n, button in enumerate(_list(spec.get("buttons"), "parameters.buttons")):
        where = f"parameters.buttons[{n}]"
        if not isinstance(button, dict) or not isinstance(button.get("index"), int) or button["index"] < 0:
            raise _invalid(where, "an object with index (a number), sub_type and parameters")
        if not isinstance(button.get("sub_type", "url"), str):
            raise _invalid(f"{where}.sub_type", "a button sub_type such as url or copy_code")
        for m, source in enumerate(_list(button.get("parameters"), f"{where}.parameters")):
            _source(source, f"{where}.parameters[{m}]")
    return spec


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(where, "a list of parameter sources")
    return value


def _source(source: Any, where: str) -> None:
    keys = [k for k in SOURCES if isinstance(source, dict) and k in source]
    if len(keys) != 1 or not isinstance(source[keys[0]], str) or set(source) - {*SOURCES, "parameter_name"}:
        raise _invalid(
            where,
            'one of {"text": "..."}, {"attribute": "first_name"}, {"contact": "name"}, {"column": "code"} '
            "(with an optional parameter_name)",
        )
    if keys[0] == "contact" and source["contact"] != "name":
        raise _invalid(where, 'a contact source is {"contact": "name"}')


def components_for(spec: dict[str, Any] | None, member: Member) -> list[dict[str, Any]] | None:
    """The send's ``template.components`` for ``member``; InvalidInput naming the recipient and the parameter
    that has no value."""
    if not spec:
        return None
    found: list[dict[str, Any]] = []
    for part in ("header", "body"):
        sources = spec.get(part) or []
        if sources:
            values = [_text(s, member, f"parameters.{part}[{n}]") for n, s in enumerate(sources)]
            items = [_param(s, v) for s, v in zip(sources, values, strict=True)]
            found.append({"type": part, "parameters": items})
    for n, button in enumerate(spec.get("buttons") or []):
        sub_type = str(button.get("sub_type", "url"))
        items = []
        for m, source in enumerate(button.get("parameters") or []):
            value = _text(source, member, f"parameters.buttons[{n}].parameters[{m}]")
            coupon = {"type": "coupon_code", "coupon_code": value}
            items.append(coupon if sub_type == "copy_code" else _param({}, value))
        found.append({"type": "button", "sub_type": sub_type, "index": button["index"], "parameters": items})
    return found


def _param(source: dict[str, Any], value: str) -> dict[str, Any]:
    item = {"type": "text", "text": value}
    if isinstance(source.get("parameter_name"), str):
        item["parameter_name"] = source["parameter_name"]
    return item


def _text(source: dict[str, Any], member: Member, where: str) -> str:
    contact = member.contact
    if "text" in source:
        value: object = source["text"]
        what = "the text"
    elif "attribute" in source:
        value = (contact.attributes or {}).get(source["attribute"])
        what = f"the contact attribute '{source['attribute']}'"
    elif "contact" in source:
        value = contact.saved_name or contact.profile_name
        what = "the contact's name"
    else:
        if member.columns is None:
            raise _invalid(where, "a column source takes its value from a csv audience's row")
        value = member.columns.get(_column(source["column"]))
        what = f"the CSV column '{source['column']}'"
    text = "" if value is None else str(value).strip()
    if not text:
        who = f"+{contact.wa_id}" if contact.wa_id else f"contact {contact.id}"
        raise _invalid(where, f"no value for {who}: {what} is empty or not set")
    return text


def check_against(template_components: Any, sample: list[dict[str, Any]] | None) -> None:
    """The parameters checked against the template's components (count, types, buttons), as a send's are."""
    try:
        params.check(template_components, {"components": sample or []})
    except errors.InvalidInput as exc:
        part = str(exc.details.get("field") or "").rpartition(".")[2]
        where = f"parameters.{'buttons' if part == 'button' else part}" if part else "parameters"
        raise _invalid(where, exc.message.removeprefix("template.components: ")) from None


def recipients(spec: dict[str, Any] | None, members: Sequence[Member]) -> list[tuple[int, list[Any] | None]]:
    """(contact id, components) of each member."""
    return [(m.contact.id, components_for(spec, m)) for m in members]
