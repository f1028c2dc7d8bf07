"""`eqx-resnet convert` and `eqx-resnet fetch-weights`: published or PyTorch weights as eqx-resnet checkpoints."""

import contextlib
import os
from pathlib import Path
from typing import Annotated

import jax
import typer

from ..data.imagenet import IMAGENET_CLASSES, IMAGENET_PREPROCESSING
from ..models import get_builder
from ..parameters import count_parameters
from ..training import CheckpointError, RunMetadata, save_checkpoint
from ..training.checkpoint import checkpoint_exists
from ..training.lock import LOCK_FILE, RunLock
from ..weights import PRETRAINED, create_pretrained, head_name, prefetch_weights
from .app import app
from .console import UsageError, console, errors
from .options import WeightsModelOption, weights_help


def _split(weights: str, model: str | None) -> tuple[str, str]:
    """The architecture and the weights: `("resnet50", "a1_in1k")` from `--model resnet50 --weights a1_in1k`
    or from `resnet50.a1_in1k` alone."""
    if model is None and weights in PRETRAINED:
        return PRETRAINED[weights].model, weights
    if model is None:
        raise UsageError(f"say which architecture {weights!r} is for: add --model (e.g. --model resnet50)")
    try:
        get_builder(model)
    except ValueError as e:  # the registry's own message, with the known names
        raise UsageError(str(e)) from None
    return model, weights


def pretrained_run(weights: str, model: str | None, **options):
    """`(model, state, RunMetadata)` of a published weight set or a weights file, as a converted checkpoint holds them."""
    name, weights = _split(weights, model)
    model_, state, info = create_pretrained(name, weights, key=jax.random.key(0), **options)
    num_classes = getattr(model_, head_name(model_)).out_features  # fc, or AlexNet's fc3
    pre = info.pretrained.preprocessing if info.pretrained else IMAGENET_PREPROCESSING
    meta = RunMetadata(
        model=name,
        model_options={"num_classes": num_classes, **options},
        dataset="imagenet" if num_classes == 1000 else "",
        data_dir="",
        class_names=list(IMAGENET_CLASSES) if num_classes == 1000 else [str(k) for k in range(num_classes)],
        preprocessing=pre,
        precision="fp32",
        config={},
        parameters=count_parameters(model_),
        weights=info.to_dict(),
    )
    return model_, state, meta


@app.command("convert")
def convert_command(
    source: Annotated[
        str,
        typer.Argument(
            metavar="WEIGHTS",
            help=weights_help(),
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option(help="The checkpoint directory to write.", show_default=False)],
    model: WeightsModelOption = None,
    in_channels: Annotated[
        int, typer.Option(min=1, help="Input channels; the first convolution is adapted as timm does (summed for 1).")
    ] = 3,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace the checkpoint at --out (never another folder, nor one a running train writes)."
        ),
    ] = False,
):
    """Write published or PyTorch weights as an eqx-resnet checkpoint that `eval`, `predict` and `train --init` read.

    The checkpoint records the weights' source, resolved revision and SHA-256, their
    preprocessing and class names. Example: eqx-resnet convert resnet50.tv_in1k --out weights/resnet50
    """
    with errors():
        with _run_lock(out):
            _check_out(out, force)
            options = {} if in_channels == 3 else {"in_channels": in_channels}
            model_, state, meta = pretrained_run(source, model, **options)
            save_checkpoint(out, model_, state, metadata=meta)  # crash-safe: the old one stays whole until replaced
    console().print(
        f"wrote {out}: {meta.model} with {meta.weights['name'] or meta.weights['path']} "
        f"(sha256 {meta.weights['sha256'][:12]}...)"
    )


@contextlib.contextmanager
def _run_lock(out: Path):
    """Hold the lock of the run directory `out` lies in, if it is one (it has a lock file): refused at once
    while a train writes there, and no train starts there meanwhile."""
    if not os.path.lexists(out.parent / LOCK_FILE):
        yield
        return
    with RunLock(out.parent):
        yield


def _check_out(out: Path, force: bool) -> None:
    """Refuse an --out that holds something, unless it is a checkpoint and --force replaces it."""
    if checkpoint_exists(out):  # also a checkpoint that a save interrupted left beside `out`
        if not force:
            raise CheckpointError(f"{out} already holds a checkpoint; choose another --out, or replace it with --force")
    elif os.path.lexists(out) and (not out.is_dir() or any(out.iterdir())):
        raise CheckpointError(
            f"{out} exists and is not a checkpoint (no metadata.json); choose another --out "
            "(--force replaces a checkpoint only, never anything else)"
        )


@app.command("fetch-weights")
def fetch_weights_command(
    names: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME...",
            help="Architectures (resnet50: its imagenet set), full names (resnet50.tv_in1k), or all.",
            show_default=False,
        ),
    ],
):
    """Download weight sets into the Hugging Face cache (HF_HOME), for machines that run offline (HF_HUB_OFFLINE=1).

    Copy or share HF_HOME with the offline machines afterwards.
    """
    with errors():
        for info in prefetch_weights(names):
            console().print(f"{info.name}: {info.path} (revision {info.revision}, sha256 {info.sha256[:12]}...)")
