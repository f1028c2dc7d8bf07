"""eqx-resnet's training step by device count (`--eqx-devices N`): without a mesh, then data-parallel
on 1, 2, 4, ... N local devices at `--eqx-batch` images per device. The table at the end gives
images/s per count and the efficiency against the count times one device's; its first two
columns are what a mesh of one device costs against none.
"""

from eqx_resnet.benchmarking import check_finite
from eqx_resnet.benchmarking.scaling import build_scaled, scaled_record


def test_train_step_by_device_count(benchmark, scaling_case, settings, scaling_records):
    model, devices = scaling_case
    workload = build_scaled(model, settings, devices)
    runner = workload.runner
    benchmark.group = f"{model}/train/{settings.precision}/by-devices"
    benchmark.pedantic(
        runner.call,
        teardown=lambda: check_finite(runner, workload.label),
        rounds=settings.rounds,
        warmup_rounds=settings.warmup,
        iterations=1,
    )
    check_finite(runner, workload.label)
    if not benchmark.disabled:
        stats = benchmark.stats.stats
        result = scaled_record(workload, stats.median, stats.min, devices)
        benchmark.extra_info.update(result)
        scaling_records.append(result)
