"""Running a report: its rows read (``report_sources.py``), the workbook built (``report_workbook.py``), stored
in the storage backend under ``reports/NAME/<file name with the date>`` (for people) and under its content's hash
(for its messages: a later run of the same name does not change them), registered as a file uploaded to wahub
(``store/media.register_upload``, as ``POST /api/v1/media`` does) and sent as a document with its caption and
file name to each contact and group, through the outbox (``sending/service.py``): the sender uploads it to Meta
by media id, and Twilio fetches it from its signed link, as any uploaded file.

A run is recorded in ``report_runs`` (``store/reports.py``): its file, its size, the messages it queued, or why it
failed. ``wahub report run`` runs one in its own process (``run_now``). The worker's ``ReportRunner`` runs the
queued ones (``POST /api/v1/reports/{name}/run``, and report schedules, whose firings on the shared schedule
path queue a run: ``automations/schedules.py``) in the webhook deliverer's loop, as the template syncs, with
retries by ``worker/retry.py``'s ``REPORT_RUN``: a failed run is tried again from its source, and once out of
attempts recorded as failed with its reason. The message queueing and the run's record commit together."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wahub import config, domain, errors
from wahub.automations import report_definition, report_sources, report_workbook
from wahub.automations.report_definition import XLSX, Definition
from wahub.sending import service
from wahub.sending.request import SendRequest
from wahub.storage.base import BlobStore, content_key
from wahub.storage.uploads import Kept
from wahub.store import accounts, db, media, outbound, reports, schedules
from wahub.store.models import utcnow
from wahub.worker import retry

log = logging.getLogger(__name__)

CHECK_SECONDS = 1.0
PNG = "image/png"


@dataclass(slots=True)
class Outcome:
    """What a run made: the stored file, its size, the messages queued, and the recipients it could not reach."""

    storage_key: str
    size: int
    file_name: str
    message_ids: list[int] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "recipient: why"

    @property
    def note(self) -> str | None:
        return "; ".join(self.refused) or None


async def definition_of(session: AsyncSession, settings: config.Settings, name: str) -> Definition:
    """The report ``name``: from ``wahub.toml``, else made through the API; ``NotFound`` if neither has it."""
    found = report_definition.configured(settings.reports, name)
    if found is not None:
        return found
    stored = await reports.find(session, name)
    if stored is None:
        # A schedule of a report since removed from wahub.toml fires a run that fails here: say which to remove.
        scheduled = ", ".join(str(s.id) for s in await schedules.of_report(session, name))
        hint = f"; its schedules ({scheduled}) still fire: remove them (wahub schedule remove ID)" if scheduled else ""
        raise errors.NotFound(f"report '{name}' does not exist (neither in wahub.toml nor made through the API){hint}")
    return report_definition.parse(stored.definition)


async def build_and_queue(
    sessions: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    settings: config.Settings,
    name: str,
    run_id: int,
    now: datetime,
) -> Outcome:
    """Build report ``name``, store its files, and queue its sends; the run ``run_id`` is recorded as done with
    them in the same transaction. Raises what failed (the caller retries or records it)."""
    async with sessions() as session:
        definition = await definition_of(session, settings, name)
    table = await report_sources.load(
        definition,
        sessions=sessions,
        databases=settings.report_databases,
        allow_private=settings.allow_private_urls,
        now=now,
    )
    local = now.astimezone(ZoneInfo(definition.tz))
    try:
        file_name = definition.file_for(local.replace(tzinfo=None), name)
    except ValueError as exc:
        raise errors.InvalidInput(str(exc), field="file_name") from None
    xlsx = await asyncio.to_thread(report_workbook.workbook, table, title=name, generated_at=now)
    dated = f"reports/{name}/{file_name}"
    kept = await _store(storage, dated, xlsx, XLSX)
    image: tuple[Kept, str] | None = None
    if definition.image:
        drawn = await asyncio.to_thread(report_workbook.png, table, title=name)
        if drawn is not None:
            png_name = file_name.rsplit(".", 1)[0] + ".png"
            image = (await _store(storage, f"reports/{name}/{png_name}", drawn, PNG), png_name)
    outcome = Outcome(dated, kept.size, file_name)
    async with db.transaction(sessions) as session:
        account = await accounts.default_sender(session, definition.sender)
        document = await media.register_upload(session, account, kept, file_name)
        picture = await media.register_upload(session, account, image[0], image[1]) if image else None
        for to, group in [(n, False) for n in definition.to] + [(g, True) for g in definition.groups]:
            content: dict[str, Any] = {"wahub_media_id": document.id}
            sends = [(domain.MessageType.DOCUMENT, content)]
            if account.provider == accounts.META:
                content["filename"] = file_name
                if definition.caption:
                    content["caption"] = definition.caption
            elif definition.caption:  # Twilio sends a document alone: its caption goes just before it, as text
                sends.insert(0, (domain.MessageType.TEXT, {"body": definition.caption}))
            if picture is not None:
                sends.append((domain.MessageType.IMAGE, {"wahub_media_id": picture.id}))
            for kind, obj in sends:
                request = SendRequest(to=to, type=kind, content=obj, group=group, sender=definition.sender)
                message_id, why = await _queue(session, request)
                if message_id is not None:
                    outcome.message_ids.append(message_id)
                else:
                    outcome.refused.append(f"{'group ' if group else '+'}{to}: {why}")
        await reports.done(
            session,
            run_id,
            storage_key=dated,
            size=kept.size,
            message_ids=outcome.message_ids,
            error=outcome.note,
            now=utcnow(),
        )
    return outcome


async def _store(storage: BlobStore, key: str, data: bytes, mime: str) -> Kept:
    """``data`` stored under ``key``, the dated name people find it by (a later run of the same name, the same
    day, replaces it), and under its content's hash as an uploaded file is (``storage/uploads.py``), where the
    run's messages read it: so a later run never changes what an earlier run's messages send or show."""

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    size = await storage.write(key, chunks(), content_type=mime)
    sha256 = hashlib.sha256(data).hexdigest()
    sent = content_key(sha256)
    if await storage.size(sent) != size:
        await storage.write(sent, chunks(), content_type=mime)
    return Kept(sha256, sent, size, mime)


async def _queue(session: AsyncSession, request: SendRequest) -> tuple[int | None, str | None]:
    """One send queued (its id), or why it was not (a closed window, a recipient refused): the others go on."""
    try:
        async with session.begin_nested():
            prepared = await service.prepare(session, request)
            (result,) = await outbound.queue_many(session, [prepared])
            if isinstance(result, errors.WindowClosed):
                raise result
            return result[0].id, None
    except (errors.InvalidInput, errors.NotFound) as exc:
        return None, exc.message


async def run_now(
    sessions: async_sessionmaker[AsyncSession],
    storage: BlobStore,
    settings: config.Settings,
    name: str,
    trigger: str = "cli",
) -> tuple[int, Outcome]:
    """Run report ``name`` here and now, recorded as a run (``wahub report run``): its id and outcome. A
    failure is recorded as the run's and raised."""
    async with sessions() as session:
        await definition_of(session, settings, name)  # an unknown name is not a run
    now = utcnow()
    async with db.transaction(sessions) as session:
        run_id = (await reports.begin(session, name, trigger, now)).id
    try:
        return run_id, await build_and_queue(sessions, storage, settings, name, run_id, now)
    except Exception as exc:
        async with db.transaction(sessions) as session:
            await reports.failed(session, run_id, _reason(exc))
        raise


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, errors.WahubError) else f"{type(exc).__name__}: {exc}"


class ReportRunner:
    """The worker's part: run the queued report runs (``clock``: now, in UTC; tests move it)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        storage: BlobStore,
        settings: config.Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._storage = storage
        self._settings = settings
        self._clock = clock
        self._checked = -CHECK_SECONDS

    async def run_due(self) -> None:
        if time.monotonic() - self._checked < CHECK_SECONDS:
            return
        self._checked = time.monotonic()
        while await self.run_once():
            pass

    async def run_once(self) -> int:
        """Run one due report run, if any; returns how many were claimed (0 or 1: a build takes a while)."""
        now = self._clock()
        async with self._sessions() as session:
            if not await reports.due_count(session, now):
                return 0
        async with db.transaction(self._sessions) as session:
            claimed = [(r.id, r.report, r.attempts) for r in await reports.claim(session, 1, now)]
        for run_id, name, attempts in claimed:
            try:
                outcome = await build_and_queue(self._sessions, self._storage, self._settings, name, run_id, now)
            except Exception as exc:
                await self._failed(run_id, name, attempts, exc)
                continue
            log.info("report run", extra={"report": name, "run": run_id, "messages": len(outcome.message_ids)})
        return len(claimed)

    async def _failed(self, run_id: int, name: str, attempts: int, exc: Exception) -> None:
        reason = _reason(exc)
        again = retry.decide(exc, attempts, retry.REPORT_RUN, self._clock())
        log.warning("report run failed", extra={"report": name, "run": run_id, "retry": again is not None})
        async with db.transaction(self._sessions) as session:
            if again is not None:
                await reports.later(session, run_id, again.when, reason)
            else:
                await reports.failed(session, run_id, reason)
