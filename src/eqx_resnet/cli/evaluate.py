"""`eqx-resnet eval` and `eqx-resnet predict`: a trained checkpoint on its test split, or on image files.

Both read the run's `RunMetadata`: its data directory, precision, preprocessing and
class names, so nothing given at training time needs to be given again.
"""

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..training import CheckpointError, RunMetadata, load_checkpoint
from ..training.checkpoint import checkpoint_exists
from .app import app
from .console import UsageError, console, errors
from .train import DATA_DIR_HELP


def checkpoint_dir(path: Path) -> Path:
    """A checkpoint directory, or the `best/` (else `last/`) checkpoint of a run directory."""
    for candidate in (path, path / "best", path / "last"):
        if checkpoint_exists(candidate):
            return candidate
    raise CheckpointError(f"{path} is neither a checkpoint (no metadata.json) nor a run directory with best/ or last/; "
                          "pass the --out directory of a training run")


def load_run(path: Path):
    """`(model, state, RunMetadata, checkpoint directory)` of a checkpoint or run directory."""
    checkpoint = checkpoint_dir(path)
    model, state, meta = load_checkpoint(checkpoint)
    return model, state, RunMetadata.from_dict(meta), checkpoint


@app.command("eval")
def eval_command(
    path: Annotated[Path, typer.Argument(help="A run directory (its best/ checkpoint is used) or a checkpoint directory.")],
    data_dir: Annotated[Optional[Path], typer.Option(help=DATA_DIR_HELP + " Default: the run's own.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
):
    """Evaluate a checkpoint on its dataset's test split, in the run's precision: loss and accuracy."""
    with errors():
        import jax.numpy as jnp

        from ..data import load_dataset
        from ..training import make_evaluator

        model, state, meta, checkpoint = load_run(path)
        test = load_dataset(meta.dataset, "test", data_dir or meta.data_dir or "data")
        evaluate = make_evaluator(
            jnp.asarray(test.images), jnp.asarray(test.labels), test.info,
            image_size=meta.preprocessing["image_size"], precision=meta.precision,
        )
        metrics = {"checkpoint": str(checkpoint), "model": meta.model, "dataset": meta.dataset, **evaluate(model, state)}
    if json_output:
        print(json.dumps(metrics))
    else:
        console().print(f"{metrics['model']} on {metrics['dataset']} test ({checkpoint}): loss {metrics['test_loss']:.4f}")
        console().print(f"test accuracy: {metrics['test_acc']:.2%}")


@app.command("predict")
def predict_command(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint directory, or a run directory (its best/ checkpoint).")],
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, ...).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object per image.")] = False,
):
    """Classify image files: the predicted class, by name, and its probability.

    Images are converted to the run's channels, resized to its image size and
    normalised as in training, in the run's precision (MNIST digits are white on black).
    """
    with errors():
        import equinox as eqx
        import jax
        import jax.numpy as jnp
        import numpy as np
        from PIL import Image, UnidentifiedImageError

        from ..data import dataset_info, prepare
        from ..models import forward

        model, state, meta, _ = load_run(checkpoint)
        info = dataset_info(meta.dataset)
        size = meta.preprocessing["image_size"]
        channels, height, width = info.image_shape
        batch = []
        for path in images:
            try:
                with Image.open(path) as img:
                    img = img.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
            except Image.DecompressionBombError as e:
                raise UsageError(
                    f"cannot read image {path}: {e} Shrink it first (it is far larger than the model's "
                    f"{width}x{height} input), or raise PIL.Image.MAX_IMAGE_PIXELS in your own code if you trust it"
                ) from None
            except (FileNotFoundError, UnidentifiedImageError, OSError) as e:
                raise UsageError(f"cannot read image {path}: {e}") from None
            array = np.asarray(img, np.uint8)
            batch.append(array[None] if channels == 1 else array.transpose(2, 0, 1))
        x = prepare(jnp.asarray(np.stack(batch)), info, size)
        logits, _ = forward(eqx.nn.inference_mode(model), state, x, precision=meta.precision)
        probs = np.asarray(jax.nn.softmax(logits, -1))
    for path, p in zip(images, probs):
        k = int(p.argmax())
        label = meta.class_names[k]
        if json_output:
            print(json.dumps({"image": str(path), "class": k, "label": label, "probability": float(p[k])}))
        else:
            console().print(f"{path}: {label} (class {k}, p={p[k]:.3f})")
