"""Turning the library's errors into one-line CLI messages instead of tracebacks."""

import contextlib

import typer
from rich.console import Console
from rich.markup import escape

from ..data import DatasetError
from ..training import CheckpointError, TrainingError

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
USER_ERRORS = (DatasetError, CheckpointError, TrainingError, ValueError, FileNotFoundError)


@contextlib.contextmanager
def user_errors():
    """Print a user error as `error: ...` on stderr and exit with status 1; Ctrl-C exits 130."""
    try:
        yield
    except USER_ERRORS as e:
        stderr.print(f"[bold red]error:[/] {escape(str(e))}")  # messages hold brackets: [plot]
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        stderr.print("interrupted; the last completed epoch is saved: continue with --resume")
        raise typer.Exit(130) from None
