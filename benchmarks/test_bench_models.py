"""Inference and training steps of every model in eqx-resnet, Flax and PyTorch, grouped per row.

Each test builds and compiles one framework's step (compile time reported apart),
runs warm-up rounds, then times rounds that each wait for the device; pytest-benchmark
reports their median. A NaN output fails the test and reports no number.
"""

import pytest

from eqx_resnet.benchmarking import build_workload, check_finite, peer_missing, record


def test_step(benchmark, case, settings, records):
    model, step, framework = case
    if reason := peer_missing(framework, settings.platform, model):
        pytest.skip(reason)
    workload = build_workload(framework, model, step, settings)
    runner = workload.runner
    benchmark.group = f"{model}/{step}/{settings.precision}"
    benchmark.pedantic(
        runner.call,
        teardown=lambda: check_finite(runner, workload.label),  # after every round, untimed; raising drops the result
        rounds=settings.rounds,
        warmup_rounds=settings.warmup,
        iterations=1,
    )
    check_finite(runner, workload.label)
    if benchmark.disabled:  # --benchmark-disable: the step ran once, untimed: nothing to report
        return
    result = record(workload, benchmark.stats.stats.median, benchmark.stats.stats.min)
    benchmark.extra_info.update(result)
    records.append(result)
