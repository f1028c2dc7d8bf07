"""Options and fixtures of `pytest benchmarks/ --benchmark-only`.

Sizes follow the device JAX runs on (GPU: batch 256 at 224x224, bf16; CPU: small
batches and resolutions, fp32); the `--eqx-*` options override them. At the end
the pytest run prints the frameworks side by side with eqx-resnet's ratio to the best peer.
"""

import pytest

from eqx_resnet.benchmarking import (
    FRAMEWORKS,
    STEPS,
    default_settings,
    jax_platform,
    markdown,
    share_gpu_memory,
    unknown_models,
)
from eqx_resnet.benchmarking.scaling import device_counts, scaling_markdown

share_gpu_memory()  # before pytest_configure starts JAX's backend

_SETTINGS = pytest.StashKey()
_RECORDS = pytest.StashKey()
_SCALING = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("eqx-resnet benchmarks")
    group.addoption("--eqx-batch", type=int, help="Images per step (default: 256 on a GPU, 8 on a CPU).")
    group.addoption(
        "--eqx-resolution", type=int, help="Input size of the ImageNet ResNets (default: 224 on a GPU, 128 on a CPU)."
    )
    group.addoption(
        "--eqx-depths", help="Comma-separated ResNet depths, e.g. 18,50 (default: all on a GPU, 18,50 on a CPU)."
    )
    group.addoption(
        "--eqx-models",
        help="Instead of --eqx-depths: exactly the models to run, comma-separated names from `eqx-resnet models`, "
        "e.g. resnet50d,seresnext26t_32x4d (and resnet18_cifar).",
    )
    group.addoption(
        "--eqx-precision", choices=("fp32", "bf16"), help="Compute precision (default: bf16 on a GPU, fp32 on a CPU)."
    )
    group.addoption(
        "--eqx-smoke",
        action="store_true",
        help="Tiny run for CI: batch 2, resnet18 at 32x32 and preact_resnet, 1 round.",
    )
    group.addoption(
        "--eqx-devices",
        type=int,
        metavar="N",
        help="Also time eqx-resnet's training step by device count (test_bench_devices.py): without a mesh "
        "and data-parallel on 1, 2, 4, ... N local devices, --eqx-batch images per device.",
    )


def pytest_configure(config):
    depths, models = config.getoption("--eqx-depths", None), config.getoption("--eqx-models", None)
    models = None if models is None else tuple(name.strip() for name in models.split(","))
    if depths is not None and models is not None:
        raise pytest.UsageError("--eqx-models names every model of the run: leave out --eqx-depths")
    if models is not None and (unknown := unknown_models(models)):
        raise pytest.UsageError(
            f"unknown model {unknown[0]!r} in --eqx-models: choose names that `eqx-resnet models` lists, "
            "or resnet18_cifar"
        )
    try:
        config.stash[_SETTINGS] = default_settings(
            jax_platform(),
            smoke=config.getoption("--eqx-smoke", False),
            batch=config.getoption("--eqx-batch", None),
            resolution=config.getoption("--eqx-resolution", None),
            depths=None if depths is None else tuple(int(d) for d in depths.split(",")),
            models=models,
            precision=config.getoption("--eqx-precision", None),
        )
    except ValueError as e:
        raise pytest.UsageError(f"eqx-resnet benchmark options: {e}") from None
    config.stash[_RECORDS] = []
    config.stash[_SCALING] = []


def pytest_ignore_collect(collection_path, config):
    # The scaling benchmark runs when asked for: its device counts come from --eqx-devices.
    return collection_path.name == "test_bench_devices.py" and config.getoption("--eqx-devices", None) is None


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        settings = metafunc.config.stash[_SETTINGS]
        cases = [(m, s, f) for m in settings.models for s in STEPS for f in FRAMEWORKS]
        metafunc.parametrize("case", cases, ids=["-".join(c) for c in cases])
    if "scaling_case" in metafunc.fixturenames:
        settings = metafunc.config.stash[_SETTINGS]
        cases = [(m, n) for m in settings.models for n in device_counts(metafunc.config.getoption("--eqx-devices"))]
        metafunc.parametrize("scaling_case", cases, ids=[f"{m}-{n}dev" if n else f"{m}-nomesh" for m, n in cases])


@pytest.fixture
def settings(request):
    """The `Settings` of this pytest run: the same for every framework of a row."""
    return request.config.stash[_SETTINGS]


@pytest.fixture
def scaling_records(request):
    """The run's records by device count (test_bench_devices.py), for their table at the end."""
    return request.config.stash[_SCALING]


@pytest.fixture
def records(request):
    """The run's reported records, for the side-by-side table at the end."""
    return request.config.stash[_RECORDS]


def pytest_terminal_summary(terminalreporter, config):
    records = config.stash.get(_RECORDS, [])
    if records:
        terminalreporter.write_sep("-", "eqx-resnet vs peers (images/s; ratio > 1: eqx-resnet faster)")
        terminalreporter.write(markdown(records))
    if scaling := config.stash.get(_SCALING, []):
        terminalreporter.write_sep("-", "eqx-resnet's training step by device count")
        terminalreporter.write(scaling_markdown(scaling))
