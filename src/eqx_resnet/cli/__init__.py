"""Command line: `eqx-resnet COMMAND --help`. One module per group of commands."""

import warnings

from _eqx_resnet_cli import install

from . import bench, evaluate, models, plot, train, weights  # noqa: F401  (each registers its commands)
from .app import app
from .console import show_warning

__all__ = ["app", "main"]


def main() -> None:
    """Run the command line. The console script (`_eqx_resnet_cli.main`) handles Ctrl-C before it
    imports this module; a caller that imports it first has it handled from here on."""
    install()
    warnings.showwarning = show_warning
    app()
