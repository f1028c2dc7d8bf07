"""The `eqx-resnet` typer application; each command lives in its own module."""

import typer
from rich.console import Console

app = typer.Typer(
    name="eqx-resnet",
    help="Residual networks for Equinox: list and inspect models, train and evaluate them, benchmark them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def console() -> Console:
    """Standard output for tables. Rich wraps to 80 columns when writing to a pipe or a
    file: let a table take its own width there."""
    out = Console(highlight=False)
    return out if out.is_terminal else Console(highlight=False, width=200)
