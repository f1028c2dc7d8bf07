"""Command line: `eqx-resnet COMMAND --help`. One module per group of commands."""

import warnings

from . import bench, evaluate, models, plot, train, weights  # noqa: F401  (each registers its commands)
from .app import app
from .console import show_warning

__all__ = ["app"]


def main() -> None:
    """Console-script entry point."""
    warnings.showwarning = show_warning
    app()
