"""Wiring of a running wahub, called by ``wahub serve``: engine, sessions, provider client, HTTP servers,
worker, the sandbox's fakegraph, and a clean stop on Ctrl-C / SIGTERM.

It runs processes and nothing else: the one-off commands' work is in ``commands.py``. With ``cli`` and
``commands`` it is the composition root, the only modules that import every layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import logging
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
import sqlalchemy as sa
import uvicorn
from starlette.types import ASGIApp

import fakegraph
import faketwilio
from wahub import commands, config, listen, processor_child, sandbox, sandbox_twilio, wakeups
from wahub.api.app import App, create_app
from wahub.api.context import AppContext
from wahub.api.routes import media as media_routes
from wahub.automations.campaigns import CampaignRunner
from wahub.automations.reports import ReportRunner
from wahub.automations.schedules import ScheduleFirer
from wahub.automations.template_sync import TemplateSyncer
from wahub.provider import base, meta, twilio
from wahub.provider.graph import GraphClient
from wahub.roles import Role
from wahub.store import accounts, counters, db
from wahub.store.crypto import Vault
from wahub.wakeups import Channel
from wahub.worker.deliverer import Deliverer
from wahub.worker.media_fetcher import MediaFetcher
from wahub.worker.processor import Processor
from wahub.worker.pruning import Pruner
from wahub.worker.runner import Worker
from wahub.worker.sender import Sender
from wahub.worker.token_check import TokenChecker

log = logging.getLogger(__name__)
T = TypeVar("T")


PROCESSOR_NICE = 10
HELLO_WORLD = {"name": "hello_world", "language": {"code": "en_US"}}
BUSY_WINDOW = 0.2  # webhooks arrived this recently: intake is busy
# How long the link Twilio fetches an outbound file from works: Twilio fetches it as it sends, but may hold a
# message in its queue for a while first.
PROVIDER_LINK_TTL = 3600
# CPython collects its youngest generation once 700 more container objects were allocated than freed. A processor
# batch keeps some 30 per event alive until it commits, so at 700 the collector walked each batch many times over,
# and promoted it to the older generations for them to walk again: 5% of the processor child's CPU at 4,500
# webhooks/s on SQLite (gc.callbacks, 2026-12-04; docs/decisions.md). Objects freed by their reference count
# never count toward it, so this only delays collecting cycles. A process that runs the processor collects at
# this threshold; web processes keep CPython's, where it saved 0.7% and let 500 slow 3 MB bodies raise the peak
# RSS from +51 to +78-87 MB.
GC_YOUNG_THRESHOLD = 50_000


class StartupError(Exception):
    """wahub cannot start; the message says why in one line."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to us, so several servers and the worker stop together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass(slots=True)
class _Sandbox:
    api_key: str
    fake_url: str  # fakegraph's, or faketwilio's
    admin_password: str | None  # the one-time password of the admin made at a fresh start
    provider: str = "meta"
    silent: list[Any] = field(default_factory=list)  # simulated contacts who have not written


def settle_heap(*, processing: bool) -> None:
    """Once start-up is done: what it built (modules, app, engines) lives as long as the process, so it is moved
    out of the cyclic collector's reach, and a full collection under load walks only the objects of work in
    flight; and in a process that runs the webhook processor (``processing``) the youngest generation is
    collected after GC_YOUNG_THRESHOLD net allocations."""
    gc.collect()
    gc.freeze()
    if processing:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def _bind(host: str, port: int) -> socket.socket:
    sock = listen.tcp_socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"port {port} on {host} is in use: choose another with --port") from None
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _server(app: ASGIApp) -> _Server:
    # No "server: uvicorn" header: it tells nobody anything useful, and each header is checked per answer.
    cfg = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5, server_header=False
    )
    if isinstance(app, App):  # it applies the proxy headers itself, past the Meta webhook route
        app.trust_proxies(cfg.forwarded_allow_ips)
        cfg.proxy_headers = False
    return _Server(cfg)


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - comparing, not binding


async def serve(
    settings: config.Settings,
    secret_key: str,
    *,
    host: str,
    port: int,
    role: Role,
    wake_fd: int | None = None,
    stream_fd: int | None = None,
) -> None:
    """Run until SIGINT or SIGTERM. A processor started by ``all`` gets two pipes: ``wake_fd`` wakes it,
    ``stream_fd`` tells the process that started it about the stream events it committed."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    web_role = role in (Role.ALL, Role.WEB)
    main_sock = _bind(host, port) if web_role else None
    port = main_sock.getsockname()[1] if main_sock else port
    engine = db.create_engine(settings.database_url)
    events_engine = db.create_events_engine(settings.database_url, engine)
    vault = Vault(secret_key)
    ctx = AppContext.build(settings, engine, events_engine, vault)
    sessions, notifier = ctx.sessions, ctx.notifier
    servers: list[tuple[_Server, socket.socket]] = []
    graph_url = settings.graph_url
    twilio_url = settings.twilio_url
    info: _Sandbox | None = None

    # A processor started by ``all`` leaves the sandbox and the accounts to the process that started it.
    if role is not Role.PROCESSOR and settings.sandbox:
        fake_sock = _bind("127.0.0.1", 0)
        fake_url = f"http://127.0.0.1:{fake_sock.getsockname()[1]}"
        local = f"http://{_local(host)}:{port}"
        fake: ASGIApp
        if settings.sandbox_provider == "twilio":
            fake = faketwilio.create_app(sandbox_twilio.config(secret_key, f"{local}/webhooks/twilio", fake_url))
            twilio_url = fake_url
            # Statuses and the files faketwilio fetches come to this process itself, as Twilio's would to a proxy.
            settings = ctx.settings = settings.model_copy(update={"public_url": settings.public_url or local})
        else:
            creds = sandbox.credentials(secret_key)
            fake = fakegraph.create_app(sandbox.fakegraph_config(creds, f"{local}/webhooks/meta", fake_url))
            graph_url = fake_url
            sandbox.record_fakegraph_url(settings.data_dir, fake_url)  # for ``wahub group``
        servers.append((_server(fake), fake_sock))
        async with db.transaction(sessions) as session:
            if settings.sandbox_provider == "twilio":
                await sandbox_twilio.ensure_account(session, vault, secret_key)
            else:
                await sandbox.ensure_account(session, vault, sandbox.credentials(secret_key))
                await sandbox.ensure_templates(session)
            info = _Sandbox(
                api_key=await sandbox.ensure_api_key(session, settings.data_dir),
                fake_url=fake_url,
                admin_password=await sandbox.ensure_admin(session),
                provider=settings.sandbox_provider,
            )
    elif role is not Role.PROCESSOR:
        await commands.store_accounts_from_settings(settings, sessions, vault)
    if role is not Role.PROCESSOR:
        # Before any processor runs: it lets a webhook change only the accounts of the secret that signed it.
        async with db.transaction(sessions) as session:
            await accounts.fill_key_ids(session, vault)

    web = create_app(ctx) if main_sock is not None else None
    if web is not None and main_sock is not None:
        servers.append((_server(web), main_sock))

    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512, limit_per_host=512))
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    processor = None
    if role in (Role.WORKER, Role.PROCESSOR):
        # Started by ``all``, the processor shares the machine with intake: it yields while webhooks pour in.
        busy = (lambda: notifier.since_last(Channel.EVENTS) < BUSY_WINDOW) if wake_fd is not None else None
        processor = Processor(sessions, db.sessionmaker(events_engine), busy=busy, tally=ctx.tally)
    sender = media_fetcher = deliverer = pruner = syncer = token_checker = None
    # Meta's template calls: the API's (create, delete, sync on request) and the worker's syncs.
    template_api = ctx.template_api = GraphClient(http, graph_url, settings.graph_version)
    ctx.group_api = template_api  # the Groups API's calls, through the same client
    if role in (Role.ALL, Role.WORKER):
        providers = _providers(settings, vault, http, graph_url, twilio_url)
        sender = Sender(
            sessions,
            providers,
            vault,
            send_rate=settings.send_rate,
            send_jitter=settings.send_jitter_ms / 1000,
            confirm_grace=timedelta(seconds=settings.send_confirm_seconds),
            events=db.sessionmaker(events_engine),
            storage=ctx.storage,
            tally=ctx.tally,
        )
        media_fetcher = MediaFetcher(sessions, providers, vault, ctx.storage, tally=ctx.tally)
        deliverer = Deliverer(sessions, http, vault, tally=ctx.tally)
        # In the deliverer's loop: old deliveries, and processed webhook bodies past WAHUB_RAW_EVENT_DAYS.
        pruner = Pruner(sessions, db.sessionmaker(events_engine), raw_event_days=settings.raw_event_days)
        syncer = TemplateSyncer(sessions, template_api, vault)  # in that loop too: at start, daily, on webhooks
        # And the tokens' lifetimes: Meta's debug_token daily, a warning seven days before one lapses.
        token_checker = TokenChecker(sessions, template_api, vault, sandbox=settings.sandbox)
    if wake_fd is not None:
        os.nice(PROCESSOR_NICE)
        wakeups.watch_pipe(wake_fd, notifier, Channel.EVENTS, on_close=stop.set)
    unannounce = processor_child.announce_commits(engine, stream_fd) if stream_fd is not None else None
    if role is Role.ALL:
        tasks.append(asyncio.create_task(processor_child.supervise(settings, notifier, stop), name="processor-child"))
    flusher = counters.Flusher(sessions, ctx.tally)
    flusher.start()
    worker_task: asyncio.Task[None] | None = None
    if processor is not None or sender is not None:
        worker = Worker(
            notifier,
            processor=processor,
            sender=sender,
            media=media_fetcher,
            deliverer=deliverer,
            pruner=pruner,
            templates=syncer,
            tokens=token_checker,
            schedules=ScheduleFirer(sessions) if sender is not None else None,  # fired in the sender's loop
            reports=ReportRunner(sessions, ctx.storage, settings) if deliverer is not None else None,
            campaigns=CampaignRunner(sessions, send_rate=settings.send_rate) if sender is not None else None,
        )
        worker_task = asyncio.create_task(worker.run(stop))
    try:
        await _wait_started(servers, tasks, stop)
        settle_heap(processing=processor is not None)
        if info is not None and web is not None and not stop.is_set():
            info.silent = await _greet(ctx, http, info, wait=role is Role.ALL)
        if not stop.is_set() and role is not Role.PROCESSOR:
            _banner(settings, host, port, role, info)
        await stop.wait()
    finally:
        log.info("stopping (%s)", role.value)
        for server, _sock in servers:
            server.should_exit = True
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if worker_task is not None:
            await asyncio.gather(worker_task, return_exceptions=True)
        if unannounce is not None:
            unannounce()
        try:
            await flusher.stop()
        except Exception as exc:
            log.warning("the last metrics could not be written (%s)", type(exc).__name__)
        await http.close()
        await engine.dispose()
        if events_engine is not engine:
            await events_engine.dispose()
        if role is not Role.PROCESSOR:
            print("wahub stopped.", flush=True)


def _providers(
    settings: config.Settings, vault: Vault, http: aiohttp.ClientSession, graph_url: str, twilio_url: str | None
) -> base.Providers:
    """The providers the worker sends through: Meta's Cloud API, and Twilio's with its files served from
    signed links on the public URL (``PROVIDER_LINK_TTL``)."""
    public_url = settings.public_url

    def media_link(media_id: int) -> str:
        return f"{public_url}{media_routes.content_path(vault, media_id, PROVIDER_LINK_TTL)}"

    return base.by_provider(
        {
            "meta": meta.providers(GraphClient(http, graph_url, settings.graph_version)),
            "twilio": twilio.providers(twilio.TwilioClient(http, twilio_url), public_url, media_link),
        }
    )


async def _greet(ctx: AppContext, http: aiohttp.ClientSession, info: _Sandbox, *, wait: bool) -> list[Any]:
    twilio_sandbox = info.provider == "twilio"
    try:
        if twilio_sandbox:
            return await sandbox_twilio.greet(ctx.readers, http, info.fake_url, wait=wait)
        return await sandbox.greet(ctx.readers, http, info.fake_url, wait=wait)
    except (aiohttp.ClientError, sa.exc.SQLAlchemyError) as exc:
        log.warning("the simulated contacts could not write first (%s); text them once they have", exc)
        return list(sandbox_twilio.CONTACTS if twilio_sandbox else sandbox.CONTACTS)


async def _wait_started(
    servers: list[tuple[_Server, socket.socket]], tasks: list[asyncio.Task[None]], stop: asyncio.Event
) -> None:
    while not all(server.started for server, _ in servers):
        if any(task.done() for task in tasks):
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise StartupError(f"a server failed to start: {task.exception()}")
            raise StartupError("a server stopped during start-up (see the log above)")
        if stop.is_set():
            return
        await asyncio.sleep(0.02)


def _admin_login(info: _Sandbox, url: str) -> str:
    if info.admin_password is None:
        return f"  sandbox admin login: {sandbox.ADMIN_EMAIL} (new password: wahub user reset-password --email …)"
    return (
        f"  sandbox admin login: {sandbox.ADMIN_EMAIL} password: {info.admin_password} "
        f"(one-time, shown only now; POST {url}/api/v1/auth/login)"
    )


def _banner(settings: config.Settings, host: str, port: int, role: Role, info: _Sandbox | None) -> None:
    url = f"http://{_local(host)}:{port}"
    where = (  # a worker serves no HTTP: it works on the database the web processes write to
        "(worker: processing, sending, media, deliveries; no HTTP)"
        if role is Role.WORKER
        else f"({role.value}) at {url}   API docs: {url}/docs"
    )
    lines = [f"wahub is running {where}", f"  data: {settings.data_dir}"]
    if info is not None and info.provider == "twilio":
        lines += sandbox_twilio.banner(url, info.fake_url, info.api_key, info.silent)
        lines.append(_admin_login(info, url))
    elif info is not None:
        first = next((c for c in sandbox.CONTACTS if c not in info.silent), sandbox.CONTACTS[0])
        text = {"to": f"+{first.wa_id}", "type": "text", "text": {"body": f"Hello {first.name.split()[0]}!"}}
        template = {"to": f"+{first.wa_id}", "type": "template", "template": HELLO_WORLD}
        wrote = "each wrote to you, so free text works for 24 hours" if not info.silent else "free text works once "
        if info.silent:
            wrote += f"they write (not yet: {', '.join('+' + c.wa_id for c in info.silent)})"
        post = f"curl -X POST {url}/api/v1/messages -H 'Authorization: Bearer {info.api_key}' "
        lines += [
            "  SANDBOX: no WhatsApp account is configured, so fakegraph (a fake Meta Cloud API at "
            f"{info.fake_url}) plays Meta and {len(sandbox.CONTACTS)} simulated contacts.",
            f"  simulated contacts ({wrote}; they read, and sometimes answer):",
            "    " + "   ".join(f"+{c.wa_id} {c.name}" for c in sandbox.CONTACTS),
            f"  sandbox API key: {info.api_key}",
            _admin_login(info, url),
            "  send a text:",
            f"    {post}-H 'Content-Type: application/json' -d '{json.dumps(text, ensure_ascii=False)}'",
            "  or a template (needs no open window; the sandbox's templates: "
            f"curl {url}/api/v1/templates -H 'Authorization: Bearer {info.api_key}'):",
            f"    {post}-H 'Content-Type: application/json' -d '{json.dumps(template)}'",
            "  then watch them reach 'read':",
            f"    curl {url}/api/v1/messages -H 'Authorization: Bearer {info.api_key}'",
        ]
    lines.append("Press Ctrl-C to stop.")
    print("\n".join(lines), flush=True)
