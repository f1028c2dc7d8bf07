"""The GPU entry points: the benchmarks let JAX and torch share a GPU, and importing the package changes nothing."""

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from eqx_resnet.cli import app

PREALLOCATE = "XLA_PYTHON_CLIENT_PREALLOCATE"


def test_importing_the_benchmarking_package_sets_no_environment_variable():
    code = (
        "import json, os; before = dict(os.environ)\n"
        "import eqx_resnet, eqx_resnet.benchmarking, eqx_resnet.benchmarking.plot, eqx_resnet.cli\n"
        "print(json.dumps(sorted(set(os.environ.items()) ^ set(before.items()))))"
    )
    env = {k: v for k, v in os.environ.items() if k != PREALLOCATE}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == []


def test_the_bench_command_lets_jax_allocate_on_demand(monkeypatch):
    monkeypatch.delenv(PREALLOCATE, raising=False)
    result = CliRunner().invoke(app, ["bench", "--depths", "19"])  # refused after the setting, before any work
    assert result.exit_code == 1 and "unknown ResNet depth" in result.output
    assert os.environ[PREALLOCATE] == "false"
    monkeypatch.setenv(PREALLOCATE, "true")  # a user's own choice stands
    CliRunner().invoke(app, ["bench", "--depths", "19"])
    assert os.environ[PREALLOCATE] == "true"
