"""The `eqx-resnet` typer application; each group of commands lives in its own module."""

import sys

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from _eqx_resnet_cli import MESSAGE as INTERRUPTED

from .console import stopped

try:
    from typer import TyperException as CliError  # typer 0.2x vendors click's exceptions
except ImportError:
    from click import ClickException as CliError


def _literal_help(command: TyperCommand | TyperGroup) -> None:
    """Make every help text of `command` and its subcommands plain text: typer reads help as rich markup,
    which would eat a bracketed word such as the extra in `pip install 'eqx-resnet[hf]'`."""
    for name in ("help", "short_help", "epilog"):
        if getattr(command, name):
            setattr(command, name, escape(getattr(command, name)))
    for param in command.params:
        if getattr(param, "help", None):
            param.help = escape(param.help)
    for subcommand in getattr(command, "commands", {}).values():
        _literal_help(subcommand)


class _OneLineErrors(TyperGroup):
    """Usage errors as one line on stderr (`error: ...`, exit status 2), like the commands' own errors,
    instead of click's usage banner and box; Ctrl-C as `interrupted` (exit status 130), where click
    would print a blank line and exit with 1. Help texts are plain text, not markup."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _literal_help(self)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # where the command has no message of its own for it
            stopped(INTERRUPTED)

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            status = super().main(*args, standalone_mode=False, **kwargs)
        except CliError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # `eqx-resnet` alone: the help, as click shows it
                e.show()
                sys.exit(e.exit_code)
            ctx = getattr(e, "ctx", None)
            help_hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            sys.stderr.write(f"error: {' '.join(e.format_message().split())}{help_hint}\n")
            sys.exit(e.exit_code)
        except typer.Abort as e:
            if isinstance(e.__cause__, KeyboardInterrupt):  # while click parsed the command line
                raise e.__cause__ from None  # for the console script (_eqx_resnet_cli) to report
            sys.exit(1)
        sys.exit(status if isinstance(status, int) else 0)


app = typer.Typer(
    name="eqx-resnet",
    cls=_OneLineErrors,
    help="Residual networks for Equinox: list and inspect models, train and evaluate them, benchmark them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
