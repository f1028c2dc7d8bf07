"""`eqx-resnet train`: an option per field of `TrainConfig` (cli/options.py builds them from the fields), and the
options of the run itself: where it lives, how it is shown, how its processes join."""

import inspect
import json
import os
from pathlib import Path
from typing import Annotated, Literal, Optional, get_args, get_origin

import jax
import typer
from beartype import BeartypeConf
from beartype.door import is_bearable
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..models import get_builder, list_models
from ..training import ConfigError, TrainConfig, train
from ..training.config import RESUME_FROM
from ..training.distributed import (
    HEARTBEAT_TIMEOUT_S,
    JOIN_TIMEOUT_S,
    exit_at_once_on_error,
    initialize_distributed,
    is_process_zero,
)
from .app import app
from .console import console, errors, stderr
from .options import DatasetName, choices, data_dir_option, json_option, with_settings

ResumeFromName = choices("ResumeFromName", RESUME_FROM)
CACHE_ENV = "EQX_RESNET_COMPILATION_CACHE"


def default_cache_dir() -> Path:
    """JAX's persistent compilation cache for `train`: $EQX_RESNET_COMPILATION_CACHE, else
    $XDG_CACHE_HOME/eqx-resnet/jax (default ~/.cache/eqx-resnet/jax)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "eqx-resnet" / "jax"


def parse_model_options(items: list[str]) -> dict:
    """`["widths=[16,32,64]", "stem=cifar"]` -> `{"widths": [16, 32, 64], "stem": "cifar"}`: each value read as JSON,
    else as text, and checked against the type the zoo's builders give its keyword."""
    keywords = _builder_keywords()
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"-o {item}: expected KEY=VALUE, such as -o widths=[16,32,64] or -o stem=cifar")
        if key not in keywords:
            raise ConfigError(f"-o {item}: no model takes {key}; the options: {', '.join(sorted(keywords))}")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        if not any(_fits(value, p.annotation) for p in keywords[key]):
            raise ConfigError(f"-o {item}: {_expected(keywords[key][0])}")
        options[key] = value
    return options


def _builder_keywords() -> dict[str, list[inspect.Parameter]]:
    """Each keyword argument of the zoo's builders but the key, with its parameter in every builder that takes it."""
    keywords = {}
    for name in list_models():
        for parameter in inspect.signature(get_builder(name)).parameters.values():
            if parameter.name != "key":
                keywords.setdefault(parameter.name, []).append(parameter)
    return keywords


_INT_IS_FLOAT = BeartypeConf(is_pep484_tower=True)  # -o dropout=1 is a float


def _fits(value, hint) -> bool:
    """Whether `value` has type `hint`; the items of a list one by one (beartype checks one item of a container)."""
    items = [[v] for v in value] if isinstance(value, list) else []
    return all(is_bearable(v, hint, conf=_INT_IS_FLOAT) for v in [value, *items])


def _expected(parameter: inspect.Parameter) -> str:
    """What -o KEY= takes, with an example from the default: `one of imagenet, cifar`, `Sequence[int] ...`."""
    hint, default = parameter.annotation, parameter.default
    if get_origin(hint) is Literal:
        return f"{parameter.name} takes one of {', '.join(map(str, get_args(hint)))}"
    name = hint.__name__ if isinstance(hint, type) else str(hint).replace("collections.abc.", "")
    example = default if isinstance(default, str) else json.dumps(default, separators=(",", ":"))
    return f"{parameter.name} takes {name} (read as JSON), such as -o {parameter.name}={example}"


@app.command("train")
@with_settings(after="model_option")
def train_command(
    ctx: typer.Context,
    dataset: Annotated[DatasetName, typer.Argument(help="Dataset to train on.")],
    model_option: Annotated[
        Optional[list[str]],
        typer.Option(
            "--model-option",
            "-o",
            metavar="KEY=VALUE",
            help="A constructor option of the model, repeatable: -o widths=[16,32,64] -o stem=cifar (the keyword arguments of the model's builder, e.g. help(eqx_resnet.resnet18)).",
        ),
    ] = None,
    data_dir: data_dir_option("./data, or the resumed run's own.") = None,
    out: Annotated[
        Optional[Path],
        typer.Option(help="Run directory for checkpoints (last/, best/) and metrics.jsonl. Default: runs/DATASET."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the run in --out from its last checkpoint, with its saved settings; options given apply, except those that define the run (dataset, model, optimizer, batch size, seed, ...: the docs' Command line page lists them), which are refused."
        ),
    ] = False,
    resume_from: Annotated[
        ResumeFromName,
        typer.Option(
            help="With --resume: last continues exactly where the run stopped; best continues from best/'s weights and statistics, at its epoch, with a fresh optimiser state (best/ holds none): for a last/ that is damaged."
        ),
    ] = ResumeFromName("last"),
    compilation_cache: Annotated[
        Optional[Path],
        typer.Option(
            help=f"JAX's persistent compilation cache: a second run of the same command skips compiling. Default: ${CACHE_ENV}, else ~/.cache/eqx-resnet/jax."
        ),
    ] = None,
    no_compilation_cache: Annotated[
        bool, typer.Option("--no-compilation-cache", help="Compile afresh, without the persistent cache.")
    ] = False,
    json_output: json_option("Print the final metrics as one JSON object instead of text.") = False,
    coordinator: Annotated[
        Optional[str],
        typer.Option(
            metavar="HOST:PORT",
            help="Train in several processes (hosts): process 0's address, reachable from all, with --num-processes and --process-id; or auto: found from SLURM, Open MPI or a TPU slice. Only process 0 writes and prints.",
        ),
    ] = None,
    num_processes: Annotated[
        Optional[int], typer.Option(min=1, help="With --coordinator: the number of processes of the run.")
    ] = None,
    process_id: Annotated[
        Optional[int],
        typer.Option(min=0, help="With --coordinator: this process's number, 0 to N-1 (0 serves the coordinator)."),
    ] = None,
    join_timeout: Annotated[
        float,
        typer.Option(
            min=1.0,
            metavar="SECONDS",
            help="With --coordinator: seconds for every process to join before the run fails.",
        ),
    ] = JOIN_TIMEOUT_S,
    heartbeat_timeout: Annotated[
        float,
        typer.Option(
            min=1.0,
            metavar="SECONDS",
            help="With --coordinator: a process silent this long is taken for dead, and the run ends in every process.",
        ),
    ] = HEARTBEAT_TIMEOUT_S,
    **settings,
):
    """Train a model; print the final test (or, with --val-fraction, held-out) accuracy as the last line.

    Evaluates on the test split after every epoch, keeps checkpoints of the last
    and the best epoch, and appends each epoch's metrics to RUN_DIR/metrics.jsonl.
    """
    with (
        exit_at_once_on_error(),
        errors(
            "interrupted at once, no checkpoint half-written: continue with --resume if --out holds last/, else start again"
        ),
    ):
        config = TrainConfig(
            dataset=dataset.value,
            model_options=parse_model_options(model_option) if model_option else None,
            **{name: getattr(value, "value", value) for name, value in settings.items()},  # a choice's name
        )
        if coordinator is not None or num_processes is not None or process_id is not None:
            initialize_distributed(
                coordinator, num_processes, process_id, join_timeout=join_timeout, heartbeat_timeout=heartbeat_timeout
            )
        # The settings typed on the command line: on --resume, these change the saved run.
        given = {
            name: getattr(config, name)
            for name in ("dataset", *settings)
            if ctx.get_parameter_source(name).name != "DEFAULT"
        }
        if model_option:
            given["model_options"] = config.model_options
        if not no_compilation_cache:
            _enable_compilation_cache(compilation_cache or default_cache_dir())
        run_dir = out or Path("runs") / config.dataset
        quiet = not is_process_zero()  # of several processes, process 0 reports
        result = _train_with_progress(config, run_dir, data_dir, resume, resume_from.value, given, json_output or quiet)
    if quiet:
        return
    final = {**result.final, "model": result.config.model, "dataset": result.config.dataset, "run_dir": str(run_dir)}
    if json_output:
        print(json.dumps(final))
    else:
        console().print(f"checkpoints in {run_dir}/best and {run_dir}/last")
        split = "test" if result.config.val_fraction is None else "held-out"  # as `eval` names it
        console().print(f"{split} accuracy: {final['test_acc']:.2%}")


def _enable_compilation_cache(path: Path) -> None:
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Cache every step function, however quickly it compiled: the warm start is the point.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def _train_with_progress(config, run_dir, data_dir, resume, resume_from, given, json_output):
    progress = Progress(
        TextColumn("epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TextColumn("{task.fields[rates]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=json_output,
    )
    with progress:
        task = progress.add_task("train", total=None, epoch=0, loss=float("nan"), rates="")

        def show(event: dict) -> None:
            if json_output:
                return
            if event["event"] == "start":
                options = ", ".join(f"{k}={v!r}" for k, v in event["model_options"].items())
                progress.console.print(f"model {event['model']}({options}): {event['parameters']:,} parameters")
                if event["step"]:
                    changed = "".join(f", {k} now {v!r}" for k, v in event["changed"].items())
                    fresh = (
                        " from best/'s weights with a fresh optimiser state (best/ holds none)"
                        if event["resumed_from"] == "best"
                        else ""
                    )
                    progress.console.print(
                        f"resuming after epoch {event['epoch']}, step {event['step']}{fresh}{changed}"
                    )
                if event["devices"] > 1 or event["processes"] > 1:
                    progress.console.print(
                        f"data-parallel over {event['devices']} devices"
                        + (f" of {event['processes']} processes" if event["processes"] > 1 else "")
                    )
            elif event["event"] == "notice":
                progress.console.print(event["message"])
            elif event["event"] == "steps":
                # Streamed data: which of the loader and the step is the bottleneck.
                rates = (
                    f"loader {event['loader_images_per_s']:.0f} img/s, step {event['step_images_per_s']:.0f} img/s"
                    if "loader_images_per_s" in event
                    else ""
                )
                progress.update(
                    task,
                    completed=event["step"],
                    total=event["steps"],
                    epoch=event["epoch"],
                    loss=event["loss"],
                    rates=rates,
                )
            else:
                progress.console.print(
                    f"epoch {event['epoch']:3d}  train loss {event['train_loss']:.4f} acc {event['train_acc']:.2%}  "
                    f"test loss {event['test_loss']:.4f} acc {event['test_acc']:.2%}  "
                    f"{event['images_per_s']:.0f} img/s  {event['epoch_time_s']:.1f} s"
                )

        return train(
            config, run_dir, data_dir=data_dir, resume=resume, resume_from=resume_from, given=given, on_progress=show
        )
