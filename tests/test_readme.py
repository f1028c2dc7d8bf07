"""The README's first 80 lines run as written: install, train, a model, pretrained weights and the
benchmarks, each a fenced block whose commands this test runs from a scratch folder laid out as a
clone; and its zoo table counts what the registry holds.

A command runs as written, with what keeps CI quick appended (`RUNS`): training runs a tiny model
for one step, the benchmark command prints its help, the suite is collected. The set-up commands
(venv, activate, pip install) are what made the environment this test runs in (`.ci/run`), so they
are checked (each extra exists, each pin is what is installed) rather than run again, and
`pytest -n 2 ...` is the pytest run this test belongs to. Only the GPU check is left out: CI has no GPU.
The weights example downloads from a local server playing the Hugging Face Hub.
"""

import fnmatch
import os
import re
import shlex
import subprocess
import sys
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

import jax
import numpy as np
import pytest
from _runs import TINY_TRAIN_ARGS, separate_pytest_env
from PIL import Image
from test_hub import FakeHub

import eqx_resnet
from eqx_resnet.data.imagenet import IMAGENET_CLASSES
from eqx_resnet.weights import get_pretrained, list_pretrained, save_safetensors

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
HEAD = "".join(README.splitlines(keepends=True)[:80])
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", HEAD, re.MULTILINE | re.DOTALL)
SHELL = [line for lang, block in BLOCKS if lang == "bash" for line in block.splitlines()]
COMMANDS = [
    part.strip() for line in SHELL if not line.startswith("#") for part in re.sub(r"\s+#\s.*", "", line).split("&&")
]
COMMANDS = [c for c in COMMANDS if c]
PYTHON = [block for lang, block in BLOCKS if lang == "python"]

# How each command runs here, by its first words: the options appended, or why it does not run.
RUNS = {
    "eqx-resnet train": [*TINY_TRAIN_ARGS, "--epochs", "1", "--max-train-samples", "64"],
    "eqx-resnet bench": ["--help"],  # the benchmarks take minutes on a CPU
    "eqx-resnet": [],
    "pytest benchmarks/": ["--collect-only", "-q"],
}
SET_UP = ("python -m venv .venv", ". .venv/bin/activate", "pip install ")
NOT_HERE = {"pytest -n 2": "the pytest run this test belongs to", "bash benchmarks/gpu_check.sh tier": "needs a GPU"}


def test_the_readme_fits_in_12_kib():
    assert len(README.encode()) <= 12_288


def test_the_first_80_lines_install_train_use_a_model_load_weights_and_benchmark():
    for command in ("pip install -e .", "eqx-resnet train mnist", "eqx-resnet bench", "pytest benchmarks/"):
        assert any(c.startswith(command) for c in COMMANDS), command
    for call in ("eqx_resnet.create_model(", "create_pretrained("):
        assert any(call in block for block in PYTHON), call


def test_the_set_up_commands_name_real_extras_and_the_installed_pins():
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    installs = [shlex.split(c)[2:] for c in COMMANDS if c.startswith("pip install ")]
    assert installs
    for argument in (a for install in installs for a in install if a != "-e"):
        if argument.startswith("."):
            assert set(re.findall(r"\w+", argument.removeprefix("."))) <= extras, argument
        else:
            name, pin = argument.split("==")
            assert version(name).split("+")[0] == pin, argument


@pytest.fixture
def clone(tmp_path):
    """A scratch folder that reads as a clone: the repository's top-level entries linked in."""
    for name in ("benchmarks", "data", "pyproject.toml", "src"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_the_commands_run(clone):
    ran = []
    for command in COMMANDS:
        if command.startswith(SET_UP) or any(command.startswith(c) for c in NOT_HERE):
            continue
        first = next((words for words in RUNS if command == words or command.startswith(words + " ")), None)
        assert first is not None, f"{command!r}: add to RUNS how this test runs it"
        start = time.perf_counter()
        result = subprocess.run(
            [*shlex.split(command), *RUNS[first]],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=300,
            env=separate_pytest_env(),  # `pytest benchmarks/` runs apart from these tests
        )
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        ran.append(f"{time.perf_counter() - start:5.1f} s  {command}")
    assert ran
    print("\n".join(ran))


def run_python(block: str, cwd: Path, **env) -> str:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HF_")}, **env}
    result = subprocess.run(
        [sys.executable, "-c", block], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_model_example_runs(tmp_path):
    (block,) = [b for b in PYTHON if "eqx_resnet.create_model(" in b]
    run_python(block, tmp_path)


def test_the_weights_example_runs_against_a_hub(tmp_path):
    (block,) = [b for b in PYTHON if "create_pretrained(" in b]
    (name,) = re.findall(r'create_pretrained\("(\w+)", key=', block)  # the set weights="imagenet" names
    published = get_pretrained(name, "imagenet").name
    model, state = eqx_resnet.create_model(name, key=jax.random.key(0))
    save_safetensors(model, state, tmp_path / "model.safetensors")
    hub = FakeHub({f"/timm/{published}/resolve/main/model.safetensors": (tmp_path / "model.safetensors").read_bytes()})
    pixels = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "cat.jpg")
    try:
        out = run_python(
            block,
            tmp_path,
            HF_ENDPOINT=hub.url,
            HF_HOME=str(tmp_path / "hf"),
            HF_HUB_OFFLINE="0",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_HUB_DISABLE_TELEMETRY="1",
        )
    finally:
        hub.server.shutdown()
    assert out.strip().splitlines()[-1] in IMAGENET_CLASSES


def test_the_zoo_table_counts_what_the_registry_holds():
    """Each architecture counts in the last row whose names match it, as the README says."""
    section = README.split("## The zoo", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and "`" in line]
    patterns = [re.findall(r"`([^`]+)`", row[1]) for row in rows]
    sets = {}
    for w in list_pretrained():
        sets.setdefault(w.name.split(".")[0], []).append(w)
    counted = [[0, 0] for _ in rows]
    for model in eqx_resnet.list_models():
        row = max(i for i, names in enumerate(patterns) if any(fnmatch.fnmatch(model, n) for n in names))
        counted[row][0] += 1
        counted[row][1] += len(sets.get(model, []))
    assert counted == [[int(row[2]), int(row[3].rstrip(" |"))] for row in rows]
    total = f"{len(eqx_resnet.list_models())} architectures and {len(list_pretrained())} published ImageNet weight sets"
    assert total in section
