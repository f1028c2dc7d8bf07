"""How tests start runs: a tiny model's and a short run's `eqx-resnet train` options, and the
environment of a child process that sees N CPU devices or runs pytest apart from the running tests.
Imported by test files run as scripts too (`python tests/test_x.py` puts tests/ on sys.path)."""

import os

# A PreActResNet of 3 stages of one block, 4-8-8 channels.
TINY_MODEL_ARGS = ["--model", "preact_resnet", "-o", "widths=[4,8,8]", "-o", "blocks_per_stage=1"]
# The tiny model trained fast and reproducibly: no augmentation, a constant learning rate, no
# compilation cache shared with other runs. Later options win: a test may override any of them.
TINY_TRAIN_ARGS = [
    *TINY_MODEL_ARGS,
    "--batch-size",
    "64",
    "--lr",
    "0.01",
    "--schedule",
    "constant",
    "--no-augment",
    "--no-compilation-cache",
]


def separate_pytest_env() -> dict[str, str]:
    """This process's environment for a child `pytest` that runs apart from the running tests: without
    pytest-xdist's worker variables, under which pytest-benchmark turns itself off and refuses `--benchmark-only`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}


def cpu_devices_env(n: int) -> dict[str, str]:
    """This process's environment for a child whose JAX sees `n` CPU devices (XLA_FLAGS is read when JAX starts)."""
    return {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}
