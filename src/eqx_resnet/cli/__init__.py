"""Command line: `eqx-resnet COMMAND --help`."""

from . import bench  # noqa: F401
from . import models  # noqa: F401
from . import train  # noqa: F401  (registers train, eval, predict, plot)
from .app import app

__all__ = ["app"]


def main() -> None:
    """Console-script entry point."""
    app()
