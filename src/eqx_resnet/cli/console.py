"""The command line's one console and one error path.

Exit status: 0 on success, 2 for a usage or validation error (as click's own), 1 for a
failure at run time, 130 for Ctrl-C and 143 for SIGTERM (128 + the signal's number). An
expected failure is one line on stderr naming the problem and the fix, the library's message in the
command's options (`words`). Any other exception is a bug: one line says so, its traceback is
written to a file, and `EQX_RESNET_TRACEBACK=1` prints it instead. An error that follows a Ctrl-C is
the interruption's effect, not a bug (`_eqx_resnet_cli`, the console script, handles Ctrl-C).
"""

import contextlib
import os
import signal
import sys
import tempfile
import traceback
import warnings
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from _eqx_resnet_cli import MESSAGE as INTERRUPTED
from _eqx_resnet_cli import STATUS as INTERRUPTED_STATUS
from _eqx_resnet_cli import interrupted as interrupted_by_user
from _eqx_resnet_cli import mark_reported

from .._extras import MissingExtra
from ..data import DatasetError
from ..errors import UsageError
from ..training import CheckpointError, ConfigError, Interrupted, TrainingError
from ..weights import WeightsError
from .words import in_command_words

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
TRACEBACK_ENV = "EQX_RESNET_TRACEBACK"
# Failures at run time; their messages name the fix (MissingExtra: the extra to install). ConfigError (and typer's BadParameter)
# are usage errors.
RUN_ERRORS = (DatasetError, CheckpointError, TrainingError, WeightsError, MissingExtra)


def console() -> Console:
    """Standard output. Rich wraps to 80 columns when writing to a pipe or a file: let a
    table take its own width there."""
    out = Console(highlight=False)
    return out if out.is_terminal else Console(highlight=False, width=200)


def error(message: str, status: int) -> NoReturn:
    """Print `error: message` on stderr, in the command's words (`in_command_words`), and exit with `status`."""
    stderr.print(f"[bold red]error:[/] {_one_line(message)}")
    raise typer.Exit(status)


def _one_line(message: object) -> str:
    """`message` on one line, in the command's words, as rich prints it literally (messages hold brackets: [plot])."""
    return escape(in_command_words(" ".join(str(message).split())))


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """`warnings.showwarning` of the command line: the library's own warnings (an unreadable image
    skipped, links not followed) as one line, `warning: message`; any other as Python shows it."""
    if not category.__module__.startswith("eqx_resnet."):
        (file or sys.stderr).write(warnings.formatwarning(message, category, filename, lineno, line))
        return
    stderr.print(f"[yellow]warning:[/] {_one_line(message)}")


def stopped(message: str, status: int = INTERRUPTED_STATUS) -> NoReturn:
    """Print `message`, the one line of a run stopped by a signal, and exit with `status`."""
    stderr.print(_one_line(message))
    mark_reported()
    raise typer.Exit(status)


@contextlib.contextmanager
def errors(interrupted: str = INTERRUPTED):
    """Turn the library's errors into one-line messages and exit statuses; Ctrl-C prints `interrupted`."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except Interrupted as e:
        stopped(str(e), 128 + signal.Signals[e.signal_name].value)
    except (KeyboardInterrupt, Exception) as e:
        # After a Ctrl-C, any error is its effect: the KeyboardInterrupt, or what it became on its way.
        if isinstance(e, KeyboardInterrupt) or interrupted_by_user():
            stopped(interrupted)
        _fail(e)


def _fail(e: Exception) -> NoReturn:
    """Report `e`, being handled: a usage error, a failure at run time, or else a bug."""
    if isinstance(e, ConfigError | UsageError):
        error(str(e), 2)
    if isinstance(e, RUN_ERRORS):
        error(str(e), 1)
    if os.environ.get(TRACEBACK_ENV) == "1":
        raise e
    with tempfile.NamedTemporaryFile("w", prefix="eqx-resnet-traceback-", suffix=".txt", delete=False) as f:
        traceback.print_exc(file=f)
    error(
        f"unexpected {type(e).__name__}: {e}. This is a bug in eqx-resnet, not in your input: please report it "
        f"with the traceback in {f.name} (or rerun with {TRACEBACK_ENV}=1 to print it)",
        1,
    )
