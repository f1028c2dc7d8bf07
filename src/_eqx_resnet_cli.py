"""The `eqx-resnet` console script, `main`: it takes charge of Ctrl-C before anything else loads.

`import eqx_resnet` loads jax, most of a second, and Python's own Ctrl-C handling fails in there: a
KeyboardInterrupt raised in jax's garbage-collection callback is printed as "Exception ignored" and
lost; one raised while an extension module starts up becomes an ImportError, or aborts the process
(C++ `terminate`). Later, one raised inside XLA's compiler (which checks for signals) makes Python
crash as it exits (jax's tracing and the steps it runs take it well). So this module, outside the package and importing only the standard library,
installs its SIGINT handler first. The handler raises KeyboardInterrupt (so `finally` blocks clean
up), but not inside an import or XLA's compiler: there it is raised again once the main thread is
out of them, as is one raised where Python can only print it (a garbage-collection callback,
`__del__`). An error that follows a Ctrl-C is taken for its effect (`interrupted()`); a second
Ctrl-C ends the process at once, as does one after the command has finished.

An interrupted command ends with status 130 (128 + SIGINT) and one line on stderr (`eqx_resnet.cli.console`).
A training loop turns a Ctrl-C into a stop at its next step boundary instead (`eqx_resnet.training.engine`).
"""

import _thread
import os
import signal
import sys
import time

STATUS = 130  # 128 + SIGINT, as a shell reports a process that SIGINT ended
MESSAGE = "interrupted"
RETRY_S = 0.02  # how often a KeyboardInterrupt held back looks whether it may be raised
EXIT_GRACE_S = 5.0  # an interrupted command still shutting down this long after its line ends at once
_COMPILER = os.path.join("jax", "_src", "compiler.py")  # where jax calls XLA's compiler

_interrupted = False  # a Ctrl-C came
_reported = False  # its one line is out
_redelivering = False  # the next SIGINT is that Ctrl-C raised again, not a second one
_main_thread: int | None = None  # where the KeyboardInterrupt goes
_finished: int | None = None  # the command's exit status, once it has one


def main() -> None:
    install()
    try:
        from eqx_resnet.cli import main as run  # here: the package loads jax, after the handler is in place

        run()
    except SystemExit as e:
        if _interrupted and e.code == STATUS:  # typer's parsing turns a KeyboardInterrupt into a silent exit 130
            _report()
        _finish(e.code)
        raise
    except BaseException:  # the KeyboardInterrupt where no command caught it, or what it became on its way
        if _interrupted:
            _leave()
        raise


def install() -> None:
    """Handle SIGINT as described above, unless it is ignored (a process started by `nohup`, or with
    `&` in a script): then it stays so. Call it in the main thread."""
    global _main_thread
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, _on_sigint):
        return
    signal.signal(signal.SIGINT, _on_sigint)
    _main_thread = _thread.get_ident()
    previous = sys.unraisablehook

    def unraisable(args) -> None:
        if issubclass(args.exc_type, KeyboardInterrupt):
            _raise_later()
        else:
            previous(args)

    sys.unraisablehook = unraisable


def interrupted() -> bool:
    """Whether a Ctrl-C came: then any error that follows is the interruption's effect."""
    return _interrupted


def mark_reported() -> None:
    """The interruption's one line has been printed: a second Ctrl-C adds none."""
    global _reported
    _reported = True


def _on_sigint(signum, frame) -> None:
    global _interrupted, _redelivering
    redelivered, _redelivering = _redelivering, False
    if _finished is not None:  # nothing left to stop but Python's shutdown
        _exit_now(_finished)
    if _interrupted and not redelivered:
        _exit_now(STATUS)
    _interrupted = True
    if _unsafe(frame):
        _raise_later()
    else:
        raise KeyboardInterrupt


def _unsafe(frame) -> bool:
    """Whether a KeyboardInterrupt raised in `frame` could break the process: in an import, or in XLA's compiler."""
    if frame is None:
        return False
    if frame.f_code.co_filename.endswith(_COMPILER):
        return True
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib._bootstrap"):
            return True
        frame = frame.f_back
    return False


def _raise_later() -> None:
    """Raise the KeyboardInterrupt again once the main thread is out of imports and the compiler, from another
    thread: raised from here (a garbage-collection callback, say) it would land here again."""

    def deliver() -> None:
        global _redelivering
        time.sleep(RETRY_S)
        while _unsafe(sys._current_frames().get(_main_thread)):
            time.sleep(RETRY_S)
        _redelivering = True
        signal.pthread_kill(_main_thread, signal.SIGINT)  # a signal, unlike _thread.interrupt_main, ends a wait

    try:
        _thread.start_new_thread(deliver, ())
    except RuntimeError:  # the interpreter is shutting down
        pass


def _finish(code: object) -> None:
    global _finished
    _finished = code if isinstance(code, int) else 0 if code is None else 1
    if _interrupted and _finished == STATUS:
        # Python's shutdown waits for the threads a KeyboardInterrupt may have left running (a timer jax
        # cancels in a `finally` it had not reached yet): it gets EXIT_GRACE_S.
        _thread.start_new_thread(lambda: (time.sleep(EXIT_GRACE_S), _exit_now(STATUS)), ())


def _report() -> None:
    if not _reported:
        sys.stderr.write(MESSAGE + "\n")
        mark_reported()


def _leave() -> None:
    _report()
    _finish(STATUS)
    sys.exit(STATUS)


def _exit_now(status: int) -> None:
    if status == STATUS:
        _report()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)
