"""Command line: `eqx-resnet COMMAND --help`."""

from .app import app

__all__ = ["app"]


def main() -> None:
    """Console-script entry point."""
    app()
