"""What the commands of ``wahub`` share: the data options, settings, the one-line error, and
``runs``, which runs a command's coroutine and ends a ``WahubError`` in that line with exit code 1.

``wahub --help`` imports every command module, so these modules import typer and the standard library only;
a command imports what it needs (settings, the store, the API, the worker) in its body (docs/benchmarks.md,
"CLI start"; tests/unit/test_cli_imports.py keeps it so)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from wahub import errors

if TYPE_CHECKING:
    import asyncio

    from rich.console import Console

    from wahub import config

P = ParamSpec("P")
T = TypeVar("T")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder [env WAHUB_DATA_DIR]")]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="sqlite:///… or postgresql://… [env WAHUB_DATABASE_URL]")
]


@functools.cache
def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def say(message: str) -> None:
    """Tell the user (standard error; standard output is for what a program reads)."""
    _stderr().print(message)


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command with ``wahub: error: message`` on one line and exit ``code`` (2: a usage error)."""
    _stderr().print(f"[bold red]wahub: error:[/] {message}", markup=True)
    raise typer.Exit(code)


def run(main: Coroutine[Any, Any, T], *, loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None) -> T:
    """Run a command's coroutine; a ``WahubError`` ends the command with its message and exit code 1."""
    import asyncio  # 15 ms that --help does not need

    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main)
    except errors.WahubError as exc:
        fail(exc.message)


def runs(command: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """A command written as a coroutine function, run by ``run``; typer reads the options from its signature."""

    @functools.wraps(command)
    def run_command(*args: P.args, **kwargs: P.kwargs) -> None:
        run(command(*args, **kwargs))

    return run_command


def load_settings(data_dir: Path | None, database_url: str | None) -> config.Settings:
    """The settings, the flags first; a bad value ends the command (exit 2) naming the setting."""
    from wahub import config

    try:
        return config.load(data_dir=data_dir, database_url=database_url)
    except config.SettingsError as exc:
        fail(str(exc), code=2)


def secret_key(settings: config.Settings) -> str:
    """``WAHUB_SECRET_KEY``, or the sandbox's own key kept in the data folder."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if settings.sandbox:
        if not settings.data_dir.is_dir():  # the database is elsewhere (PostgreSQL), but the sandbox's key is here
            fail(
                f"no data folder {settings.data_dir.absolute()} (the sandbox keeps its secret key there): "
                "'wahub serve' creates it; or point --data-dir (WAHUB_DATA_DIR) at your data folder"
            )
        from wahub import sandbox

        return sandbox.secret_key(settings.data_dir)
    fail("WAHUB_SECRET_KEY: required when an account is configured", code=2)
