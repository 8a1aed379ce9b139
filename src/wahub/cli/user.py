"""``wahub user``: the people who log in to the inbox (admins and agents)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from wahub.cli.base import DatabaseUrl, DataDir, fail, load_settings, runs, say

app = typer.Typer(help="Users who log in to the inbox (admins and agents).", no_args_is_help=True)

Email = Annotated[str, typer.Option("--email", help="The user's email, their login")]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input instead of making one")
]


def _stdin_password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("no password on standard input")
    return password


def _handed_over(password: str, email: str, made: bool) -> None:
    if made:
        say(f"one-time password for {email} (shown only now; hand it over safely):")
        print(password)


@app.command("add", epilog="Example: wahub user add --email ada@example.com --name Ada --role agent")
@runs
async def add(
    email: Email,
    name: Annotated[str, typer.Option("--name", help="The name shown to other users")],
    role: Annotated[str, typer.Option("--role", help="admin (everything) or agent (conversations)")] = "agent",
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a user. Prints a one-time password (alone on the last line) unless --password-stdin gives one."""
    from wahub import commands_users

    given = _stdin_password(password_stdin)
    user, password = await commands_users.add(load_settings(data_dir, database_url), email, name, role, given)
    say(f"added {user.role} {user.email} (user {user.id})")
    _handed_over(password, user.email, given is None)


@app.command("list", epilog="Example: wahub user list")
@runs
async def list_users(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List users: email, name, role, state and last login."""
    from wahub import commands_users

    for user in await commands_users.list_all(load_settings(data_dir, database_url)):
        state = f"disabled {user.disabled_at:%Y-%m-%d}" if user.disabled_at else "active"
        seen = f"last login {user.last_login_at:%Y-%m-%d %H:%M} UTC" if user.last_login_at else "never logged in"
        print(f"{user.email}\t{user.name}\t{user.role}\t{state}\t{seen}")


@app.command("disable", epilog="Example: wahub user disable --email ada@example.com")
@runs
async def disable(email: Email, data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Disable a user: no more logins, and their sessions end at once."""
    from wahub import commands_users

    user = await commands_users.disable(load_settings(data_dir, database_url), email)
    say(f"disabled {user.email}")


@app.command("reset-password", epilog="Example: wahub user reset-password --email ada@example.com")
@runs
async def reset_password(
    email: Email, password_stdin: PasswordStdin = False, data_dir: DataDir = None, database_url: DatabaseUrl = None
) -> None:
    """Give a user a new password (a one-time one printed here, or --password-stdin's) and end their sessions."""
    from wahub import commands_users

    given = _stdin_password(password_stdin)
    user, password = await commands_users.reset_password(load_settings(data_dir, database_url), email, given)
    say(f"new password set for {user.email}; their sessions have ended")
    _handed_over(password, user.email, given is None)
