"""Ctrl-C at each stage of `eqx-resnet train`, and in the other commands: exit status 130, one line on
stderr, no checkpoint half-written.

Each test runs the console script in a child and sends it SIGINT when the child reaches a stage, never
on a timer: at a `stage: NAME` marker of the training engine's test hook (EQX_RESNET_STAGE_MARKERS=1:
the child waits at each marker for a line on stdin, written once the signal is sent), or, while it
imports, at a module's line of `python -X importtime`.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest
from _runs import TINY_TRAIN_ARGS
from PIL import Image

import eqx_resnet
from eqx_resnet.training import load_checkpoint
from eqx_resnet.weights import to_state_dict

DATA = str(Path(__file__).parents[1] / "data")
NEW_RUN = ["train", "mnist", *TINY_TRAIN_ARGS, "--max-train-samples", "256", "--data-dir", DATA, "--json"]
AT_ONCE = (
    "interrupted at once, no checkpoint half-written: continue with --resume if --out holds last/, else start again"
)
CHILD_TIMEOUT_S = 300


def interrupt(args: list[str], at: str, *, during: bool = False) -> tuple[int, list[str], str]:
    """Run `eqx-resnet ARGS`, send SIGINT at the stage `at` (`import:MODULE`: once MODULE is imported);
    `during`: just after the child goes on from the stage's marker, not before. The exit status, the
    lines of stderr but the markers, and stdout."""
    script = shutil.which("eqx-resnet")
    assert script, "the eqx-resnet console script is not installed: pip install -e ."
    importing = at.startswith("import:")
    command = [sys.executable, "-X", "importtime", script, *args] if importing else [script, *args]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"} | ({} if importing else {"EQX_RESNET_STAGE_MARKERS": "1"})
    child = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    watchdog = threading.Timer(CHILD_TIMEOUT_S, child.kill)  # a child that never ends fails the test, not CI
    watchdog.start()
    sent, lines = False, []
    try:
        for line in child.stderr:
            if line.startswith("import time:"):  # `module | total | name`
                if not sent and at == "import:" + line.split("|")[-1].strip():
                    child.send_signal(signal.SIGINT)
                    sent = True
            elif line.startswith("stage: "):
                here = not sent and line == f"stage: {at}\n"
                if here and not during:
                    child.send_signal(signal.SIGINT)
                with_child_gone_ok(lambda: (child.stdin.write("\n"), child.stdin.flush()))
                if here and during:
                    child.send_signal(signal.SIGINT)
                sent = sent or here
            else:
                lines.append(line.rstrip("\n"))
        out = child.stdout.read()
        status = child.wait()
    finally:
        watchdog.cancel()
        child.kill()
    assert sent, f"the child never reached {at}: status {status}, stderr {lines[-5:]}"
    return status, lines, out


def with_child_gone_ok(write) -> None:
    try:
        write()
    except BrokenPipeError:  # it ended already
        pass


def no_half_written_checkpoint(run_dir: Path) -> None:
    assert not list(run_dir.glob(".tmp-*")), sorted(p.name for p in run_dir.iterdir())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run of one epoch (4 steps), with the compilation cache its resumed copies share."""
    root = tmp_path_factory.mktemp("interrupt")
    run, cache = root / "run", root / "cache"
    result = subprocess.run(
        ["eqx-resnet", *NEW_RUN, "--epochs", "1", "--out", str(run), "--compilation-cache", str(cache)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run, cache


@pytest.mark.parametrize("module", ["jax._src.lib", "eqx_resnet"])
def test_ctrl_c_while_importing_ends_in_one_line(module, tmp_path):
    # jax._src.lib: jax's garbage-collection callback is in place and its extension modules start up
    # next, where Python's own KeyboardInterrupt was lost, became an ImportError or aborted the process.
    status, lines, out = interrupt([*NEW_RUN, "--out", str(tmp_path / "run")], f"import:{module}")
    assert status == 130 and len(lines) == 1 and lines[0].startswith("interrupted"), lines
    assert not out
    assert not (tmp_path / "run" / "last").exists()


@pytest.mark.parametrize(
    "stage, during", [("validation", False), ("data", False), ("compile", False), ("compile", True)]
)
def test_ctrl_c_before_the_first_step_stops_at_once(stage, during, tmp_path):
    status, lines, out = interrupt([*NEW_RUN, "--out", str(tmp_path / "run")], stage, during=during)
    assert (status, lines, out) == (130, [AT_ONCE], "")
    assert not (tmp_path / "run" / "last").exists()
    if (tmp_path / "run").exists():
        no_half_written_checkpoint(tmp_path / "run")


@pytest.mark.parametrize("stage", ["step", "checkpoint"])
def test_ctrl_c_in_a_step_or_a_checkpoint_write_stops_with_a_whole_checkpoint(stage, trained, tmp_path):
    run, cache = trained
    shutil.copytree(run, tmp_path / "run")
    run = tmp_path / "run"
    best = (run / "best" / "model.eqx").read_bytes()
    resume = ["train", "mnist", "--resume", "--out", str(run), "--epochs", "2", "--checkpoint-every", "2"]
    status, lines, out = interrupt([*resume, "--compilation-cache", str(cache), "--json"], stage)
    assert status == 130 and not out
    assert lines == [
        f"stopped by SIGINT in epoch 2 after step 2; {run / 'last'} holds where it was: continue with --resume"
    ]
    meta = load_checkpoint(run / "last")[2]  # whole: every file matches its hash
    assert (meta["epoch"], meta["step"], meta["partial_epoch"]["steps"]) == (1, 4 + 2, 2)
    assert (run / "best" / "model.eqx").read_bytes() == best
    no_half_written_checkpoint(run)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """An image for predict; a resnet18 weights file, as torchvision names its weights, for convert."""
    root = tmp_path_factory.mktemp("inputs")
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (28, 28), np.uint8)).save(root / "digit.png")
    shapes = eqx.filter_eval_shape(eqx_resnet.create_model, "resnet18", key=jax.random.key(0))
    fill = lambda x: np.full(x.shape, 0.01, x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x
    np.savez(root / "resnet18.npz", **to_state_dict(*jax.tree.map(fill, shapes)))
    return root


@pytest.mark.parametrize("command", ["eval", "predict", "convert", "summary", "bench"])
def test_ctrl_c_ends_every_command_in_one_line(command, trained, inputs, tmp_path):
    run, _ = trained
    args = {
        "eval": ["eval", str(run)],
        "predict": ["predict", str(run), str(inputs / "digit.png")],
        "convert": ["convert", str(inputs / "resnet18.npz"), "--model", "resnet18", "--out", str(tmp_path / "ckpt")],
        "summary": ["summary", "resnet50"],
        "bench": ["bench", "--smoke", "--json", str(tmp_path / "bench.json")],
    }[command]
    status, lines, out = interrupt(args, "import:eqx_resnet.cli")  # as the command starts
    assert (status, lines) == (130, ["interrupted"]), (out, lines)
    assert not list(tmp_path.glob(".tmp-*"))  # convert's checkpoint: whole or not there
