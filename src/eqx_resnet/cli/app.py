"""The `eqx-resnet` typer application; each group of commands lives in its own module."""

import typer

app = typer.Typer(
    name="eqx-resnet",
    help="Residual networks for Equinox: list and inspect models, train and evaluate them, benchmark them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
