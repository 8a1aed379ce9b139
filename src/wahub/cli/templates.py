"""``wahub templates sync|list``: read the accounts' message templates from Meta now, and list those wahub has."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from wahub.cli.base import DatabaseUrl, DataDir, load_settings, runs, say, secret_key

app = typer.Typer(help="Message templates: read them from Meta, list them.", no_args_is_help=True)


@app.command("sync", epilog="Example: wahub templates sync")
@runs
async def sync(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Read every Meta account's templates from Meta now (all pages) and store them; the worker also does this at
    start, daily and after template webhooks. The sandbox's are read from a fakegraph started for it."""
    import contextlib

    import aiohttp

    from wahub import commands, sandbox
    from wahub.automations import template_sync
    from wahub.provider.graph import GraphClient
    from wahub.store.crypto import Vault

    settings = load_settings(data_dir, database_url)
    key = secret_key(settings)
    async with commands.opened(settings) as store, contextlib.AsyncExitStack() as stack:
        async with store.transaction() as session:
            wabas = await template_sync.meta_wabas(session)
        if not wabas:
            say("no Meta account with a WhatsApp Business Account: nothing to sync (wahub account add)")
            return
        graph_url = settings.graph_url
        if settings.sandbox and wabas == [sandbox.WABA_ID]:
            graph_url = await stack.enter_async_context(sandbox.fakegraph_running(sandbox.credentials(key)))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        graph = GraphClient(http, graph_url, settings.graph_version, timeout=30)
        for waba_id in wabas:
            count = await template_sync.sync(store.sessions, graph, Vault(key), waba_id)
            say(f"WhatsApp Business Account {waba_id}: {count} templates")


@app.command("list", epilog="Example: wahub templates list --status APPROVED")
@runs
async def list_templates(
    status: Annotated[str | None, typer.Option(help="APPROVED, PENDING, REJECTED, PAUSED…")] = None,
    name: Annotated[str | None, typer.Option(help="A part of the name")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The templates wahub has (as the last sync or webhook left them), by name and language."""
    from wahub import commands
    from wahub.automations import template_sync
    from wahub.store import templates

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        stmt = templates.listing(await template_sync.meta_wabas(session), name=name, status=status)
        rows = list((await session.scalars(stmt.order_by("name", "language"))).all())
    for row in rows:
        if as_json:
            fields = ("name", "language", "category", "status", "quality", "components")
            print(json.dumps({f: getattr(row, f) for f in fields}))
        else:
            category, state = row.category or "-", row.status or "-"
            print(f"{row.name:<40} {row.language:<8} {category:<15} {state:<10} {row.quality or ''}")
    if not rows:
        say("no templates (wahub templates sync reads them from Meta)")
