"""``wahub group create|list|invite-link|send``: WhatsApp groups through Meta's Groups API, from the command line.

A group is created at Meta at once; Meta names it (its id and invite link) by a webhook that the running
``wahub serve`` receives, which ``create`` waits for. In the sandbox the groups live in the fakegraph of the
running ``wahub serve``, which these commands reach through the URL it noted in the data dir.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say, secret_key

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from wahub.automations.groups import GroupApi
    from wahub.commands import Store

app = typer.Typer(help="WhatsApp groups (Meta's Groups API): create, list, invite links, send.", no_args_is_help=True)


@app.command("create", epilog="Example: wahub group create 'Night shift' --description 'Who is on tonight'")
@runs
async def create(
    subject: Annotated[str, typer.Argument(help="The group's name (at most 128 characters)")],
    description: Annotated[str | None, typer.Option(help="What the group is for (at most 2048 characters)")] = None,
    approval: Annotated[bool, typer.Option("--approval", help="Who opens the invite link asks to join")] = False,
    account_id: Annotated[
        int | None, typer.Option("--account", help="The Meta account's id (wahub account list)")
    ] = None,
    wait: Annotated[float, typer.Option(help="Seconds to wait for Meta to name the group")] = 20.0,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a group at Meta; prints its invite link once Meta has named it (by a webhook to 'wahub serve')."""
    import asyncio
    import time

    from wahub.api.schemas.groups import GroupIn
    from wahub.automations import groups as service
    from wahub.store import groups

    body = _valid(GroupIn, subject=subject, description=description, account_id=account_id)
    mode = "approval_required" if approval else "auto_approve"
    async with _api(data_dir, database_url) as (store, api, vault):
        row_id = await service.create(store.sessions, api, vault, body.account_id, body.subject, body.description, mode)
        say(f"group {row_id} asked of Meta; waiting for its webhook")
        deadline = time.monotonic() + wait
        while True:
            async with store.transaction() as session:
                row = await groups.get(session, row_id)
                state, link, error = row.state, row.invite_link, row.error
            if state != groups.CREATING or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    if state == groups.FAILED:
        fail(f"Meta could not create group {row_id}: {error}")
    if state == groups.CREATING:
        say(f"group {row_id} is being created: 'wahub group list' shows it once Meta's webhook reaches 'wahub serve'")
    else:
        say(f"group {row_id} created; share its invite link:")
        print(link)
    print(row_id)


@app.command("list", epilog="Example: wahub group list --json")
@runs
async def list_groups(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The groups wahub knows, newest first: id, state, participants, subject, invite link."""
    from wahub import commands
    from wahub.api.schemas.groups import GroupOut
    from wahub.store import groups

    async with commands.opened(load_settings(data_dir, database_url)) as store, store.transaction() as session:
        rows = [GroupOut.of(row) for row in await groups.listing(session)]
    for row in rows:
        if as_json:
            print(json.dumps(row.model_dump(mode="json"), ensure_ascii=False))
        else:
            count = f"{len(row.participants)}/8"
            print(f"{row.id}\t{row.state}\t{count}\t{row.subject}\t{row.group_id or '-'}\t{row.invite_link or '-'}")


@app.command("invite-link", epilog="Example: wahub group invite-link 3 --reset")
@runs
async def invite_link(
    group: Annotated[int, typer.Argument(help="The group's id in wahub (wahub group list)")],
    reset: Annotated[bool, typer.Option("--reset", help="Make a new link: the old one stops working")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """The group's invite link as Meta has it now (or a new one)."""
    from wahub.automations import groups as service

    async with _api(data_dir, database_url) as (store, api, vault):
        link = await service.invite_link(store.sessions, api, vault, group, reset=reset)
    print(link)


@app.command("send", epilog="Example: wahub group send 3 --text 'Standup at 10'")
@runs
async def send(
    group: Annotated[int, typer.Argument(help="The group's id in wahub (wahub group list)")],
    text: Annotated[str | None, typer.Option(help="Send this text")] = None,
    template: Annotated[str | None, typer.Option(help="Send this approved template (text and media only)")] = None,
    language: Annotated[str, typer.Option(help="The template's language code")] = "en_US",
    param: Annotated[list[str] | None, typer.Option(help="A body parameter of the template, in order")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Queue a text or a template to a group; a running 'wahub serve' sends it. Prints the message id."""
    from wahub import commands, errors
    from wahub.cli.send import send_body
    from wahub.store import groups

    async with commands.opened(load_settings(data_dir, database_url)) as store:
        async with store.transaction() as session:
            try:
                row = await groups.get(session, group)
            except errors.NotFound as exc:
                fail(exc.message, code=2)
            group_id, state = row.group_id, row.state
        if group_id is None or state == groups.DELETED:
            fail(f"group {group} is {state}: it cannot take messages", code=2)
        body = send_body(group_id, text, template, language, param or [], None, None, [])
        try:
            message = await commands.queue_send(store, secret_key(store.settings), body)
        except errors.InvalidInput as exc:
            fail(exc.message, code=2)
    say(f"queued {message.type} message {message.id} to group {group}; 'wahub serve' sends it")
    print(message.id)


def _valid(model: Any, **values: Any) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
        fail(problems, code=2)


def _api(data_dir: Any, database_url: str | None) -> Any:
    """The store, a Graph client for the groups (the sandbox's: its serve's fakegraph) and the vault."""
    import contextlib

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[tuple[Store, GroupApi, Any]]:
        import aiohttp

        from wahub import commands, sandbox
        from wahub.provider.graph import GraphClient
        from wahub.store import accounts
        from wahub.store.crypto import Vault

        settings = load_settings(data_dir, database_url)
        key = secret_key(settings)
        async with commands.opened(settings) as store, aiohttp.ClientSession() as http:
            await commands.ensure_configured_account(store, key)
            async with store.transaction() as session:
                real = await accounts.real_accounts_exist(session)
            graph_url = settings.graph_url
            if settings.sandbox and not real:
                graph_url = sandbox.serving_fakegraph_url(settings.data_dir) or ""
                if not graph_url:
                    fail("the sandbox's groups live in the fakegraph of 'wahub serve': start it first")
            yield store, GraphClient(http, graph_url, settings.graph_version, timeout=30), Vault(key)

    return opened()
