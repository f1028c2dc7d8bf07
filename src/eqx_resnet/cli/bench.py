"""`eqx-resnet bench`: the benchmark suite as a script, with one side-by-side table."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from .app import app
from .console import console, stderr
from .train import PrecisionName

DeviceName = Enum("DeviceName", {n: n for n in ("cpu", "gpu")}, type=str)


def _depths(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated depths such as 18,50, got {text!r}") from None


@app.command("bench")
def bench_command(
    device: Annotated[Optional[DeviceName], typer.Option(help="Where to run. Default: JAX's default device.")] = None,
    depths: Annotated[Optional[str], typer.Option(help="Comma-separated ResNet depths, e.g. 18,50. Default: all on a GPU, 18,50 on a CPU.")] = None,
    batch: Annotated[Optional[int], typer.Option(min=1, help="Images per step. Default: 256 on a GPU, 8 on a CPU.")] = None,
    resolution: Annotated[Optional[int], typer.Option(min=32, help="Input size of the ImageNet ResNets. Default: 224 on a GPU, 128 on a CPU.")] = None,
    precision: Annotated[Optional[PrecisionName], typer.Option(help="fp32, or bf16 compute. Default: bf16 on a GPU, fp32 on a CPU.")] = None,
    steps: Annotated[Optional[int], typer.Option(min=1, help="Timed steps per measurement (after warm-up); the median is reported.")] = None,
    smoke: Annotated[bool, typer.Option(help="Tiny run: batch 2, resnet18 at 32x32 and preact_resnet, one step.")] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write every measurement and the table's rows as JSON.")] = None,
    markdown_out: Annotated[Optional[Path], typer.Option("--markdown", help="Write the table as Markdown.")] = None,
):
    """Time inference and training steps of the zoo against Flax and PyTorch on the same data.

    Each row is one model and step at one batch, input and precision. A framework's
    images per second come from the median of timed steps after compilation and warm-up;
    the last columns are eqx-resnet's speed over the fastest peer's and its compile time.
    Peers that are not installed are skipped: install them with the `peers` extra.
    """
    from ..benchmarking import (
        FRAMEWORKS, STEPS, BenchmarkError, build_workload, busy_host_warning, default_settings, jax_platform, markdown,
        measure, median, peer_missing, record, rich_table, write_json,
    )

    try:
        settings = default_settings(
            device.value if device else jax_platform(), smoke=smoke, batch=batch, resolution=resolution,
            depths=_depths(depths), precision=precision.value if precision else None, rounds=steps,
        )
        available = []
        for framework in FRAMEWORKS:
            if reason := peer_missing(framework, settings.platform):
                stderr.print(f"skipping {framework}: {escape(reason)}")
            else:
                available.append(framework)
        records = []
        for model in settings.models:
            for step in STEPS:
                with stderr.status(f"{model} {step}: building, compiling and timing {', '.join(available)}"):
                    row = [build_workload(framework, model, step, settings) for framework in available]
                    times = measure({w.label: w.runner for w in row}, rounds=settings.rounds, warmup=settings.warmup)
                for w in row:
                    records.append(record(w, median(times[w.label]), min(times[w.label])))
                    stderr.print(f"{w.label}: {records[-1]['images_per_s']:,.1f} img/s, compiled in {w.runner.compile_s:.1f} s")
                del row, w  # free this row's models and compiled steps before the next
    except (BenchmarkError, ValueError) as e:
        stderr.print(f"[bold red]error:[/] {escape(str(e))}")
        raise typer.Exit(1) from None
    console().print(rich_table(records, title=f"images/s on {records[0]['device']}" if records else ""))
    if warning := busy_host_warning(records):
        stderr.print(warning)
    if json_out:
        write_json(records, json_out)
    if markdown_out:
        markdown_out.write_text(markdown(records))
