"""Options that several commands share, and one option per field of `TrainConfig` for `train`.

A setting's option is what typer names its field: `--` and the name with dashes (`batch_size`: --batch-size;
a bool also --no-...), so that the option of any library argument follows from the argument's name. Its type,
default, bounds, choices and help are the field's (`training/config.py`), and the defaults `with_defaults`
gives per dataset and device are read from its table into the help.
"""

import dataclasses
import inspect
import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, get_args, get_origin

import typer

from ..data import DATASETS
from ..models.forward import PRECISIONS
from ..training import TrainConfig
from ..training.config import BASE, dataset_defaults, field_type


def choices(name: str, values) -> type[Enum]:
    """A typer choice of the names `values`."""
    return Enum(name, {v: v for v in values}, type=str)


DatasetName = choices("DatasetName", DATASETS)
PrecisionName = choices("PrecisionName", PRECISIONS)

_DATA_DIR_HELP = (
    "Where datasets live (DATA_DIR/mnist/...); missing files are downloaded there. imagefolder, imagenet: "
    "the folder holding train/<class>/ and val/<class>/ (or DATA_DIR/imagenet/), or a Hugging Face dataset: "
    "hf:ORG/NAME on the Hub, or a folder of parquet files or of save_to_disk's (pip install 'eqx-resnet[hf]')."
)


def data_dir_option(default: str):
    """--data-dir, where the command's `default` (`"the run's own."`) is taken when it is left out."""
    return Annotated[Optional[Path], typer.Option(help=f"{_DATA_DIR_HELP} Default: {default}")]


# predict's and convert's published weights, and the architecture they are for.
_WEIGHTS_HELP = "imagenet (the best set of --model), a tag (tv_in1k), a full name (resnet50.a1_in1k), or a torchvision-named .safetensors/.pth/.npz file (`eqx-resnet models --weights` lists the sets)."
WeightsModelOption = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        help="The architecture of the weights, e.g. resnet50 (implied by a full name such as resnet50.a1_in1k).",
    ),
]


def weights_help(use: str = "") -> str:
    """The help of a weights argument or option: what it takes, after `use` (what the command does with them)."""
    return f"{use}{_WEIGHTS_HELP}"


def json_option(help: str):
    """--json: the command's output as JSON, as `help` says, instead of text."""
    return Annotated[bool, typer.Option("--json", help=help)]


def with_settings(*, after: str, leave_out: tuple[str, ...] = ("dataset", "model_options")):
    """Give the decorated command, after its parameter `after`, an option per field of `TrainConfig` but those
    of `leave_out` (the command takes them otherwise); it receives them as keyword arguments named as the fields.
    A field added to `TrainConfig` becomes an option with nothing to add here."""

    def decorate(command):
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        at = [p.name for p in own].index(after) + 1
        settings = [_option(f) for f in dataclasses.fields(TrainConfig) if f.name not in leave_out]
        command.__signature__ = signature.replace(parameters=[*own[:at], *settings, *own[at:]])
        return command

    return decorate


def _option(field: dataclasses.Field) -> inspect.Parameter:
    """The field's option, as a parameter of the command's signature for typer to read."""
    kind, meta = field_type(field), field.metadata
    values = meta["choices"]() if meta.get("choices") else get_args(kind) if get_origin(kind) is Literal else None
    if values:
        kind = choices(field.name, values)
    default = field.default if field.default is None or not values else kind(field.default)
    bounds = meta.get("bounds", {})  # as closed ranges: an open end (momentum < 1) is TrainConfig's to refuse
    option = typer.Option(min=bounds.get("low"), max=bounds.get("high"), metavar=meta.get("metavar"), help=_help(field))
    annotation = Annotated[kind if default is not None else Optional[kind], option]
    return inspect.Parameter(
        field.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation
    )


def _help(field: dataclasses.Field) -> str:
    """The field's help, each setting it names as its option, and what it defaults to per dataset."""
    words = re.sub(r"`(\w+)(=False)?`", lambda m: _flag(m[1], negated=bool(m[2])), field.metadata.get("help", ""))
    return " ".join(t for t in (words, defaults_text(field.name)) if t)


def _flag(name: str, negated: bool = False) -> str:
    """The option of the parameter `name`, as typer names it: `batch_size` is --batch-size, negated --no-batch-size."""
    return f"--{'no-' if negated else ''}{name.replace('_', '-')}"


_ON = {"cpu": " on a CPU", "accelerator": " on an accelerator", None: ""}


def defaults_text(name: str) -> str | None:
    """What `with_defaults` gives the setting `name` left out, from its table: `Default: per dataset and device
    (fp32; bf16 for imagefolder, imagenet on an accelerator).`; `None` for a setting it does not fill."""
    where: dict[str, list[tuple[str, str | None]]] = {}  # each value shown, and the datasets (and devices) it is for
    for dataset in DATASETS:
        on = {device: _shown(name, dataset_defaults(dataset, device)) for device in ("cpu", "accelerator")}
        devices = [None] if on["cpu"] == on["accelerator"] else list(on)
        for device in devices:
            where.setdefault(on[device or "cpu"], []).append((dataset, device))
    base = _shown(name, BASE)
    if set(where) <= {base}:
        return None if base is None else f"Default: {base}."
    others = [_for(value, places) for value, places in where.items() if value not in (base, None)]
    by = (
        " and device" if any(device for value, places in where.items() for _, device in places if value != base) else ""
    )
    return f"Default: per dataset{by} ({'; '.join(([base] if base is not None else []) + others)})."


def _for(value: str, places: list[tuple[str, str | None]]) -> str:
    """`bf16 for imagefolder, imagenet on an accelerator`: the device once where every place has the same."""
    devices = {device for _, device in places}
    if len(devices) == 1:
        return f"{value} for {', '.join(dataset for dataset, _ in places)}{_ON[devices.pop()]}"
    return f"{value} for {', '.join(dataset + _ON[device] for dataset, device in places)}"


def _shown(name: str, defaults: dict[str, Any]) -> str | None:
    """The default of `name` in `defaults` as the help shows it: yes/no, 0.001, `0.1 per 256 images of batch`."""
    if name == "lr" and "lr_per_256" in defaults:
        return f"{defaults['lr_per_256']:g} per 256 images of batch"
    value = defaults.get(name)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:g}" if isinstance(value, float) else None if value is None else str(value)
