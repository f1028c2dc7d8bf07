"""Command line: `eqx-resnet COMMAND --help`. One module per group of commands."""

from . import bench, evaluate, models, plot, train, weights  # noqa: F401  (each registers its commands)
from .app import app

__all__ = ["app"]


def main() -> None:
    """Console-script entry point."""
    app()
