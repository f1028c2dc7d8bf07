"""The training engine: epochs of jitted steps over data that stays on the device.

Each call of the compiled step function runs `steps_per_call` steps in a
`fori_loop`: on a GPU a twentieth of an epoch (few Python round-trips, a live
progress bar), on a CPU one step, because XLA's CPU backend ran the loop body
2.2-2.5x slower than the same step called from Python (measured on 2 cores,
preact_resnet, batch 128). Augmentation and normalisation run inside the step.
Everything random derives from `seed` and the epoch/step number, so a resumed
run replays exactly what an uninterrupted one would have done.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..data import AUGMENTATIONS, Dataset, load_dataset
from ..models import create_model
from .._xla_cpu import compiler_options
from .checkpoint import load_checkpoint, read_metadata, save_checkpoint
from .config import TrainConfig, device_kind, with_defaults
from .evaluate import make_evaluator, prepare
from .optim import build_optimizer, learning_rate_schedule
from .step import make_train_step

CALLS_PER_EPOCH = 20


def steps_per_call(steps_per_epoch: int, device: str) -> int:
    """1 on CPU; on GPU the largest divisor of the epoch not above a twentieth of it."""
    if device == "cpu":
        return 1
    target = max(1, steps_per_epoch // CALLS_PER_EPOCH)
    return max(k for k in range(1, target + 1) if steps_per_epoch % k == 0)


class TrainingError(RuntimeError):
    """A run that cannot go on: diverged, or asked to resume what does not exist."""


@dataclass
class TrainResult:
    config: TrainConfig
    history: list[dict]
    run_dir: Path

    @property
    def final(self) -> dict:
        return self.history[-1]


def _put_on_device(data: Dataset, limit: int | None, seed: int) -> tuple[jax.Array, jax.Array]:
    images, labels = data.images, data.labels
    if limit is not None and limit < len(labels):
        keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
        images, labels = images[keep], labels[keep]
    return jnp.asarray(images), jnp.asarray(labels)


def train(config: TrainConfig, run_dir: str | Path, *, data_dir: str | Path = "data", resume: bool = False,
          on_progress: Callable[[dict], None] | None = None) -> TrainResult:
    """Train `config` (defaults filled for this device), writing checkpoints and metrics to `run_dir`.

    `run_dir/last/` is written after every epoch and `run_dir/best/` whenever the
    monitored metric improves; `run_dir/metrics.jsonl` gets one line per epoch.
    `resume=True` continues from `run_dir/last/` with the saved config.
    `on_progress` is called after every chunk of steps and every epoch with a dict
    (`event`: "steps" | "epoch", plus counts and metrics) for a live display.
    """
    run_dir = Path(run_dir)
    last, best = run_dir / "last", run_dir / "best"
    history: list[dict] = []
    if resume:
        if not (last / "metadata.json").exists():
            raise TrainingError(f"nothing to resume: {last} holds no checkpoint; start the run without --resume")
        meta = read_metadata(last)
        config = TrainConfig.from_dict(meta["config"])
        history = meta["history"]
    elif last.exists():
        raise TrainingError(f"{run_dir} already holds a run; continue it with --resume, or choose another --out")
    config = with_defaults(config)

    train_data = load_dataset(config.dataset, "train", data_dir)
    test_data = load_dataset(config.dataset, "test", data_dir)
    info = train_data.info
    x_train, y_train = _put_on_device(train_data, config.max_train_samples, config.seed)
    x_test, y_test = _put_on_device(test_data, None, config.seed)
    n_train, batch = int(y_train.shape[0]), config.batch_size
    if n_train < batch:
        raise TrainingError(f"--batch-size {batch} is larger than the {n_train} training images; lower it")
    steps_per_epoch = n_train // batch  # the last partial batch is dropped, as torch's drop_last=True

    # RBG keys: building preact_resnet took 5.7 s instead of 14.9 s with threefry on 2 CPU
    # cores (threefry compiles a large sampler per weight shape). Still one stream per seed.
    root = jax.random.key(config.seed, impl="rbg")
    model_options = {"num_classes": info.num_classes, "in_channels": info.image_shape[0], **config.model_options}
    model, state = create_model(config.model, key=jax.random.fold_in(root, 0), **model_options)
    optimizer = build_optimizer(config, steps_per_epoch)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    if resume:
        model, state, _, opt_state = load_checkpoint(last, opt_state_like=opt_state)
    lr_at = learning_rate_schedule(config, steps_per_epoch)

    train_step = make_train_step(optimizer, precision=config.precision, label_smoothing=config.label_smoothing)
    augment = AUGMENTATIONS.get(config.dataset) if config.augment else None
    params, static = eqx.partition(model, eqx.is_array)

    chunk = steps_per_call(steps_per_epoch, device_kind())

    # `order` is reused by every call of the epoch: the only argument not donated.
    @eqx.filter_jit(donate="all-except-first", compiler_options=compiler_options())
    def run_steps(order, params, state, opt_state, first, key):
        def body(j, carry):
            params, state, opt_state, loss_sum, correct = carry
            i = first + j
            idx = lax.dynamic_slice_in_dim(order, i * batch, batch)
            k_aug, k_step = jax.random.split(jax.random.fold_in(key, i))
            x = prepare(x_train[idx], info, config.image_size, key=k_aug, augment=augment)
            m, state, opt_state, metrics = train_step(eqx.combine(params, static), state, opt_state, x, y_train[idx], k_step)
            params = eqx.filter(m, eqx.is_array)
            return params, state, opt_state, loss_sum + metrics["loss"], correct + metrics["correct"]

        init = (params, state, opt_state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))
        # Even a one-step fori_loop stays an XLA while loop, which the CPU backend runs slowly.
        return body(0, init) if chunk == 1 else lax.fori_loop(0, chunk, body, init)

    evaluate = make_evaluator(
        x_test, y_test, info, image_size=config.image_size, precision=config.precision, batch_size=config.eval_batch_size
    )

    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_file = run_dir / "metrics.jsonl"
    metrics_file.write_text("".join(json.dumps(h) + "\n" for h in history))  # drop lines of an epoch that was cut short
    monitor_sign = 1.0 if config.monitor == "test_acc" else -1.0
    best_score, stale = _best_and_stale(history, config.monitor, monitor_sign)

    for epoch in range(len(history) + 1, config.epochs + 1):
        if config.patience is not None and stale >= config.patience:
            break
        t0 = time.perf_counter()
        epoch_key = jax.random.fold_in(root, epoch)
        order = jax.random.permutation(jax.random.fold_in(epoch_key, 0), n_train)[: steps_per_epoch * batch]
        loss_sum, correct = 0.0, 0
        for start in range(0, steps_per_epoch, chunk):
            stop = start + chunk
            params, state, opt_state, l_sum, c = run_steps(
                order, params, state, opt_state, jnp.int32(start), jax.random.fold_in(epoch_key, 1)
            )
            loss_sum, correct = loss_sum + float(l_sum), correct + int(c)
            if not math.isfinite(loss_sum):
                good = f"the last good checkpoint is {last} (epoch {len(history)})" if history else "no checkpoint was written"
                raise TrainingError(
                    f"the training loss became {loss_sum} in epoch {epoch} (steps {start}-{stop}); {good}. "
                    "Lower --lr, add --clip-norm 1.0, or train in --precision fp32."
                )
            if on_progress:
                on_progress({"event": "steps", "epoch": epoch, "step": stop, "steps": steps_per_epoch, "loss": loss_sum / stop})
        train_time = time.perf_counter() - t0
        test = evaluate(eqx.combine(params, static), state)
        n_seen = steps_per_epoch * batch
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / steps_per_epoch,
            "train_acc": correct / n_seen,
            **test,
            "lr": float(lr_at(epoch * steps_per_epoch - 1)),
            "images_per_s": n_seen / train_time,
            "epoch_time_s": time.perf_counter() - t0,
        }
        history.append(row)
        with metrics_file.open("a") as f:
            f.write(json.dumps(row) + "\n")
        model = eqx.combine(params, static)
        metadata = {
            "model": config.model,
            "model_options": model_options,
            "dataset": config.dataset,
            "image_size": config.image_size or info.image_shape[-1],
            "epoch": epoch,
            "step": epoch * steps_per_epoch,
            "metrics": row,
            "history": history,
            "config": config.to_dict(),
        }
        score = monitor_sign * row[config.monitor]
        if score > best_score:
            best_score, stale = score, 0
            save_checkpoint(best, model, state, metadata=metadata)
        else:
            stale += 1
        save_checkpoint(last, model, state, opt_state, metadata=metadata)
        if on_progress:
            on_progress({"event": "epoch", **row})
    return TrainResult(config=config, history=history, run_dir=run_dir)


def _best_and_stale(history: list[dict], monitor: str, sign: float) -> tuple[float, int]:
    """The best (signed) monitored score so far, and how many epochs since it: early stopping's memory."""
    best, stale = -math.inf, 0
    for h in history:
        if sign * h[monitor] > best:
            best, stale = sign * h[monitor], 0
        else:
            stale += 1
    return best, stale
