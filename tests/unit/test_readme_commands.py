"""Every command of the CLI is in the README: a user reads what wahub can do there, not in the source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from wahub import cli

README = (Path(__file__).parent.parent.parent / "README.md").read_text()


def commands(group: Any, prefix: str = "wahub") -> list[str]:
    if not hasattr(group, "commands"):  # a command, not a group
        return [prefix]
    found = []
    for name, command in group.commands.items():
        if not command.hidden:
            found += commands(command, f"{prefix} {name}")
    return found


def test_each_cli_command_is_in_the_readme() -> None:
    every = commands(typer.main.get_command(cli.app))
    assert "wahub media retry" in every and "wahub serve" in every
    missing = [name for name in every if f"`{name}" not in README]
    assert not missing, f"not in README.md: {missing}"
