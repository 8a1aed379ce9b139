"""``wahub serve``: run wahub (``runtime.serve`` does the wiring)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, run, secret_key
from wahub.roles import Role

if TYPE_CHECKING:
    import asyncio

app = typer.Typer()  # merged into the root app: ``wahub serve``


class SandboxProvider(enum.StrEnum):
    meta = "meta"
    twilio = "twilio"


@app.command(
    epilog="Example: wahub serve --port 8000   (no account configured: runs the sandbox; --sandbox twilio: Twilio's)"
)
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on")] = 8000,
    role: Annotated[
        Role,
        typer.Option(
            help="all: everything (the webhook processor in a child process); web: HTTP only; "
            "worker: processor and sender, no HTTP; processor: the webhook processor alone"
        ),
    ] = Role.ALL,
    sandbox: Annotated[
        SandboxProvider | None,
        typer.Option(help="With no account configured: the provider the sandbox fakes [env WAHUB_SANDBOX_PROVIDER]"),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    wake_fd: Annotated[int | None, typer.Option(hidden=True, help="wake-up pipe from the starting process")] = None,
    stream_fd: Annotated[int | None, typer.Option(hidden=True, help="wake-up pipe to the starting process")] = None,
) -> None:
    """Run wahub: the API, the webhook receivers and the worker. With nothing configured, the sandbox."""
    from wahub import commands, errors, logs, runtime, storage

    settings = load_settings(data_dir, database_url)
    if sandbox is not None:
        if not settings.sandbox:
            fail("--sandbox: an account is configured (WAHUB_PHONE_NUMBER_ID or WAHUB_TWILIO_ACCOUNT_SID)", code=2)
        settings = settings.model_copy(update={"sandbox_provider": sandbox.value})
    logs.configure(settings)
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        storage.from_url(settings.storage_url)
    except errors.InvalidInput as exc:
        fail(f"WAHUB_STORAGE_URL: {exc.message}", code=2)
    key = secret_key(settings)

    async def main() -> None:
        commands.prepare(settings, create=True)
        await runtime.serve(settings, key, host=host, port=port, role=role, wake_fd=wake_fd, stream_fd=stream_fd)

    try:
        run(main(), loop_factory=_fast_loop())
    except runtime.StartupError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        pass


def _fast_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when installed (uvicorn[standard] brings it): the same loop uvicorn picks itself."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
