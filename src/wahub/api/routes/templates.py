"""``/api/v1/templates``: the accounts' message templates as Meta last described them (kept current by
``automations/template_sync.py``), created and deleted at Meta, synced on request, and previewed with a send's
parameters exactly as the recipient will read them.

Meta's template API: https://developers.facebook.com/docs/graph-api/reference/whats-app-business-account/message_templates/
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from wahub import errors
from wahub.api import schemas
from wahub.api.context import AppContext
from wahub.api.deps import Admin, Ctx, Reader, ReadSession
from wahub.api.schemas import templates as out
from wahub.automations import template_sync
from wahub.automations.template_sync import TemplateApi
from wahub.message_templates import params, render, rules
from wahub.store import accounts, db, paging, template_syncs, templates
from wahub.store.models import Template

T = TypeVar("T")

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])

_META_FAILED = {502: {"description": "Meta did not answer, or answered with a transient error: try again later"}}
TemplateName = Annotated[str, Path(max_length=512)]


@router.get("", response_model=out.TemplatePage)
async def list_templates(
    session: ReadSession,
    _who: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    name: Annotated[str | None, Query(max_length=512, description="a part of the name")] = None,
    status: Annotated[str | None, Query(max_length=32, description="APPROVED, PENDING, REJECTED, PAUSED…")] = None,
    language: Annotated[str | None, Query(max_length=16, description="a language code, e.g. en_US")] = None,
    category: Annotated[str | None, Query(max_length=32, description="MARKETING, UTILITY or AUTHENTICATION")] = None,
    account_id: schemas.Id | None = None,
) -> out.TemplatePage:
    """The templates of the accounts' WhatsApp Business Accounts (or of ``account_id``'s), newest first."""
    if account_id is not None:
        wabas = [await _waba_of(session, account_id)]
    else:
        wabas = await template_sync.meta_wabas(session)
    stmt = templates.listing(wabas, name=name, status=status, language=language, category=category)
    page = await paging.page(session, stmt, Template.id, kind="t", limit=limit, cursor=cursor)
    return out.TemplatePage(items=[out.TemplateOut.of(row[0]) for row in page.items], next_cursor=page.next_cursor)


@router.post("/sync", response_model=list[out.TemplateSyncOut], responses=_META_FAILED)  # type: ignore[arg-type]
async def sync_templates(ctx: Ctx, _admin: Admin, account_id: schemas.Id | None = None) -> list[out.TemplateSyncOut]:
    """Read the templates from Meta now (every page), for ``account_id``'s WhatsApp Business Account or every
    one; answers once they are stored. Without this they are read at start, daily and after template webhooks."""
    api = _api(ctx)
    async with ctx.readers() as session, session.begin():
        wabas = [await _waba_of(session, account_id)] if account_id else await template_sync.meta_wabas(session)
    for waba_id in wabas:
        await template_sync.sync(ctx.sessions, api, ctx.vault, waba_id)
    async with ctx.readers() as session, session.begin():
        rows = [await template_syncs.get(session, w) for w in wabas]
    return [out.TemplateSyncOut.of(row) for row in rows if row is not None]


@router.post("", status_code=201, response_model=out.TemplateOut, responses=_META_FAILED)  # type: ignore[arg-type]
async def create_template(body: out.TemplateIn, ctx: Ctx, _admin: Admin) -> out.TemplateOut:
    """Submit a new template to Meta for review, after checking it against Meta's rules (a 422 names the rule it
    breaks). It is stored as Meta answers (usually PENDING); its approval arrives by webhook."""
    meta_body = body.meta_body()
    rules.check(meta_body)
    api = _api(ctx)
    async with ctx.readers() as session, session.begin():
        waba_id = await _waba_of(session, body.account_id)
        token = await template_sync.token_for(session, ctx.vault, waba_id)
    answer = await _refused_by_meta(api.create_template(waba_id, token, meta_body))
    item = {**meta_body, "id": answer.get("id"), "status": answer.get("status") or "PENDING"}
    item["category"] = answer.get("category") or body.category
    async with db.transaction(ctx.sessions) as session:
        await templates.upsert_many(session, waba_id, [item])
        row = await templates.find(session, waba_id, body.name, body.language)
        assert row is not None
        return out.TemplateOut.of(row)


@router.delete("/{name}", response_model=out.Deleted, responses=_META_FAILED)  # type: ignore[arg-type]
async def delete_template(
    name: TemplateName,
    ctx: Ctx,
    _admin: Admin,
    account_id: schemas.Id | None = None,
    language: Annotated[str | None, Query(max_length=16, description="only this language")] = None,
    hsm_id: Annotated[str | None, Query(max_length=64, pattern=r"^\d+$", description="Meta's id: only it")] = None,
) -> out.Deleted:
    """Delete a template at Meta: every language of ``name``, or one (by ``language`` or Meta's ``hsm_id``)."""
    api = _api(ctx)
    async with ctx.readers() as session, session.begin():
        waba_id = await _waba_of(session, account_id)
        token = await template_sync.token_for(session, ctx.vault, waba_id)
        rows = await templates.named(session, waba_id, name)
    if language is not None:
        rows = [r for r in rows if r.language == language]
        if not rows:
            raise errors.NotFound(f"template {name} in {language} does not exist")
        hsm_id = hsm_id or rows[0].provider_template_id
        if hsm_id is None:
            raise errors.InvalidInput("hsm_id: wahub does not know Meta's id of this template: give it", field="hsm_id")
    elif hsm_id is not None:
        rows = [r for r in rows if r.provider_template_id == hsm_id]
    await _refused_by_meta(api.delete_template(waba_id, token, name, hsm_id))
    async with db.transaction(ctx.sessions) as session:
        gone = await templates.named(session, waba_id, name)
        if language is not None or hsm_id is not None:
            gone = [r for r in gone if r.id in {row.id for row in rows}]
        await templates.forget(session, gone)
    return out.Deleted(deleted=len(gone))


@router.post("/{name}/preview", response_model=out.PreviewOut)
async def preview_template(
    name: TemplateName, body: out.PreviewIn, session: ReadSession, _who: Reader
) -> out.PreviewOut:
    """The template filled with these parameters (``components`` as a send gives them), exactly as the recipient
    will read it; the parameters are checked as a send's are (a 422 names the missing or wrong one)."""
    waba_id = await _waba_of(session, body.account_id)
    row = await templates.find(session, waba_id, name, body.language)
    if row is None:
        raise errors.NotFound(f"template {name} in {body.language} does not exist")
    sent = {"name": name, "language": {"code": body.language}, "components": body.components}
    params.check(row.components, sent)
    made = render.render(row.components, sent)
    if made is None:
        raise errors.InvalidInput("name: wahub does not have this template's text: sync the templates", field="name")
    return out.PreviewOut.of(made)


def _api(ctx: AppContext) -> TemplateApi:
    if ctx.template_api is None:
        raise errors.NoAccount("this server does not call Meta (no worker role): manage templates from one that does")
    return ctx.template_api


async def _refused_by_meta(call: Awaitable[T]) -> T:
    """Meta's refusal of a template call, as a 422 with Meta's words; a transient failure stays one (502)."""
    try:
        return await call
    except errors.PermanentProviderError as exc:
        said = f"{exc.message}: {exc.details_text}" if exc.details_text else exc.message
        raise errors.InvalidInput(f"Meta refused it: {said}", field="template", code=exc.code) from exc


async def _waba_of(session: AsyncSession, account_id: int | None) -> str:
    """The WhatsApp Business Account of ``account_id`` (a Meta account), or the only one there is."""
    if account_id is not None:
        try:
            account = await accounts.get(session, account_id)
        except errors.NotFound as exc:
            raise errors.InvalidInput(f"account_id: no account {account_id}", field="account_id") from exc
        if account.provider != accounts.META or not account.waba_id:
            raise errors.InvalidInput(
                f"account_id: account {account_id} has no WhatsApp Business Account (templates are Meta's)",
                field="account_id",
            )
        return account.waba_id
    wabas = await template_sync.meta_wabas(session)
    if not wabas:
        raise errors.NoAccount("no Meta account with a WhatsApp Business Account is configured")
    if len(wabas) > 1:
        raise errors.InvalidInput("account_id: several WhatsApp Business Accounts: say which", field="account_id")
    return wabas[0]
