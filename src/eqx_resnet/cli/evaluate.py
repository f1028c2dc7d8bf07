"""`eqx-resnet eval` and `eqx-resnet predict`: a trained checkpoint on its test split, or on image files.

Both read the run's `RunMetadata`: its data directory, precision, preprocessing and
class names, so nothing given at training time needs to be given again. A run with
`--ema-decay` saved two sets of weights: both use the moving average it evaluated, unless
told `--raw` (the trained weights), and say which.
"""

import json
from pathlib import Path
from typing import Annotated, Optional

import equinox as eqx
import jax
import numpy as np
import typer
from rich.markup import escape

from ..data import DatasetError, load_image
from ..data.datasets import dataset_dir
from ..data.folder import STREAMING_DATASETS
from ..data.hf import HUB
from ..models import forward
from ..training import CheckpointError, RunMetadata, load_checkpoint
from ..training.checkpoint import checkpoint_exists, keeps_average
from ..training.evaluate import run_evaluator
from .app import app
from .console import UsageError, errors, stderr
from .options import WeightsModelOption, data_dir_option, json_option, weights_help
from .weights import pretrained_run


def printable(text: object) -> str:
    """`text` with its control and other unprintable characters escaped as Python's repr escapes them
    (`\\x1b`, `\\n`), as --json escapes them: a class or file name cannot restyle the terminal or forge a line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def checkpoint_dir(path: Path) -> Path:
    """A checkpoint directory, or the `best/` (else `last/`) checkpoint of a run directory."""
    for candidate in (path, path / "best", path / "last"):
        if checkpoint_exists(candidate):
            return candidate
    raise CheckpointError(
        f"{path} is neither a checkpoint (no metadata.json) nor a run directory with best/ or last/; "
        "pass the --out directory of a training run"
    )


# `--ema/--raw`: which of a run's weights to use; by default those it evaluated.
EmaOption = Annotated[
    Optional[bool],
    typer.Option(
        "--ema/--raw",
        help="The moving average of the weights that a run with --ema-decay evaluated and saved, or the trained weights. Default: the ones the run evaluated.",
    ),
]
WEIGHTS = {True: "moving average of the weights", False: "trained weights"}


def load_run(path: Path, ema: bool | None = None):
    """`(model, state, RunMetadata, checkpoint directory, ema)` of a checkpoint or run directory: with
    the moving average of its weights (`ema`) or the trained ones; `None`: those the run evaluated."""
    checkpoint = checkpoint_dir(path)
    kept = keeps_average(checkpoint)
    if ema and not kept:
        raise UsageError(
            f"{printable(checkpoint)} holds no moving average of the weights (its run had no --ema-decay): drop --ema"
        )
    ema = kept if ema is None else ema
    model, state, meta = load_checkpoint(checkpoint, ema=ema)
    return model, state, RunMetadata.from_dict(meta), checkpoint, ema


@app.command("eval")
def eval_command(
    path: Annotated[
        Path, typer.Argument(help="A run directory (its best/ checkpoint is used) or a checkpoint directory.")
    ],
    data_dir: data_dir_option("the run's own.") = None,
    ema: EmaOption = None,
    json_output: json_option("Print the metrics as one JSON object.") = False,
):
    """Evaluate a checkpoint on its run's evaluation split (the test split, or the images --val-fraction held
    out), in the run's precision: loss and accuracy."""
    with errors():
        model, state, meta, checkpoint, ema = load_run(path, ema)
        evaluate = run_evaluator(meta, _eval_data_dir(meta, data_dir))
        metrics = {
            "checkpoint": str(checkpoint),
            "weights": "ema" if ema else "raw",
            "model": meta.model,
            "dataset": meta.dataset,
            **evaluate(model, state),
        }
    if json_output:
        print(json.dumps(metrics))
    else:
        split = "test" if meta.config.get("val_fraction") is None else "held-out"
        print(
            f"{metrics['model']} on {metrics['dataset']} {split} ({printable(checkpoint)}, {WEIGHTS[ema]}): "
            f"loss {metrics['test_loss']:.4f}"
        )
        print(f"{split} accuracy: {metrics['test_acc']:.2%}")


def _eval_data_dir(meta: RunMetadata, given: Path | None) -> str:
    """The data directory `eval` reads: --data-dir, else the run's recorded one. `eval` only reads: a
    directory that is not there is refused, never created or downloaded into."""
    where, dataset = str(given or meta.data_dir or "data"), meta.dataset
    streamed = dataset in STREAMING_DATASETS
    if streamed and where.startswith(HUB):
        return where
    try:
        folders = [Path(where)] if streamed else [Path(where), dataset_dir(dataset, where)]
    except DatasetError as e:
        raise UsageError(str(e)) from None
    missing = next((f for f in folders if not f.is_dir()), None)
    if missing is None:
        return where
    if given is not None:
        named = f"--data-dir {given}"
    elif meta.data_dir:
        named = f"the run's recorded data directory {meta.data_dir}"
    else:
        named = "./data (the run records no data directory)"
    what = "is missing" if missing == Path(where) else f"has no {dataset}/ folder"
    holds = "the dataset" if streamed else f"{dataset}/"
    raise UsageError(f"{printable(named)} {what}: pass --data-dir with the folder that holds {holds} now")


@app.command("predict")
def predict_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="[CHECKPOINT] IMAGE...",
            help="A checkpoint or run directory (its best/ checkpoint), then image files; with --weights, image files only.",
            show_default=False,
        ),
    ],
    weights: Annotated[
        Optional[str],
        typer.Option(help=weights_help("Classify with published weights instead of a checkpoint: ")),
    ] = None,
    model: WeightsModelOption = None,
    top: Annotated[int, typer.Option(min=1, help="How many classes to show per image, most probable first.")] = 5,
    ema: EmaOption = None,
    json_output: json_option("Print one JSON object per image.") = False,
):
    """Classify image files: the most probable classes, by name, with their probabilities.

    Images are prepared as the model was trained (a run's channels, size and normalisation;
    a weight set's resize, centre crop and normalisation) and classified in inference mode,
    in the run's precision.

    Examples: eqx-resnet predict runs/mnist digit.png;
    eqx-resnet predict --model resnet50 --weights imagenet cat.jpg
    """
    with errors():
        model_, state, meta, images, used = _predictor(paths, weights, model, ema)
        try:
            x = np.stack([load_image(path, meta.preprocessing) for path in images])
        except DatasetError as e:
            raise UsageError(str(e)) from None
        logits, _ = forward(eqx.nn.inference_mode(model_), state, jax.numpy.asarray(x), precision=meta.precision)
        probs = np.asarray(jax.nn.softmax(logits, -1))
    if meta.config.get("ema_decay"):  # a run that saved two sets of weights: which one answered
        stderr.print(escape(f"{printable(paths[0])}: the {WEIGHTS[used == 'ema']}"))
    for path, p in zip(images, probs):
        best = [int(k) for k in np.argsort(-p, kind="stable")[:top]]
        rows = [{"class": k, "label": meta.class_names[k], "probability": float(p[k])} for k in best]
        if json_output:
            print(json.dumps({"image": str(path), **rows[0], "top": rows, "weights": used}))
        else:
            print(printable(path) + ": " + ", ".join(f"{printable(r['label'])} ({r['probability']:.3f})" for r in rows))


def _predictor(paths: list[Path], weights: str | None, model: str | None, ema: bool | None):
    """`(model, state, RunMetadata, image paths, the weights used)` from a checkpoint (`"ema"` or `"raw"`), or
    from a weight set (its name)."""
    if weights is None:
        if model is not None:
            raise UsageError("--model goes with --weights; a checkpoint knows its model: drop --model")
        if len(paths) < 2:
            raise UsageError("give a checkpoint (or run directory) and at least one image, or --weights and images")
        model_, state, meta, _, ema = load_run(paths[0], ema)
        return model_, state, meta, paths[1:], "ema" if ema else "raw"
    if ema is not None:
        raise UsageError("--ema and --raw choose between a checkpoint's weights; a weight set has one: drop them")
    if paths[0].is_dir():
        raise UsageError(
            f"with --weights every argument is an image, and {paths[0]} is a directory; "
            "to use a checkpoint, drop --weights"
        )

    model_, state, meta = pretrained_run(weights, model)
    return model_, state, meta, paths, weights
