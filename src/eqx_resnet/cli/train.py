"""`eqx-resnet train`, `eval`, `predict` and `plot`."""

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..data import DATASETS
from ..models import list_models
from ..training import TrainConfig, train
from .app import app
from .errors import stderr, user_errors

console = Console(highlight=False)
DatasetName = Enum("DatasetName", {name: name for name in DATASETS}, type=str)
ModelName = Enum("ModelName", {name: name for name in list_models()}, type=str)
OptimizerName = Enum("OptimizerName", {n: n for n in ("adam", "adamw", "sgd")}, type=str)
ScheduleName = Enum("ScheduleName", {n: n for n in ("constant", "cosine", "step", "onecycle")}, type=str)
PrecisionName = Enum("PrecisionName", {n: n for n in ("fp32", "bf16")}, type=str)
MonitorName = Enum("MonitorName", {n: n for n in ("test_acc", "test_loss")}, type=str)

DATA_DIR = Annotated[Path, typer.Option(help="Where datasets live (DATA_DIR/mnist/...); missing files are downloaded there.")]


def _value(x):
    return x.value if isinstance(x, Enum) else x


@app.command("train")
def train_command(
    dataset: Annotated[DatasetName, typer.Argument(help="Dataset to train on.")],
    model: Annotated[Optional[ModelName], typer.Option(help="Model from `eqx-resnet models`. Default: chosen per dataset and device (see README).")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Epochs. Default: per dataset and device.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per training step.")] = 128,
    lr: Annotated[Optional[float], typer.Option(min=0.0, help="Peak learning rate. Default: per dataset.")] = None,
    optimizer: Annotated[OptimizerName, typer.Option(help="adam (L2 weight decay, like torch), adamw (decoupled) or sgd (momentum).")] = OptimizerName.adam,
    momentum: Annotated[float, typer.Option(min=0.0, max=1.0, help="SGD momentum.")] = 0.9,
    nesterov: Annotated[bool, typer.Option(help="Nesterov momentum for SGD.")] = False,
    schedule: Annotated[Optional[ScheduleName], typer.Option(help="constant, cosine, step (x GAMMA every STEP_SIZE epochs) or onecycle.")] = None,
    warmup_epochs: Annotated[float, typer.Option(min=0.0, help="Linear warm-up before the schedule (not with onecycle, which warms up itself).")] = 0.0,
    step_size: Annotated[int, typer.Option(min=1, help="Epochs between learning-rate drops of the step schedule.")] = 7,
    gamma: Annotated[float, typer.Option(min=0.0, help="Factor of each drop of the step schedule.")] = 0.1,
    weight_decay: Annotated[float, typer.Option(min=0.0, help="Weight decay.")] = 0.0,
    label_smoothing: Annotated[float, typer.Option(min=0.0, max=1.0, help="Label smoothing of the cross-entropy.")] = 0.0,
    clip_norm: Annotated[Optional[float], typer.Option(min=0.0, help="Clip gradients to this global norm.")] = None,
    precision: Annotated[PrecisionName, typer.Option(help="fp32, or bf16 compute with fp32 parameters and statistics.")] = PrecisionName.fp32,
    augment: Annotated[Optional[bool], typer.Option(help="On-device augmentation (MNIST rotation/translation, CIFAR crop/flip). Default: per dataset and device.")] = None,
    image_size: Annotated[Optional[int], typer.Option(min=8, help="Resize images to this size (AlexNet: 96 by default).")] = None,
    max_train_samples: Annotated[Optional[int], typer.Option(min=1, help="Train on a random subset of this many images (quick runs).")] = None,
    patience: Annotated[Optional[int], typer.Option(min=1, help="Stop early after this many epochs without improving --monitor.")] = None,
    monitor: Annotated[MonitorName, typer.Option(help="Metric for the best checkpoint and early stopping.")] = MonitorName.test_acc,
    seed: Annotated[int, typer.Option(help="Seed of everything random: runs are repeatable (bitwise on CPU).")] = 0,
    data_dir: DATA_DIR = Path("data"),
    out: Annotated[Optional[Path], typer.Option(help="Run directory for checkpoints (last/, best/) and metrics.jsonl. Default: runs/DATASET.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint, with its saved settings.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the final metrics as one JSON object instead of text.")] = False,
):
    """Train a model; print the final test accuracy as the last line.

    Evaluates on the test split after every epoch, keeps checkpoints of the last
    and the best epoch, and appends each epoch's metrics to RUN_DIR/metrics.jsonl.
    """
    config = TrainConfig(
        dataset=_value(dataset), model=_value(model), epochs=epochs, batch_size=batch_size, lr=lr,
        optimizer=_value(optimizer), momentum=momentum, nesterov=nesterov, schedule=_value(schedule),
        warmup_epochs=warmup_epochs, step_size=step_size, gamma=gamma, weight_decay=weight_decay,
        label_smoothing=label_smoothing, clip_norm=clip_norm, precision=_value(precision), augment=augment,
        image_size=image_size, max_train_samples=max_train_samples, patience=patience, monitor=_value(monitor), seed=seed,
    )
    run_dir = out or Path("runs") / config.dataset
    with user_errors(), Progress(
        TextColumn("epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=stderr, transient=True, disable=json_output,
    ) as progress:
        task = progress.add_task("train", total=None, epoch=0, loss=float("nan"))

        def show(event: dict) -> None:
            if event["event"] == "steps":
                progress.update(task, completed=event["step"], total=event["steps"], epoch=event["epoch"], loss=event["loss"])
            elif not json_output:
                progress.console.print(
                    f"epoch {event['epoch']:3d}  train loss {event['train_loss']:.4f} acc {event['train_acc']:.2%}  "
                    f"test loss {event['test_loss']:.4f} acc {event['test_acc']:.2%}  "
                    f"{event['images_per_s']:.0f} img/s  {event['epoch_time_s']:.1f} s"
                )

        result = train(config, run_dir, data_dir=data_dir, resume=resume, on_progress=show)
    final = {**result.final, "model": result.config.model, "dataset": result.config.dataset, "run_dir": str(run_dir)}
    if json_output:
        print(json.dumps(final))
    else:
        console.print(f"checkpoints in {run_dir}/best and {run_dir}/last")
        console.print(f"test accuracy: {final['test_acc']:.2%}")


def _checkpoint_dir(path: Path) -> Path:
    """A checkpoint directory, or the `best/` (else `last/`) checkpoint of a run directory."""
    for candidate in (path, path / "best", path / "last"):
        if (candidate / "metadata.json").exists():
            return candidate
    raise FileNotFoundError(f"{path} is neither a checkpoint (no metadata.json) nor a run directory with best/ or last/")


@app.command("eval")
def eval_command(
    path: Annotated[Path, typer.Argument(help="A run directory (its best/ checkpoint is used) or a checkpoint directory.")],
    data_dir: DATA_DIR = Path("data"),
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
):
    """Evaluate a checkpoint on its dataset's test split: loss and accuracy."""
    import jax.numpy as jnp

    from ..data import load_dataset
    from ..training import load_checkpoint, make_evaluator

    with user_errors():
        checkpoint = _checkpoint_dir(path)
        model, state, meta = load_checkpoint(checkpoint)
        test = load_dataset(meta["dataset"], "test", data_dir)
        precision = meta.get("config", {}).get("precision", "fp32")
        evaluate = make_evaluator(jnp.asarray(test.images), jnp.asarray(test.labels), test.info, image_size=meta["image_size"], precision=precision)
        metrics = {"checkpoint": str(checkpoint), "model": meta["model"], "dataset": meta["dataset"], **evaluate(model, state)}
    if json_output:
        print(json.dumps(metrics))
    else:
        console.print(f"{metrics['model']} on {metrics['dataset']} test ({checkpoint}): loss {metrics['test_loss']:.4f}")
        console.print(f"test accuracy: {metrics['test_acc']:.2%}")


@app.command("predict")
def predict_command(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint directory, or a run directory (its best/ checkpoint).")],
    images: Annotated[list[Path], typer.Argument(help="PNG or JPEG files.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object per image.")] = False,
):
    """Classify image files: the predicted class and its probability.

    Images are converted to the dataset's channels, resized to its image size and
    normalised as in training (MNIST digits are white on black).
    """
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from ..data import dataset_info
    from ..models import forward
    from ..training import load_checkpoint
    from ..training.evaluate import prepare

    with user_errors():
        model, state, meta = load_checkpoint(_checkpoint_dir(checkpoint))
        info = dataset_info(meta["dataset"])
        channels, height, width = info.image_shape
        batch = []
        for path in images:
            try:
                with Image.open(path) as img:
                    img = img.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
            except (FileNotFoundError, UnidentifiedImageError, OSError) as e:
                raise ValueError(f"cannot read image {path}: {e}") from None
            array = np.asarray(img, np.uint8)
            batch.append(array[None] if channels == 1 else array.transpose(2, 0, 1))
        x = prepare(jnp.asarray(np.stack(batch)), info, meta["image_size"])
        logits, _ = forward(eqx.nn.inference_mode(model), state, x)
        probs = jax.nn.softmax(logits, -1)
    for path, p in zip(images, np.asarray(probs)):
        k = int(p.argmax())
        if json_output:
            print(json.dumps({"image": str(path), "class": k, "label": info.classes[k], "probability": float(p[k])}))
        else:
            console.print(f"{path}: {info.classes[k]} (class {k}, p={p[k]:.3f})")


@app.command("plot")
def plot_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with metrics.jsonl.")],
    out: Annotated[Optional[Path], typer.Option(help="PNG to write. Default: RUN_DIR/metrics.png.")] = None,
):
    """Draw a run's loss and accuracy curves (train and test) as a PNG. Needs matplotlib: pip install 'eqx-resnet\\[plot]'."""
    with user_errors():
        metrics = run_dir / "metrics.jsonl"
        if not metrics.exists():
            raise FileNotFoundError(f"{metrics} does not exist: pass the --out directory of a training run")
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ValueError("plotting needs matplotlib: pip install 'eqx-resnet[plot]'") from None
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        if not rows:
            raise ValueError(f"{metrics} holds no epochs yet")
        epochs = [r["epoch"] for r in rows]
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
        for split in ("train", "test"):
            ax_loss.plot(epochs, [r[f"{split}_loss"] for r in rows], marker="o", label=split)
            ax_acc.plot(epochs, [100 * r[f"{split}_acc"] for r in rows], marker="o", label=split)
        ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
            ax.legend()
        fig.tight_layout()
        out = out or run_dir / "metrics.png"
        fig.savefig(out, dpi=120)
    console.print(f"wrote {out}")
