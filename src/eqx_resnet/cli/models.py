"""`eqx-resnet models` and `eqx-resnet summary`: what the zoo holds, and what one model looks like.

Models are built under `eqx.filter_eval_shape`: shapes only, so even
Wide ResNet-50-2 is listed without allocating its 69 million parameters.
"""

import functools
import re
from enum import StrEnum
from typing import Annotated, NoReturn, Optional

import equinox as eqx
import jax
import typer
from rich.table import Table

from .._messages import first_line
from ..data.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from ..models.registry import describe, get_builder, list_models
from ..parameters import count_batch_stats, count_parameters
from ..summary import format_summary, summarize
from ..weights import DEFAULT, RESULTS_SOURCE, list_pretrained
from .app import app
from .console import console, error


class StemName(StrEnum):
    imagenet = "imagenet"
    cifar = "cifar"


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit status 2 (a usage error, as click's)."""
    error(message, 2)


def _build(name: str, **options):
    """The abstract `(model, state)` of `name` with the options that were given."""
    try:
        builder = get_builder(name)
    except ValueError as err:  # the registry's own message, with the known names
        _fail(str(err))
    given = {key: value for key, value in options.items() if value is not None}
    try:
        return eqx.filter_eval_shape(builder, key=jax.random.key(0), **given)
    except (TypeError, ValueError) as err:
        settings = ", ".join(f"{key}={value!r}" for key, value in given.items())
        reason = first_line(err)
        _fail(f"cannot build {name} with {settings}: {reason}")


def _parse_shape(text: str) -> tuple[int, int, int]:
    """`"3,32,32"` (or `"3x32x32"`) -> `(3, 32, 32)`."""
    parts = re.split(r"[,x]", text.replace(" ", ""))
    if len(parts) != 3 or not all(part.isdigit() and int(part) > 0 for part in parts):
        _fail(f"--input-shape takes one example's channels, height and width as C,H,W (e.g. 3,32,32), got {text!r}")
    return tuple(map(int, parts))


@app.command("models")
def models_command(
    names_only: Annotated[
        bool, typer.Option("--names-only", help="Print only the names, one per line (for scripts).")
    ] = False,
    weights: Annotated[
        bool,
        typer.Option(
            "--weights",
            help="List the published ImageNet weight sets instead, with their accuracy, preprocessing and licence.",
        ),
    ] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the table as Markdown (the documentation's tables).")
    ] = False,
):
    """List the models `--model` and `summary` accept, with their size, natural input and pretrained weights.

    Everything comes from each architecture's description (`eqx_resnet.describe`). Parameters
    and BatchNorm statistics are counted at each model's default number of classes and input
    channels.
    """
    if names_only:
        for name in list_models():
            typer.echo(name)
        return
    title, headers, rows = _weights_table() if weights else _models_table()
    if markdown:
        typer.echo(f"| {' | '.join(headers)} |\n|{'---|' * len(headers)}")
        for row in rows:
            typer.echo(f"| {' | '.join(row)} |")
        return
    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="right" if header in _NUMBERS else "left")
    for row in rows:
        table.add_row(*(cell.replace("`", "") for cell in row))
    console().print(table)


_NUMBERS = ("parameters", "BN statistics", "top-1 %")


def _models_table() -> tuple[str, list[str], list[list[str]]]:
    headers = ["name", "parameters", "BN statistics", "input (c, h, w)", "stages (channels/reduction)", "weights"]
    return "eqx-resnet models", [*headers, "description"], _model_rows(tuple(list_models()))


@functools.cache  # building 80 models takes seconds; the table and the docs' table ask for the same rows
def _model_rows(names: tuple[str, ...]) -> list[list[str]]:
    rows = []
    for name in names:
        model, state = _build(name)
        description = describe(name)
        summary = (description.builder.__doc__ or "").strip().splitlines()[0]
        stages = ", ".join(f"{f.module} {f.channels}/{f.reduction}" for f in description.features) or "-"
        tags = ", ".join(w.tag for w in description.weights) or "-"
        rows.append(
            [
                f"`{name}`",
                f"{count_parameters(model):,}",
                f"{count_batch_stats(state):,}",
                "x".join(map(str, description.input_size)),
                stages,
                tags,
                summary,
            ]
        )
    return rows


def _weights_table() -> tuple[str, list[str], list[list[str]]]:
    rows = []
    for w in list_pretrained():
        pre = w.preprocessing
        imagenet = (pre.mean, pre.std) == (IMAGENET_MEAN, IMAGENET_STD)
        stats = "" if imagenet else f", mean {_numbers(pre.mean)} std {_numbers(pre.std)}"
        rows.append(
            [
                f"`{w.name}`",
                "yes" if describe(w.model).weights[0] is w else "",
                "not published" if w.top1 is None else f"{w.top1:.3f}",
                f"{pre.resize_size} -> {pre.crop_size}, {pre.interpolation}{stats}",
                f"{w.license} (non-commercial)" if w.non_commercial else w.license or "not stated",
            ]
        )
    title = f"pretrained ImageNet weights (top-1: {RESULTS_SOURCE})"
    return title, ["weights", DEFAULT, "top-1 %", "preprocessing (resize -> crop)", "licence"], rows


def _numbers(values: tuple[float, ...]) -> str:
    return "/".join(f"{v:g}" for v in values)


@app.command("summary")
def summary_command(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Model name, as listed by `eqx-resnet models`.", show_default=False)
    ],
    input_shape: Annotated[
        Optional[str],
        typer.Option(metavar="C,H,W", help="One example's shape, channels first. Default: the model's natural input."),
    ] = None,
    num_classes: Annotated[
        Optional[int], typer.Option(min=1, help="Classes of the head. Default: the model's own.")
    ] = None,
    in_channels: Annotated[
        Optional[int],
        typer.Option(min=1, help="Input channels. Default: those of --input-shape, else the model's own."),
    ] = None,
    stem: Annotated[
        Optional[StemName], typer.Option(help="ResNets only: imagenet (7x7/2 conv + max-pool) or cifar (3x3/1 conv).")
    ] = None,
    depth: Annotated[
        Optional[int], typer.Option(min=1, help="Show only rows this deep: 1 for the top-level layers and blocks.")
    ] = None,
):
    """Print NAME layer by layer: each layer's input and output shape, parameters and BatchNorm statistics.

    Shapes come from tracing the model on the input shape (nothing is allocated or computed).

    Example: eqx-resnet summary resnet18 --input-shape 3,32,32 --stem cifar --num-classes 10
    """
    shape = None if input_shape is None else _parse_shape(input_shape)
    if in_channels is None and shape is not None:
        in_channels = shape[0]
    model, state = _build(
        name, num_classes=num_classes, in_channels=in_channels, stem=None if stem is None else stem.value
    )
    try:
        rows = summarize(model, state, shape)
    except ValueError as err:
        _fail(str(err))
    console().print(format_summary(rows, title=f"{name} summary", max_depth=depth))
