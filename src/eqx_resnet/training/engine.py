"""The training engine: `train(config, run_dir)` as a sequence of named phases.

    start or resume -> data -> model and optimiser -> epochs of steps -> evaluate -> record

Each phase is one function below, so a new data source or a device mesh replaces one
phase, not the loop. Each call of the compiled step function (`make_run_steps`) runs
`steps_per_call` steps: on a CPU one, because XLA:CPU runs a loop body markedly slower
than the same step called from Python (benchmarks/README.md); on an accelerator a
`fori_loop` over a twentieth of an epoch (few round-trips, a live progress bar).
Augmentation and normalisation run inside the step. Everything random derives from
`seed` and the epoch and step number, so a resumed run replays exactly what an
uninterrupted one would have done.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from .._xla_cpu import compiler_options
from ..data import AUGMENTATIONS, InMemorySource, dataset_info, load_dataset, prepare, preprocessing
from ..models import create_model
from ..parameters import count_parameters
from .checkpoint import load_checkpoint, read_metadata, save_checkpoint
from .config import ConfigError, Device, TrainConfig, device_kind, with_defaults
from .errors import TrainingError
from .evaluate import make_evaluator
from .metadata import RunMetadata
from .optim import build_optimizer, learning_rate_schedule
from .step import make_train_step

CALLS_PER_EPOCH = 20


@dataclass
class TrainResult:
    config: TrainConfig
    history: list[dict]
    run_dir: Path

    @property
    def final(self) -> dict:
        return self.history[-1]


def steps_per_call(steps_per_epoch: int, device: Device) -> int:
    """1 on CPU; on an accelerator the largest divisor of the epoch not above a twentieth of it."""
    if device == "cpu":
        return 1
    target = max(1, steps_per_epoch // CALLS_PER_EPOCH)
    return max(k for k in range(1, target + 1) if steps_per_epoch % k == 0)


def make_run_steps(train_step: Callable, static: Any, take: Callable, prepare_batch: Callable, steps: int) -> Callable:
    """The compiled function that runs `steps` training steps from step `first` of an epoch.

    `run_steps(chunk, params, state, opt_state, first, key) -> (params, state, opt_state,
    loss_sum, correct)`: `take(chunk, i, j)` gives step `i`'s uint8 images and labels (`j`
    counts within the call), `prepare_batch(images, key)` augments and normalises them, and
    `key` derives each step's randomness from its step number. Everything but `chunk` is donated.
    """

    @eqx.filter_jit(donate="all-except-first", compiler_options=compiler_options())
    def run_steps(chunk, params, state, opt_state, first, key):
        def body(j, carry):
            params, state, opt_state, loss_sum, correct = carry
            i = first + j
            images, labels = take(chunk, i, j)
            k_aug, k_step = jax.random.split(jax.random.fold_in(key, i))
            model, state, opt_state, metrics = train_step(
                eqx.combine(params, static), state, opt_state, prepare_batch(images, k_aug), labels, k_step
            )
            params = eqx.filter(model, eqx.is_array)
            return params, state, opt_state, loss_sum + metrics["loss"], correct + metrics["correct"]

        init = (params, state, opt_state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        # Even a one-step fori_loop stays an XLA while loop, which the CPU backend runs slowly.
        return body(0, init) if steps == 1 else lax.fori_loop(0, steps, body, init)

    return run_steps


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    resume: bool = False,
    on_progress: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train `config` (defaults filled for this device), writing checkpoints and metrics to `run_dir`.

    `run_dir/last/` is written after every epoch and `run_dir/best/` whenever the
    monitored metric improves; `run_dir/metrics.jsonl` gets one line per epoch; each
    checkpoint holds the run's `RunMetadata`. `data_dir` defaults to `./data`, or on
    resume to the run's own. `resume=True` continues from `run_dir/last/` with the saved
    config. `on_progress` is called with a dict (`event`: "start" with the model built,
    "steps" after every call of the step function, "epoch" with the epoch's metrics).
    """
    run_dir = Path(run_dir)
    config, history, data_dir = _start_or_resume(config, run_dir, Path(data_dir) if data_dir else None, resume)
    model_options = _model_options(config)
    source, test = _data(config, data_dir)
    root = jax.random.key(config.seed, impl="rbg")
    # RBG keys: building preact_resnet took 5.7 s instead of 14.9 s with threefry on 2 CPU
    # cores (threefry compiles a large sampler per weight shape). Still one stream per seed.
    model, state = create_model(config.model, key=jax.random.fold_in(root, 0), **model_options)
    optimizer = build_optimizer(config, source.steps_per_epoch)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    if resume:
        model, state, _, opt_state = load_checkpoint(run_dir / "last", opt_state_like=opt_state)
    metadata = RunMetadata(
        model=config.model, model_options=model_options, dataset=config.dataset, data_dir=str(data_dir),
        class_names=list(source.info.classes), preprocessing=preprocessing(source.info, config.image_size),
        precision=config.precision, config=config.to_dict(), parameters=count_parameters(model), history=history,
    )
    if on_progress:
        on_progress({"event": "start", "model": config.model, "model_options": model_options,
                     "parameters": metadata.parameters, "epoch": len(history), "epochs": config.epochs})

    chunk = steps_per_call(source.steps_per_epoch, device_kind())
    augment = AUGMENTATIONS.get(config.dataset) if config.augment else None
    params, static = eqx.partition(model, eqx.is_array)
    run_steps = make_run_steps(
        make_train_step(optimizer, precision=config.precision, label_smoothing=config.label_smoothing),
        static, source.take,
        lambda images, key: prepare(images, source.info, config.image_size, key=key, augment=augment),
        chunk,
    )
    evaluate = make_evaluator(
        jnp.asarray(test.images), jnp.asarray(test.labels), test.info,
        image_size=config.image_size, precision=config.precision, batch_size=config.eval_batch_size,
    )
    record = _Recorder(run_dir, config, metadata, learning_rate_schedule(config, source.steps_per_epoch))

    for epoch in range(len(history) + 1, config.epochs + 1):
        if record.should_stop():
            break
        t0 = time.perf_counter()
        params, state, opt_state, loss_sum, correct = _train_epoch(
            run_steps, source, root, epoch, chunk, params, state, opt_state, record, on_progress
        )
        train_time = time.perf_counter() - t0
        model = eqx.combine(params, static)
        n_seen = source.steps_per_epoch * source.batch_size
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / source.steps_per_epoch,
            "train_acc": correct / n_seen,
            **evaluate(model, state),
            "images_per_s": n_seen / train_time,
            "epoch_time_s": time.perf_counter() - t0,
        }
        row = record.epoch(row, model, state, opt_state, source.steps_per_epoch)
        if on_progress:
            on_progress({"event": "epoch", **row})
    return TrainResult(config=config, history=metadata.history, run_dir=run_dir)


def _start_or_resume(
    config: TrainConfig, run_dir: Path, data_dir: Path | None, resume: bool
) -> tuple[TrainConfig, list[dict], Path]:
    """The config, the history so far and the data directory of a new or resumed run."""
    last = run_dir / "last"
    if not resume:
        if last.exists():
            raise TrainingError(f"{run_dir} already holds a run; continue it with --resume, or choose another --out")
        return with_defaults(config), [], (data_dir or Path("data")).absolute()
    if not (last / "metadata.json").exists():
        raise TrainingError(f"nothing to resume: {last} holds no checkpoint; start the run without --resume")
    saved = RunMetadata.from_dict(read_metadata(last))
    return TrainConfig.from_dict(saved.config), saved.history, (data_dir or Path(saved.data_dir)).absolute()


def _data(config: TrainConfig, data_dir: Path):
    """The training source and the test split."""
    train_data = load_dataset(config.dataset, "train", data_dir)
    test = load_dataset(config.dataset, "test", data_dir)
    return InMemorySource(train_data, config.batch_size, limit=config.max_train_samples, seed=config.seed), test


def _model_options(config: TrainConfig) -> dict[str, Any]:
    """The options that build the model of `config` for its dataset, checked by building it abstractly."""
    info = dataset_info(config.dataset)
    options = {"num_classes": info.num_classes, "in_channels": info.image_shape[0], **config.model_options}
    try:
        eqx.filter_eval_shape(create_model, config.model, key=jax.random.key(0), **options)
    except (TypeError, ValueError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"cannot build {config.model} with {options}: {reason}; check --model-option") from None
    return options


def _train_epoch(run_steps, source, root, epoch, chunk, params, state, opt_state, record, on_progress):
    """One epoch of steps: the trained arrays, the summed loss and the number of correct predictions."""
    epoch_key = jax.random.fold_in(root, epoch)
    loss_sum, correct = 0.0, 0
    for first, data in source.chunks(jax.random.fold_in(epoch_key, 0), 0, chunk):
        params, state, opt_state, l_sum, c = run_steps(
            data, params, state, opt_state, jnp.int32(first), jax.random.fold_in(epoch_key, 1)
        )
        stop = first + chunk
        loss_sum, correct = loss_sum + float(l_sum), correct + int(c)
        if not math.isfinite(loss_sum):
            raise TrainingError(
                f"the training loss became {loss_sum} in epoch {epoch} (steps {first}-{stop}); {record.last_good()}. "
                "Lower --lr, add --clip-norm 1.0, or train in --precision fp32."
            )
        if on_progress:
            on_progress({"event": "steps", "epoch": epoch, "step": stop, "steps": source.steps_per_epoch,
                         "loss": loss_sum / stop})
    return params, state, opt_state, loss_sum, correct


class _Recorder:
    """The record phase: `metrics.jsonl`, the `last/` and `best/` checkpoints, and early stopping."""

    def __init__(self, run_dir: Path, config: TrainConfig, metadata: RunMetadata, lr_at):
        self.run_dir, self.config, self.metadata, self.lr_at = run_dir, config, metadata, lr_at
        self.sign = 1.0 if config.monitor == "test_acc" else -1.0
        self.best, self.stale = -math.inf, 0
        for row in metadata.history:
            self._score(row)
        run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_file = run_dir / "metrics.jsonl"
        # Drop the lines of an epoch that was cut short: the file matches the last checkpoint.
        self.metrics_file.write_text("".join(json.dumps(h) + "\n" for h in metadata.history))

    def _score(self, row: dict) -> bool:
        """Count `row` for early stopping; whether it is the best so far."""
        score = self.sign * row[self.config.monitor]
        if score > self.best:
            self.best, self.stale = score, 0
            return True
        self.stale += 1
        return False

    def should_stop(self) -> bool:
        return self.config.patience is not None and self.stale >= self.config.patience

    def last_good(self) -> str:
        history = self.metadata.history
        return f"the last good checkpoint is {self.run_dir / 'last'} (epoch {len(history)})" if history else "no checkpoint was written"

    def epoch(self, row: dict, model, state, opt_state, steps_per_epoch: int) -> dict:
        """Append the epoch's `row` (with its last learning rate) and write its checkpoints; the row."""
        epoch = row["epoch"]
        row = {**row, "lr": float(self.lr_at(epoch * steps_per_epoch - 1))}
        meta = self.metadata
        meta.history.append(row)
        meta.epoch, meta.step, meta.metrics = epoch, epoch * steps_per_epoch, row
        with self.metrics_file.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self._score(row):
            save_checkpoint(self.run_dir / "best", model, state, metadata=meta)
        save_checkpoint(self.run_dir / "last", model, state, opt_state, metadata=meta)
        return row
