"""Timing a step honestly: compilation apart, warm-up rounds, every round waited for, NaN refused.

A `Runner` is one framework's step, built and compiled, ready to call. Its
`call` runs one step and returns only when the device has finished it, so a
round's wall time is the step's time. Compilation happens before, timed on its
own; FLOPs come from XLA's cost analysis of the compiled step (or torch's counter).
"""

import math
import os
import platform as host
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import numpy as np

from ..errors import BenchmarkError


@dataclass
class Runner:
    """A step ready to time: `call()` runs it once and waits for the device; `output()` is
    the last call's loss (training) or logits (inference) on the host. `flops` is per call."""

    call: Callable[[], None]
    output: Callable[[], np.ndarray]
    parameters: int
    compile_s: float
    flops: float
    flops_source: str


def xla_flops(stage) -> float:
    """FLOPs of a lowered or compiled JAX computation, from XLA's cost analysis."""
    analysis = stage.cost_analysis()
    if isinstance(analysis, Sequence):  # older JAX: one dict per device
        analysis = analysis[0]
    return float(analysis["flops"])


def jax_runner(
    fn: Callable, carry, inputs: tuple, *, train: bool, parameters: int, compiler_options: dict | None = None
) -> Runner:
    """Compile `fn` ahead of time and wrap it as a `Runner`.

    Training: `fn(carry, *inputs) -> (carry, loss)`, the carry (parameters, statistics,
    optimiser state) donated and threaded from call to call, as in a training loop.
    Inference: `fn(carry, *inputs) -> logits`. `compiler_options` go to `jax.jit`.
    """
    jitted = jax.jit(fn, donate_argnums=(0,) if train else (), compiler_options=compiler_options)
    start = time.perf_counter()
    compiled = jitted.lower(carry, *inputs).compile()
    compile_s = time.perf_counter() - start
    box = {"carry": carry, "out": None}

    def call() -> None:
        if train:
            box["carry"], box["out"] = compiled(box["carry"], *inputs)
        else:
            box["out"] = compiled(box["carry"], *inputs)
        # All outputs of one XLA execution become ready together: waiting on the loss waits for the update too.
        box["out"].block_until_ready()

    def output() -> np.ndarray:
        return np.asarray(box["out"], np.float32)

    return Runner(call, output, parameters, compile_s, xla_flops(compiled), "XLA cost analysis")


def check_finite(runner: Runner, label: str) -> None:
    """Raise `BenchmarkError` if the runner's last output holds a NaN or an infinity."""
    values = runner.output()
    if not np.all(np.isfinite(values)):
        raise BenchmarkError(f"{label}: the step produced NaN or inf; its time is not reported")


def measure(runners: dict[str, Runner], *, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds of each of `rounds` timed calls per runner, after `warmup` untimed ones; every output checked.

    Runners (keyed by a label for errors) take turns round by round, so a host that gets
    busy for a while slows every framework of a row alike.
    """
    for _ in range(warmup):
        for label, runner in runners.items():
            runner.call()
            check_finite(runner, label)
    times = {label: [] for label in runners}
    for _ in range(rounds):
        for label, runner in runners.items():
            start = time.perf_counter()
            runner.call()
            times[label].append(time.perf_counter() - start)
            check_finite(runner, label)
    return times


def median(times: Sequence[float]) -> float:
    """The median round: robust to the odd slow round on a shared machine."""
    if not times or not all(math.isfinite(t) and t > 0 for t in times):
        raise BenchmarkError(f"no valid round times: {list(times)}")
    return statistics.median(times)


def cpu_cores() -> int:
    """The cores this process may run on (fewer than the machine's under a CPU limit)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def describe_device(platform: str) -> str:
    """The device in words: the GPU's name, or the CPU's model and core count."""
    if platform == "gpu":
        return jax.devices("gpu")[0].device_kind
    cores = cpu_cores()
    name = host.processor() or "CPU"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{name} ({cores} cores)"
