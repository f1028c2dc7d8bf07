"""Runtime shape and dtype checking of every annotated function, as users can turn on.

The hook must be installed before `eqx_resnet` is first imported.
"""

import os
import signal
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from jaxtyping import install_import_hook

with install_import_hook("eqx_resnet", "beartype.beartype"):
    import eqx_resnet
    import eqx_resnet.data  # imported lazily by eqx_resnet, create_model or the engine: hook them now
    import eqx_resnet.data.hf
    import eqx_resnet.data.stream
    import eqx_resnet.summary
    import eqx_resnet.training
    import eqx_resnet.weights  # the CLI imports it too, so a test file's own hook would come too late

# Tests run the `eqx-resnet` console script of the environment running them, as `pytest` started by its
# full path (/venv/bin/pytest, no venv activated) would otherwise find none or another one on PATH.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
# The children that tests send Ctrl-C must take it as at a terminal; tests started in the background
# (`pytest &` in a script) inherit SIGINT ignored, and so would those children. A handled signal is reset
# to its default in a child (exec), an ignored one is not.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# A failed test marked `xla_structure` (tests/_hlo.py) says what kind of failure it may be.
_XLA_STRUCTURE_NOTE = (
    "This test asserts what XLA:CPU compiles, as jaxlib {expected} compiled it (installed: jaxlib {installed}).\n"
    "A jaxlib upgrade can change that and fail this test without a bug in eqx-resnet: the compiler hint\n"
    "it checks (src/eqx_resnet/_xla_cpu/) may then be unneeded or need another form. The measurements\n"
    "behind the hint, and the scripts that repeat them, are in benchmarks/README.md."
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    marker = item.get_closest_marker("xla_structure")
    if marker and report.when == "call" and report.failed:
        note = _XLA_STRUCTURE_NOTE.format(expected=marker.kwargs["jaxlib"], installed=version("jaxlib"))
        report.sections.append(("XLA:CPU compiled structure", note))
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        _fail_a_skip_ci_could_run(item, report)
    return report


def _fail_a_skip_ci_could_run(item, report) -> None:
    """CI installs every extra (.ci/run: `.[all]`), so a test it skips, for a missing package or anything
    else, is one it could run, and fails; only a `skipif` marker's reason, what the machine lacks (a GPU),
    excuses it."""
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if reason in {m.kwargs.get("reason") for m in item.iter_markers("skipif")}:
        return
    report.outcome = "failed"
    report.longrepr = f"CI skipped this test ({reason}), but CI has every extra installed and must run it"
