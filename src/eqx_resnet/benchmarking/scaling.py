"""Images per second of eqx-resnet's training step by device count: data parallelism's scaling.

Each measurement runs `settings.batch` images per device (the global batch grows with the
devices, as data-parallel training scales out), through `training.sharding.shard_train_step` on a
mesh of that many local devices. `devices=None` runs the plain step without any mesh, so the
table also shows what a mesh of one device costs against none.
"""

import dataclasses

import jax
from rich.table import Table

from .._create import create_model
from .._xla_cpu import compiler_options
from ..parameters import count_parameters
from ..training.sharding import data_mesh, replicate, shard_batch, shard_train_step
from .report import busy_host_warning, record
from .timing import describe_device, jax_runner
from .workloads import Settings, Workload, eqx_training, init_key, model_spec, synthetic_batch


def device_counts(devices: int) -> list[int | None]:
    """No mesh, then 1, 2, 4, ... devices up to `devices` (and `devices` itself)."""
    available = jax.local_device_count()
    if not 1 <= devices <= available:
        raise ValueError(f"`devices={devices}`: JAX sees {available} local device(s) here; give 1 to {available}")
    counts = [1 << k for k in range(devices.bit_length()) if 1 << k <= devices]
    return [None, *counts, *([devices] if devices not in counts else [])]


def build_scaled(model: str, settings: Settings, devices: int | None) -> Workload:
    """eqx-resnet's training step of `model` on `devices` local devices (`None`: no mesh),
    `settings.batch` images per device, compiled and ready to time."""
    spec = model_spec(model)
    count = devices or 1
    scaled = dataclasses.replace(settings, batch=settings.batch * count)
    images, labels = synthetic_batch(spec, scaled)
    net, state = create_model(spec.zoo, key=init_key(), **spec.options)
    mesh = None if devices is None else data_mesh(devices)
    train, carry = eqx_training(net, state, settings, None if mesh is None else lambda s: shard_train_step(s, mesh))
    inputs = (images, labels, jax.random.key(1))
    if mesh is None:
        carry, inputs = jax.device_put((carry, inputs), jax.devices()[0])
    else:
        carry, inputs = replicate(carry, mesh), (*shard_batch(inputs[:2], mesh), inputs[2])

    runner = jax_runner(
        train,
        carry,
        inputs,
        train=True,
        parameters=count_parameters(net),
        compiler_options=compiler_options(settings.platform),
    )
    # XLA's cost analysis of a partitioned step counts one device's share.
    runner = dataclasses.replace(runner, flops=runner.flops * count)
    return Workload(
        "eqx-resnet",
        model,
        "train",
        scaled,
        spec.input_shape(settings.resolution),
        describe_device(settings.platform),
        runner,
    )


def scaled_record(workload: Workload, median_s: float, min_s: float, devices: int | None) -> dict:
    """`report.record` of a scaled step, with its device count (0: no mesh) and batch per device."""
    count = devices or 1
    return {
        **record(workload, median_s, min_s),
        "devices": devices or 0,
        "batch_per_device": workload.settings.batch // count,
    }


def scaling_rows(records: list[dict]) -> list[dict]:
    """Per model and precision: images/s by device count (0: no mesh), and each count's efficiency,
    its images/s over the count times the one-device mesh's."""
    grouped: dict[tuple, dict] = {}
    for r in records:
        key = (r["model"], r["precision"], r["batch_per_device"], r["input"])
        row = grouped.setdefault(
            key, dict(zip(("model", "precision", "batch_per_device", "input"), key), images_per_s={})
        )
        row["images_per_s"][r["devices"]] = r["images_per_s"]
    for row in grouped.values():
        one = row["images_per_s"].get(1)
        row["efficiency"] = {n: v / (n * one) for n, v in row["images_per_s"].items() if n and one}
    return list(grouped.values())


def _counts(records: list[dict]) -> list[int]:
    return sorted({r["devices"] for r in records})


def _header(count: int) -> str:
    return "no mesh img/s" if count == 0 else f"{count} device{'s' if count > 1 else ''} img/s"


def _cells(row: dict, counts: list[int]) -> list[str]:
    speeds = row["images_per_s"]
    cells = [
        f"{speeds[n]:,.1f}" + (f" ({row['efficiency'][n]:.0%})" if n > 1 and n in row["efficiency"] else "")
        if n in speeds
        else "-"
        for n in counts
    ]
    return [row["model"], row["precision"], str(row["batch_per_device"]), row["input"], *cells]


def scaling_table(records: list[dict], title: str = "") -> Table:
    """The scaling table for a terminal: a column per device count, efficiency in brackets."""
    counts = _counts(records)
    table = Table("model", "precision", "batch per device", "input", *map(_header, counts), title=title or None)
    for row in scaling_rows(records):
        table.add_row(*_cells(row, counts))
    return table


def scaling_markdown(records: list[dict]) -> str:
    """The scaling table in Markdown, preceded by the device."""
    counts = _counts(records)
    headers = ["model", "precision", "batch per device", "input", *map(_header, counts)]
    warning = busy_host_warning(records)
    lines = [
        f"Device: {', '.join(sorted({r['device'] for r in records}))}; training step, images/s "
        "(efficiency: over the count times one device's)",
        *([warning] if warning else []),
        "",
    ]
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cells(row, counts)) + " |" for row in scaling_rows(records)]
    return "\n".join(lines) + "\n"
