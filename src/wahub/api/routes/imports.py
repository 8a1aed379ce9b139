"""``POST /api/v1/imports``: a chat exported from WhatsApp (the ``.zip`` with its media, or the ``.txt``) into
the archive, as ``wahub import chat`` does (``imports/chat_importer.py``). Admins and admin API keys."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload
from starlette.formparsers import MultiPartException

from wahub import errors
from wahub.api.deps import Admin, Ctx
from wahub.imports import chat_export, chat_importer, chat_source

router = APIRouter(prefix="/api/v1/imports", tags=["imports"])

# Read by the route itself, after the API key (as ``media.py``'s upload, for the same reason).
_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "the export: .zip (with media) or .txt"},
        "me": {"type": "string", "description": "the business side's name in the export (default: the number)"},
        "account": {"type": "string", "description": "the account's phone_number_id (default: the only one)"},
        "tz": {"type": "string", "description": "the phone's time zone, IANA (default UTC)"},
        "date_order": {"type": "string", "enum": ["DMY", "MDY", "YMD"], "description": "when the file cannot tell"},
        "group": {"type": "string", "description": "the chat is the group of this name"},
    },
}
_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM}}}}


class Line(BaseModel):
    line: int
    reason: str


class ImportOut(BaseModel):
    chat: str
    me: str | None = Field(description="the author taken as the business side (its messages are outbound)")
    conversation_id: int
    date_order: str
    added: int
    already: int
    matched: int = Field(description="messages held already as live or history messages (same direction, minute, text)")
    media_stored: int
    media_missing: list[Line]
    skipped: list[Line]


@router.post("", response_model=ImportOut, openapi_extra=_BODY)
async def import_chat(request: Request, ctx: Ctx, _admin: Admin) -> ImportOut:
    """Import a chat export: its messages land in the chat's conversation, marked ``imported``, with their
    attachments stored; the same export (or an overlapping later one) adds nothing twice. The answer counts
    what was added and what was there already, and lists the lines skipped, by number, with the reason."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise errors.InvalidInput("Content-Type: send the export as multipart/form-data", field="Content-Type")
    try:
        form = await request.form(max_files=1, max_fields=10)
    except MultiPartException as exc:
        raise errors.InvalidInput(f"body: the multipart form could not be read: {exc.message}", field="body") from exc
    try:
        file = form.get("file")
        if not isinstance(file, StarletteUpload):
            raise errors.InvalidInput("file: a file part named 'file' is required", field="file")
        options = _options(form)
        export = chat_source.Export(file.file, file.filename or "export")
        try:
            report = await chat_importer.run(ctx.sessions, ctx.storage, export, options)
        finally:
            export.close()
    finally:
        await form.close()
    return ImportOut(
        chat=report.chat,
        me=report.me,
        conversation_id=report.conversation_id,
        date_order=report.date_order,
        added=report.added,
        already=report.already,
        matched=report.matched,
        media_stored=report.media_stored,
        media_missing=[Line(line=s.line, reason=s.reason) for s in report.media_missing],
        skipped=[Line(line=s.line, reason=s.reason) for s in report.skipped],
    )


def _options(form: FormData) -> chat_importer.Options:
    fields = {}
    for name in ("me", "account", "tz", "date_order", "group"):
        value = form.get(name)
        if value is not None and not isinstance(value, str):
            raise errors.InvalidInput(f"{name}: a text field, not a file", field=name)
        fields[name] = value.strip() if value else None
    try:
        zone = ZoneInfo(fields["tz"] or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise errors.InvalidInput(f"tz: '{fields['tz']}' is not an IANA time zone", field="tz") from exc
    order = None
    if fields["date_order"]:
        try:
            order = chat_export.DateOrder(fields["date_order"].upper())
        except ValueError as exc:
            raise errors.InvalidInput("date_order: one of DMY, MDY, YMD", field="date_order") from exc
    return chat_importer.Options(
        me=fields["me"], phone_number_id=fields["account"], zone=zone, order=order, group=fields["group"]
    )
