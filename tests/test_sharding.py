"""`training.sharding`: training steps on 4 CPU devices equal one device's on the same global batch
(loss, parameters, BatchNorm statistics within 1e-5), through the Python API and through `eqx-resnet
train`, including a run resumed on another device count; per-device statistics and gradient
accumulation on the mesh; the example.

A mesh needs `XLA_FLAGS` before JAX starts, so the 4-device checks run this file in a child process.
"""

import json
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import optax
import pytest
from _runs import TINY_TRAIN_ARGS, cpu_devices_env
from _trees import arrays, relative

import eqx_resnet
from eqx_resnet.training import (
    ConfigError,
    TrainConfig,
    data_mesh,
    make_train_step,
    replicate,
    shard_batch,
    shard_train_step,
)
from eqx_resnet.training.sharding import run_mesh

DEVICES = 4
ROOT = Path(__file__).resolve().parents[1]
TINY = dict(widths=(4, 8, 8), blocks_per_stage=1)
# SGD, not Adam: Adam divides each gradient by its running scale, so the last bits in which a sum over 4
# devices differs from one over 1 grow into whole steps for near-zero gradients; the runs drift apart
# chaotically (1e-4 after 8 steps, by the initial weights), not by a bug.
TINY_CLI = [*TINY_TRAIN_ARGS, "--optimizer", "sgd", "--max-train-samples", "256", "--eval-batch-size", "2500"]
TOLERANCE = 1e-5


def worst(tree, reference) -> float:
    return max(relative(a, b) for a, b in zip(arrays(tree), arrays(reference), strict=True))


def tiny_model():
    return eqx.filter_jit(eqx_resnet.preact_resnet)(**TINY, key=jax.random.key(0, impl="rbg"))


def batches(n: int, size: int):
    images = jax.random.normal(jax.random.key(1), (n, size, 1, 28, 28))
    return images, jax.random.randint(jax.random.key(2), (n, size), 0, 10)


def run(step, model, state, opt_state, images, labels, put=lambda batch: batch):
    """`step` over the batches: the losses, and the model and state at the end."""
    step, losses = eqx.filter_jit(step, compiler_options=eqx_resnet.compiler_options()), []
    for i in range(images.shape[0]):
        model, state, opt_state, metrics = step(
            model, state, opt_state, *put((images[i], labels[i])), jax.random.key(i)
        )
        losses.append(float(metrics["loss"]))
    return losses, model, state


def api_checks() -> dict:
    """3 steps of the Python API on the mesh against one device: global statistics, per-device
    statistics (against micro-batches of one device's quarters), and micro-batches on the mesh."""
    model, state = tiny_model()
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    images, labels = batches(3, 32)
    mesh = data_mesh()
    on_mesh = replicate((model, state, opt_state), mesh)
    sharded = lambda batch: shard_batch(batch, mesh)
    report = {}

    def compare(name, got, want):
        report[name] = {
            "loss": max(relative(a, b) for a, b in zip(got[0], want[0])),
            "params": worst(got[1], want[1]),
            "state": worst(got[2], want[2]),
        }

    one = run(make_train_step(optimizer), model, state, opt_state, images, labels)
    compare("global", run(shard_train_step(make_train_step(optimizer), mesh), *on_mesh, images, labels, sharded), one)
    # Per-device statistics = one device's micro-batches, each a device's quarter: micro-batch k is
    # rows k::4, so the quarters are interleaved. (The running statistics differ: averaged vs in turn.)
    quarters = lambda x: x.reshape(x.shape[0], DEVICES, -1, *x.shape[2:]).swapaxes(1, 2).reshape(x.shape)
    per_device = run(
        shard_train_step(make_train_step(optimizer, axis_name="data"), mesh, batch_stats="per_device"),
        *on_mesh,
        images,
        labels,
        sharded,
    )
    micro = run(
        make_train_step(optimizer, accumulate=DEVICES), model, state, opt_state, quarters(images), quarters(labels)
    )
    compare("per_device", per_device, micro)
    report["per_device"].pop("state")
    report["per_device_differs"] = relative(per_device[0], one[0])
    accumulated = run(make_train_step(optimizer, accumulate=2), model, state, opt_state, images, labels)
    compare(
        "accumulate",
        run(shard_train_step(make_train_step(optimizer, accumulate=2), mesh), *on_mesh, images, labels, sharded),
        accumulated,
    )
    return report


def cli_checks(tmp: Path) -> dict:
    """`eqx-resnet train`: 2 epochs on 1 device against 1 epoch on 4 devices resumed for a second on 2."""
    from typer.testing import CliRunner

    from eqx_resnet.cli import app

    runner = CliRunner()

    def train(*args):
        result = runner.invoke(app, ["train", "mnist", *TINY_CLI, "--data-dir", str(ROOT / "data"), *args])
        return result.exit_code, result.output

    outcomes = {
        "one": train("--devices", "1", "--epochs", "2", "--out", str(tmp / "one")),
        "four": train("--devices", "4", "--epochs", "1", "--out", str(tmp / "four")),
        "resumed on two": train("--devices", "2", "--epochs", "2", "--resume", "--out", str(tmp / "four")),
        "batch 66": train("--devices", "4", "--batch-size", "66", "--out", str(tmp / "bad")),
    }
    report = {
        "exit": {k: code for k, (code, _) in outcomes.items()},
        "output": {k: out[-2000:] for k, (_, out) in outcomes.items()},
    }
    one, four = (eqx_resnet.load_checkpoint(tmp / name / "last") for name in ("one", "four"))
    rows = [
        [json.loads(line) for line in (tmp / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("one", "four")
    ]
    report["params"], report["state"] = worst(four[0], one[0]), worst(four[1], one[1])
    report["train_loss"] = max(
        relative(a["train_loss"], b["train_loss"]) for a, b in zip(rows[1], rows[0], strict=True)
    )
    report["epochs"] = [len(r) for r in rows]
    return report


def bench_checks() -> dict:
    """`eqx-resnet bench --devices`'s parts: the counts, a step without a mesh and on 4 devices, the table."""
    from typer.testing import CliRunner

    from eqx_resnet.benchmarking import default_settings, measure, median
    from eqx_resnet.benchmarking.scaling import build_scaled, device_counts, scaled_record, scaling_markdown
    from eqx_resnet.cli import app

    settings = default_settings("cpu", smoke=True)
    records = []
    for devices in (None, DEVICES):
        workload = build_scaled("preact_resnet", settings, devices)
        times = measure({"step": workload.runner}, rounds=1, warmup=1)["step"]
        records.append(scaled_record(workload, median(times), min(times), devices))
    too_many = CliRunner().invoke(app, ["bench", "--devices", str(DEVICES + 1), "--smoke"])
    return {
        "counts": [device_counts(DEVICES), device_counts(3)],
        "records": records,
        "markdown": scaling_markdown(records),
        "too many": [too_many.exit_code, too_many.output],
    }


def main(tmp: str):
    assert jax.device_count() == DEVICES, jax.devices()
    print(json.dumps({"api": api_checks(), "cli": cli_checks(Path(tmp)), "bench": bench_checks()}))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    result = subprocess.run(
        [sys.executable, __file__, str(tmp)], capture_output=True, text=True, timeout=600, env=cpu_devices_env(DEVICES)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_the_python_api_on_four_devices_computes_what_one_device_does(report):
    api = report["api"]
    for layout in ("global", "per_device", "accumulate"):
        for what, error in api[layout].items():
            assert error < TOLERANCE, (layout, what, error)
    assert api["per_device_differs"] > 1e-4  # per-device statistics are not the global ones


def test_the_cli_on_four_devices_trains_as_one_device_and_resumes_on_two(report):
    cli = report["cli"]
    assert cli["exit"] == {"one": 0, "four": 0, "resumed on two": 0, "batch 66": 2}, cli["output"]
    assert "data-parallel over 4 devices" in cli["output"]["four"]
    assert "--batch-size 66 does not split over 4 devices: give a multiple of 4" in cli["output"]["batch 66"]
    assert cli["epochs"] == [2, 2]
    for what in ("params", "state", "train_loss"):
        assert cli[what] < TOLERANCE, (what, cli[what])


def test_bench_devices_reports_images_per_second_by_device_count(report):
    bench = report["bench"]
    assert bench["counts"] == [[None, 1, 2, 4], [None, 1, 2, 3]]
    no_mesh, four = bench["records"]
    assert (no_mesh["devices"], no_mesh["batch"], four["devices"], four["batch"]) == (0, 2, 4, 8)  # 2 images per device
    assert four["batch_per_device"] == 2 and four["images_per_s"] > 0 and four["compile_s"] > 0
    # XLA counts one device's share of a partitioned step: scaled back, the FLOPs per image agree.
    assert abs(four["flops_per_image"] / no_mesh["flops_per_image"] - 1) < 0.05
    assert (
        "| preact_resnet | fp32 | 2 | 1x28x28 |" in bench["markdown"]
        and "| no mesh img/s | 4 devices img/s |" in bench["markdown"]
    )
    assert (
        bench["too many"][0] == 1
        and "--devices 5: JAX sees 4 local device(s) here; give 1 to 4" in bench["too many"][1]
    )


def test_batches_that_do_not_split_are_refused():
    with pytest.raises(ConfigError, match="`batch_size=100` does not split into 3 micro-batches"):
        TrainConfig(batch_size=100, accumulate=3)
    with pytest.raises(ConfigError, match="`devices=2`: this process has 1 CPU device"):
        run_mesh(2, 64)
    assert run_mesh(None, 63) is None  # one device: no mesh at all
    with pytest.raises(ValueError, match="per-device statistics need .*axis_name='data'"):
        shard_train_step(make_train_step(optax.sgd(0.1)), data_mesh(), batch_stats="per_device")


def test_the_example_prints_the_same_losses_on_one_and_four_devices():
    runs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "examples" / "data_parallel.py")],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**cpu_devices_env(n), "JAX_THREEFRY_PARTITIONABLE": "0"},
        )
        for n in (1, DEVICES)
    ]
    outputs = [p.communicate(timeout=300) for p in runs]
    for p, (_, err) in zip(runs, outputs):
        assert p.returncode == 0, err[-3000:]
    losses = [
        [float(line.split("loss ")[1]) for line in out.splitlines() if line.startswith("step ")] for out, _ in outputs
    ]
    # Float rounding differs with the device count, and Adam's steps amplify it: the first steps agree closely.
    assert len(losses[0]) == 10 and np.allclose(losses[0][:5], losses[1][:5], rtol=1e-5, atol=1e-5), losses
    assert np.allclose(losses[0], losses[1], rtol=1e-2), losses
    assert losses[0][-1] < 0.9 * losses[0][0]
    assert "over 4 device(s)" in outputs[1][0]


if __name__ == "__main__":
    main(sys.argv[1])
