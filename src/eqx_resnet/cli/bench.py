"""`eqx-resnet bench`: the benchmark suite as a script, with one side-by-side table and a chart."""

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..benchmarking import (
    FRAMEWORKS,
    STEPS,
    BenchmarkError,
    build_workload,
    busy_host_warning,
    default_settings,
    jax_platform,
    markdown,
    measure,
    median,
    peer_missing,
    record,
    rich_table,
    share_gpu_memory,
    unknown_models,
    write_json,
)
from ..benchmarking.plot import by_depth, plot, pyplot, read_records
from ..benchmarking.scaling import (
    build_scaled,
    device_counts,
    scaled_record,
    scaling_markdown,
    scaling_rows,
    scaling_table,
)
from .app import app
from .console import console, error, errors, stderr
from .options import PrecisionName, choices

DeviceName = choices("DeviceName", ("cpu", "gpu"))


def _depths(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(d) for d in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated depths such as 18,50, got {text!r}") from None


def _models(text: str | None) -> tuple[str, ...] | None:
    """--models' names; an unknown one is a usage error."""
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(","))
    if unknown := unknown_models(names):
        error(
            f"unknown model {unknown[0]!r} in --models: choose names that `eqx-resnet models` lists, or resnet18_cifar",
            2,
        )
    return names


def available_frameworks(platform: str) -> list[str]:
    """The frameworks that can run on `platform`; each one skipped is reported on stderr with the reason."""
    available = []
    for framework in FRAMEWORKS:
        if reason := peer_missing(framework, platform):
            stderr.print(f"skipping {framework}: {escape(reason)}")
        else:
            available.append(framework)
    return available


def measure_rows(settings, frameworks: list[str], steps: tuple[str, ...] | None = None) -> Iterator[list[dict]]:
    """Build, compile and time each model of `settings` and each step, the frameworks side by side:
    yields one row's records (one per framework) at a time, so a caller can stop between rows.
    A framework without a peer of a model is left out of its rows, the reason on stderr."""
    for model in settings.models:
        here = []
        for framework in frameworks:
            if reason := peer_missing(framework, settings.platform, model):
                stderr.print(f"skipping {framework} for {model}: {escape(reason)}")
            else:
                here.append(framework)
        for step in steps or STEPS:
            with stderr.status(f"{model} {step}: building, compiling and timing {', '.join(here)}"):
                row = [build_workload(framework, model, step, settings) for framework in here]
                times = measure({w.label: w.runner for w in row}, rounds=settings.rounds, warmup=settings.warmup)
            records = [record(w, median(times[w.label]), min(times[w.label])) for w in row]
            for r, w in zip(records, row):
                stderr.print(f"{w.label}: {r['images_per_s']:,.1f} img/s, compiled in {r['compile_s']:.1f} s")
            del row, w  # free this row's models and compiled steps before the next
            yield records


@app.command("bench")
def bench_command(
    device: Annotated[Optional[DeviceName], typer.Option(help="Where to run. Default: JAX's default device.")] = None,
    depths: Annotated[
        Optional[str],
        typer.Option(help="Comma-separated ResNet depths, e.g. 18,50. Default: all on a GPU, 18,50 on a CPU."),
    ] = None,
    models: Annotated[
        Optional[str],
        typer.Option(
            help="Instead of --depths: exactly the models to run, comma-separated names from `eqx-resnet models`, e.g. resnet50d,seresnext26t_32x4d (and resnet18_cifar)."
        ),
    ] = None,
    batch: Annotated[
        Optional[int], typer.Option(min=1, help="Images per step. Default: 256 on a GPU, 8 on a CPU.")
    ] = None,
    resolution: Annotated[
        Optional[int],
        typer.Option(min=32, help="Input size of the ImageNet ResNets. Default: 224 on a GPU, 128 on a CPU."),
    ] = None,
    precision: Annotated[
        Optional[PrecisionName], typer.Option(help="fp32, or bf16 compute. Default: bf16 on a GPU, fp32 on a CPU.")
    ] = None,
    steps: Annotated[
        Optional[int], typer.Option(min=1, help="Timed steps per measurement (after warm-up); the median is reported.")
    ] = None,
    smoke: Annotated[
        bool, typer.Option(help="Tiny run: batch 2, resnet18 at 32x32 and preact_resnet (or --models), one step.")
    ] = False,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Write every measurement and the table's rows as JSON.")
    ] = None,
    markdown_out: Annotated[Optional[Path], typer.Option("--markdown", help="Write the table as Markdown.")] = None,
    plot_out: Annotated[
        Optional[Path],
        typer.Option(
            "--plot",
            help="Draw images/s by ResNet depth for each framework, training and inference side by side, device and date in the title, as a PNG (needs matplotlib: the `plot` extra).",
        ),
    ] = None,
    from_json: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--from-json",
            help="Measure nothing: show the records of earlier --json files (or gpu_check's JSON) again, for --plot or --markdown. Repeat it to join runs.",
        ),
    ] = None,
    devices: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            metavar="N",
            help="Instead of the frameworks side by side: eqx-resnet's training step data-parallel on 1, 2, 4, ... N local devices, --batch images per device, and without a mesh (what a mesh of one costs).",
        ),
    ] = None,
):
    """Time inference and training steps of the zoo against Flax and PyTorch on the same data.

    Each row is one model and step at one batch, input and precision. A framework's
    images per second come from the median of timed steps after compilation and warm-up;
    the last columns are eqx-resnet's speed over the fastest peer's and its compile time.
    Peers that are not installed are skipped: install them with the `peers` extra.
    `eqx-resnet bench --plot chart.png --from-json results.json` charts an earlier run.
    """
    share_gpu_memory()  # before default_settings starts JAX's backend
    given = {
        "--device": device,
        "--depths": depths,
        "--models": models,
        "--batch": batch,
        "--resolution": resolution,
        "--precision": precision,
        "--steps": steps,
        "--smoke": smoke or None,
    }
    if from_json and (clash := [name for name, value in given.items() if value is not None]):
        error(f"--from-json shows an earlier run and measures nothing: leave out {', '.join(clash)}", 2)
    if depths is not None and models is not None:
        error("--models names every model of the run: leave out --depths (give resnet50 as a name)", 2)
    names = _models(models)
    if plot_out and names is not None and not any(map(by_depth, names)):
        error(
            "--plot draws images/s by ResNet depth: add a ResNet such as resnet50 to --models, or leave out --plot", 2
        )
    if devices is not None and (plot_out or from_json):
        error("--devices measures eqx-resnet's training step by device count: leave out --plot and --from-json", 2)
    # The benchmark's own failures are run-time errors; anything else is reported as a bug.
    with errors():
        try:
            if plot_out:
                pyplot()  # a missing matplotlib fails now, not after the measurements
            if from_json:
                runs = [read_records(path) for path in from_json]
                records, date = [r for run, _ in runs for r in run], ", ".join(dict.fromkeys(d for _, d in runs))
            else:
                settings = default_settings(
                    device.value if device else jax_platform(),
                    smoke=smoke,
                    batch=batch,
                    resolution=resolution,
                    depths=_depths(depths),
                    models=names,
                    precision=precision.value if precision else None,
                    rounds=steps,
                )
                if devices is not None:
                    return _scaling(settings, devices, json_out, markdown_out)
                frameworks = available_frameworks(settings.platform)
                records = [r for row in measure_rows(settings, frameworks) for r in row]
                date = datetime.date.today().isoformat()
            console().print(rich_table(records, title=f"images/s on {records[0]['device']}" if records else ""))
            if warning := busy_host_warning(records):
                stderr.print(warning)
            if json_out:
                write_json(records, json_out)
            if markdown_out:
                markdown_out.write_text(markdown(records))
            if plot_out:
                stderr.print(f"wrote {plot(records, plot_out, date=date)}")
        except (BenchmarkError, ValueError, ImportError) as e:
            error(str(e), 1)


def _scaling(settings, devices: int, json_out: Path | None, markdown_out: Path | None) -> None:
    """`bench --devices N`: each model's training step without a mesh and on 1, 2, 4, ... N devices,
    timed round by round in turn, so that a busy spell slows every count alike."""
    counts, records = device_counts(devices), []
    for model in settings.models:
        with stderr.status(
            f"{model} training step on {', '.join(str(n or 'no mesh') for n in counts)} device(s): "
            "building, compiling and timing"
        ):
            workloads = {n: build_scaled(model, settings, n) for n in counts}
            times = measure(
                {str(n): w.runner for n, w in workloads.items()}, rounds=settings.rounds, warmup=settings.warmup
            )
        for n, workload in workloads.items():
            records.append(scaled_record(workload, median(times[str(n)]), min(times[str(n)]), n))
            stderr.print(
                f"{model} train on {f'{n} device(s)' if n else 'no mesh'}: {records[-1]['images_per_s']:,.1f} img/s, "
                f"compiled in {records[-1]['compile_s']:.1f} s"
            )
        del workloads, workload  # free this model's steps before the next
    console().print(scaling_table(records, title=f"training images/s by device count on {records[0]['device']}"))
    if warning := busy_host_warning(records):
        stderr.print(warning)
    if json_out:
        write_json(records, json_out, scaling_rows)
    if markdown_out:
        markdown_out.write_text(scaling_markdown(records))
