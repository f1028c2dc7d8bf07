"""Every `eqx-resnet ... --help` shows its help texts as written (cli/app.py reads none of them as markup)."""

import re

import click
import pytest
import typer
from typer.testing import CliRunner

from eqx_resnet.cli import app

BRACKETED = re.compile(r"\[[^\[\]\s]+\]")  # [hf], [16,32,64], [CHECKPOINT]: what rich markup would take for a tag


def _commands(command: click.Command, path: tuple[str, ...] = ()):
    yield path, command
    for name, subcommand in getattr(command, "commands", {}).items():
        yield from _commands(subcommand, (*path, name))


def _sources(command: click.Command) -> str:
    """The texts `command --help` shows: its own help, its parameters' and, for a group, its commands'."""
    texts = [command.help, command.epilog, *(getattr(p, "help", None) for p in command.params)]
    texts += [sub.short_help or sub.help for sub in getattr(command, "commands", {}).values()]
    return " ".join(t for t in texts if t)


COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) or "eqx-resnet" for p, _ in COMMANDS])
def test_help_shows_every_bracketed_word(path, command):
    words = set(BRACKETED.findall(_sources(command)))
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
    assert result.exit_code == 0, result.output
    missing = sorted(w for w in words if w not in result.stdout)
    assert not missing, f"{' '.join(path)} --help lost {missing}"
    assert "\\[" not in result.stdout  # shown as written, not escaped twice
