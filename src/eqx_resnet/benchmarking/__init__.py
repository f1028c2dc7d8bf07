"""Benchmarks of the zoo against Flax and PyTorch: the workloads, their timing and the report.

`pytest benchmarks/ --benchmark-only` and `eqx-resnet bench` both run these. The
peers (`peers_flax`, `peers_torch`) are imported only when asked for, so the
package works without flax and torch installed. Importing it sets nothing: the entry
points that run JAX beside torch on a GPU call `share_gpu_memory()` before JAX starts.
"""

import os

from .report import busy_host_warning, markdown, record, rich_table, rows, write_json
from .timing import BenchmarkError, Runner, check_finite, describe_device, measure, median
from .workloads import (
    FRAMEWORKS,
    MODELS,
    STEPS,
    ModelSpec,
    Settings,
    Workload,
    build_workload,
    check_flops,
    check_parameters,
    default_settings,
    jax_platform,
    model_parameters,
    model_spec,
    peer_missing,
    unknown_models,
)


def share_gpu_memory() -> None:
    """Let JAX allocate GPU memory on demand (unless the environment says otherwise).

    JAX takes 75% of a GPU's memory when its backend starts, leaving torch too little for
    the same batch; allocating on demand lets the frameworks share the GPU. Call it before
    JAX's backend starts (the first computation or device query): later it does nothing.
    """
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


__all__ = [
    "FRAMEWORKS",
    "MODELS",
    "STEPS",
    "BenchmarkError",
    "ModelSpec",
    "Runner",
    "Settings",
    "Workload",
    "build_workload",
    "busy_host_warning",
    "check_finite",
    "check_flops",
    "check_parameters",
    "default_settings",
    "describe_device",
    "jax_platform",
    "markdown",
    "measure",
    "median",
    "model_parameters",
    "model_spec",
    "peer_missing",
    "record",
    "rich_table",
    "rows",
    "share_gpu_memory",
    "unknown_models",
    "write_json",
]
