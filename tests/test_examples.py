"""The examples run as a reader would run them, in a fresh interpreter."""

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_backbone_example_trains():
    # JAX's partitionable threefry compiles its sampler 4x slower on CPU, once per weight shape:
    # the old scheme halves the example's time here. Other numbers, same code.
    env = {**os.environ, "JAX_THREEFRY_PARTITIONABLE": "0"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "backbone.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=EXAMPLES.parent,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    losses = [float(x) for x in re.findall(r"^step \d+: loss ([\d.]+)$", result.stdout, re.MULTILINE)]
    assert len(losses) == 6, result.stdout
    assert losses[-1] < 0.5 * losses[0], losses
