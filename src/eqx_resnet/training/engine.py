"""The training engine: `train(config, run_dir)` as a sequence of named phases.

    lock the run directory (on resume, recover a save cut short) -> start or resume -> data -> model and optimiser
        -> epochs of steps (read points, checkpoints within) -> evaluate -> record

Each phase is one function below (`_start_or_resume`, `_data`, `_model_and_optimizer`,
`_epoch_steps` with its `_read_point`s, `_end_of_epoch` with the `_Recorder`), so a new data
source or a device mesh replaces one phase, not the loop. Each call of the compiled step
function (`make_run_steps`) runs `steps_per_call` steps: on a CPU one, because XLA:CPU runs a
loop body markedly slower than the same step called from Python (benchmarks/README.md); on an
accelerator a `fori_loop` over a twentieth of an epoch for the in-memory datasets, while a
streamed source sets its own (`data.stream`: one step). Augmentation and normalisation run
inside the step. Everything random derives from `seed` and the epoch and step number, so a
resumed run, from an epoch's end or from within one, replays exactly what an uninterrupted one
would have done.

The loop queues the calls without waiting for the device: their loss and accuracy sums stay
there until a read point, `READS_PER_EPOCH` times an epoch and at least every `MAX_STEPS_UNREAD`
steps (`read_every`), at every checkpoint within an epoch and at its end. A read point reports
progress, checks the loss, writes a checkpoint when one is due and takes a stop request.

A run stops cleanly, with a checkpoint of where it was, on SIGTERM and, once its first step has
run, on the first Ctrl-C (the second one stops at once), at the next read point; a Ctrl-C before
then stops it at once, as there is nothing new to save. It stops before writing anything when
the training loss is not finite or above `DIVERGED_CHANCE_MULTIPLE` times the loss of chance
(caught at the read point after it), or when the test loss is not finite: the checkpoints keep
the last good state.
"""

import contextlib
import functools
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._create import create_model
from .._messages import first_line
from .._xla_cpu import compiler_options
from ..data import AUGMENTATIONS, InMemorySource, load_dataset, prepare
from ..data.folder import STREAMING_DATASETS, info_for
from ..data.hf import HUB
from ..data.holdout import hold_out
from ..data.source import InMemorySplit
from ..data.stream import folder_sources
from ..parameters import count_parameters
from ..weights import head_name, load_pretrained, read_weights, to_state_dict
from .checkpoint import (
    EMA_FILE,
    MODEL_FILE,
    CorruptCheckpointError,
    checkpoint_exists,
    checkpoint_intact,
    checkpoint_paths,
    keeps_average,
    load_checkpoint,
    read_metadata,
    recover_run_dir,
    save_checkpoint,
)
from .config import RESUME_FROM, ConfigError, Device, TrainConfig, device_kind, resume_config, with_defaults
from .distributed import is_process_zero, lost_peers_as_errors, stop_anywhere, sync_processes
from .errors import Interrupted, TrainingError
from .evaluate import make_source_evaluator
from .lock import RunLock
from .metadata import RunMetadata
from .optim import build_optimizer, ema_params, head_only, init_at, learning_rate_schedule, with_ema
from .sharding import DATA_AXIS, batch_sharding, replicate, run_mesh, shard_train_step
from .step import make_train_step

CALLS_PER_EPOCH = 20
# The training loop reads the loss from the device this many times an epoch, and at least every
# MAX_STEPS_UNREAD steps: a stop asked for waits for the next read.
READS_PER_EPOCH = 8
MAX_STEPS_UNREAD = 25
# A mean training loss this many times that of a uniform guess, ln(classes), is taken for
# divergence: a network at chance is at 1x, and `--lr 1e6` reached 1e20 without a NaN.
DIVERGED_CHANCE_MULTIPLE = 100.0
METRICS_FILE = "metrics.jsonl"


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


def read_every(steps_per_epoch: int) -> int:
    """The steps between the training loop's reads of the loss: an eighth of the epoch, at most `MAX_STEPS_UNREAD`."""
    return min(-(-steps_per_epoch // READS_PER_EPOCH), MAX_STEPS_UNREAD)


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
    resume_from: str = "last",
    given: dict[str, Any] | None = None,
    on_progress: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train `config` (defaults filled for this device), writing checkpoints and metrics to `run_dir`.

    `run_dir/last/` is written after every epoch (and every `config.checkpoint_every` steps),
    `run_dir/best/` whenever the monitored metric improves; `run_dir/metrics.jsonl` gets one
    line per epoch; each checkpoint holds the run's `RunMetadata`. Only one process at a time
    trains in a run directory. `data_dir` defaults to `./data`, or on resume to the run's own.

    A new run refuses a `run_dir` that holds a run's checkpoints (or what a save cut short left of
    them) or `metrics.jsonl`: nothing there is overwritten. A run that fails before it writes
    anything leaves no trace: the folders and lock file it made are removed.

    `resume=True` continues from `run_dir/last/` with the saved config, changed by `given`
    (the settings the caller chose; default: the fields of `config` that differ from
    `TrainConfig()`): see `config.resume_config` for which may change. With
    `resume_from="best"` it continues from `run_dir/best/` instead, for a `last/` that is
    damaged: best's weights and statistics, at its epoch, with a fresh optimiser state (best/
    holds none) whose learning-rate schedule stands at that step; the later epochs are trained
    again and the metadata's `restarts` records it. `on_progress` is called with a dict
    (`event`: "start" with the model built, any changed settings and `resumed_from`, "notice"
    with a `message` (a new head for pretrained weights of other classes), "steps" at each read
    of the loss, about eight times an epoch (`read_every`), "epoch" with the epoch's metrics).
    """
    run_dir = Path(run_dir)
    if resume_from not in RESUME_FROM:
        raise ConfigError(f"`resume_from` must be one of {', '.join(RESUME_FROM)}, got {resume_from!r}")
    if given is None:
        default = TrainConfig()
        given = {
            f.name: getattr(config, f.name)
            for f in fields(TrainConfig)
            if getattr(config, f.name) != getattr(default, f.name)
        }
    writer = is_process_zero()  # a run of several processes has one writer: process 0
    _stage("validation")
    with RunLock(run_dir) if writer else contextlib.nullcontext(), _stop_requests() as stop, lost_peers_as_errors():
        if writer and resume:  # a new run refuses what a save cut short left (_start_or_resume)
            recover_run_dir(run_dir)  # a save cut short by a crash: its complete checkpoint back in place
        sync_processes("run directory recovered")  # the others read it once process 0 has put it in order
        return _train(config, run_dir, data_dir, resume, resume_from, given, on_progress, stop)


def _train(config, run_dir, data_dir, resume, resume_from, given, on_progress, stop) -> TrainResult:
    data_dir = Path(data_dir) if data_dir else None
    config, saved, data_dir = _start_or_resume(config, run_dir, data_dir, resume, resume_from, given)
    model_options = _model_options(config, data_dir)
    mesh = run_mesh(config.devices, config.batch_size, config.accumulate)  # None: one device of one process
    # Each process reads its own rows of every batch, the batch axis (1) of a chunk split over the devices.
    _stage("data")
    source, test = _data(config, data_dir, None if mesh is None else batch_sharding(mesh, 1))
    root = jax.random.key(config.seed, impl="rbg")
    model, state, optimizer, opt_state, metadata = _model_and_optimizer(
        config, run_dir, data_dir, saved, resume_from, model_options, source, jax.random.fold_in(root, 0), on_progress
    )
    if mesh is not None:
        model, state, opt_state = replicate((model, state, opt_state), mesh)
    if on_progress:
        on_progress(_start_event(config, metadata, saved, resume_from, mesh))
    params, static = eqx.partition(model, eqx.is_array)
    # The schedule compiled once: called eagerly it compiles ~25 operations (cold start: +0.6 s).
    lr_at = jax.jit(learning_rate_schedule(config, source.steps_per_epoch))
    run = _Run(
        config=config,
        run_dir=run_dir,
        source=source,
        static=static,
        root=root,
        run_steps=_step_functions(config, optimizer, mesh, static, source),
        chunk=getattr(source, "steps_per_call", None) or steps_per_call(source.steps_per_epoch, device_kind()),
        record=_Recorder(run_dir, config, metadata, lr_at, source.steps_per_epoch),
        stop=stop,
        on_progress=on_progress,
    )
    evaluate = make_source_evaluator(test, image_size=config.image_size, precision=config.precision)
    for epoch in range(metadata.epoch + 1, config.epochs + 1):
        if run.record.should_stop():
            break
        params, state, opt_state, sums = _epoch_steps(run, epoch, params, state, opt_state)
        _end_of_epoch(run, epoch, sums, eqx.combine(params, static), state, opt_state, evaluate, test)
    return TrainResult(config=config, history=metadata.history, run_dir=run_dir)


def _model_and_optimizer(config, run_dir, data_dir, saved, resume_from, model_options, source, key, on_progress):
    """The model, its state, the optimiser and its state, new or resumed from the saved run, and the run's metadata."""
    model, state = create_model(config.model, key=key, **model_options)
    weights = None
    if config.init is not None and saved is None:
        model, state, weights = _pretrained(config, model, state, on_progress)
    optimizer = build_optimizer(config, source.steps_per_epoch)
    if config.freeze_backbone:
        optimizer = head_only(optimizer, model, head_name(model))
    if config.ema_decay:
        optimizer = with_ema(optimizer, config.ema_decay)
    # One compiled init: called eagerly, optax compiles a zeros_like per weight shape (cold start: +0.3 s).
    opt_state = eqx.filter_jit(optimizer.init)(eqx.filter(model, eqx.is_inexact_array))
    restarts = saved.restarts if saved else []
    if saved is not None and resume_from == "last":
        model, state, _, opt_state = load_checkpoint(run_dir / "last", opt_state_like=opt_state)
    elif saved is not None:  # best/ holds no optimiser state: a fresh one, its schedule at best's step
        model, state, _ = load_checkpoint(run_dir / "best")
        step = len(saved.history) * source.steps_per_epoch
        opt_state = init_at(optimizer, eqx.filter(model, eqx.is_inexact_array), step)
        restarts = [*restarts, {"epoch": len(saved.history), "step": step, "from": "best"}]
    metadata = RunMetadata(
        model=config.model,
        model_options=model_options,
        dataset=config.dataset,
        data_dir=str(data_dir),
        class_names=list(source.info.classes),
        preprocessing=source.info.preprocessing(config.image_size),
        precision=config.precision,
        config=config.to_dict(),
        parameters=count_parameters(model),
        history=saved.history if saved else [],
        partial_epoch=saved.partial_epoch if saved else None,
        weights=saved.weights if saved else weights,
        restarts=restarts,
    )
    metadata.epoch = len(metadata.history)
    metadata.step = metadata.epoch * source.steps_per_epoch + (metadata.partial_epoch or {}).get("steps", 0)
    return model, state, optimizer, opt_state, metadata


def _start_event(config: TrainConfig, metadata: RunMetadata, saved, resume_from: str, mesh) -> dict:
    """The progress event "start": the model built, where the run starts, any changed settings."""
    changed = {} if saved is None else {k: v for k, v in config.to_dict().items() if v != saved.config.get(k)}
    return {
        "event": "start",
        "model": config.model,
        "model_options": metadata.model_options,
        "parameters": metadata.parameters,
        "epoch": metadata.epoch,
        "step": metadata.step,
        "epochs": config.epochs,
        "changed": changed,
        "resumed_from": None if saved is None else resume_from,
        "devices": 1 if mesh is None else mesh.size,
        "processes": jax.process_count(),
    }


def _step_functions(config: TrainConfig, optimizer, mesh, static, source) -> Callable[[int], Callable]:
    """`run_steps(steps)`: the compiled function of `steps` steps a call, built on first use (usually one size a run)."""
    augment = AUGMENTATIONS.get(config.dataset) if config.augment else None
    return functools.cache(
        lambda steps: make_run_steps(
            _train_step(optimizer, config, mesh),
            static,
            source.take,
            lambda images, key: prepare(images, source.info, config.image_size, key=key, augment=augment),
            steps,
        )
    )


@dataclass
class _Run:
    """What the epochs of steps need, fixed for the run."""

    config: TrainConfig
    run_dir: Path
    source: Any
    static: Any  # the model's non-array leaves
    root: Any  # the run's random key
    run_steps: Callable[[int], Callable]
    chunk: int  # steps a call
    record: "_Recorder"
    stop: "_StopRequests"
    on_progress: Callable[[dict], None] | None


def _epoch_steps(run: _Run, epoch: int, params, state, opt_state) -> tuple[Any, Any, Any, "_Sums"]:
    """The steps of `epoch`, from where a run resumed within it stopped: `(params, state, opt_state, sums)`.

    The calls of the step function are queued without waiting for the device: their loss and
    accuracy sums stay there until a read point (`_read_point`): every `read_every(steps per epoch)`
    steps, every checkpoint within the epoch, and its end.
    """
    source = run.source
    sums = _Sums(run.record.metadata.partial_epoch or {"steps": 0, "loss_sum": 0.0, "correct": 0, "seconds": 0.0})
    epoch_key = jax.random.fold_in(run.root, epoch)
    # A run resumed within an epoch with another call size (another device) steps in
    # calls of their greatest common divisor until the epoch's end.
    size = math.gcd(run.chunk, sums.steps) if sums.steps else run.chunk
    steps, every = source.steps_per_epoch, read_every(source.steps_per_epoch)
    for first, data in source.chunks(jax.random.fold_in(epoch_key, 0), sums.steps, size):
        _stage("step" if run.stop.stepped else "compile")
        params, state, opt_state, loss_sum, correct = run.run_steps(size)(
            data, params, state, opt_state, jnp.int32(first), jax.random.fold_in(epoch_key, 1)
        )
        run.stop.stepped = True
        stop_at = first + size
        sums.add(first, stop_at, loss_sum, correct)
        due = stop_at < steps and run.record.checkpoint_due(epoch, first, stop_at)
        if due or stop_at == steps or stop_at // every > first // every:
            _read_point(run, epoch, sums, due, params, state, opt_state)
    return params, state, opt_state, sums


def _read_point(run: _Run, epoch: int, sums: "_Sums", due: bool, params, state, opt_state) -> None:
    """Read the loss (stopping on a divergence), report progress and, within the epoch, write the
    checkpoint that is `due` and stop when asked to.

    A stop (SIGTERM, Ctrl-C) is taken here alone, agreed between the processes of a run of several
    (one collective a read point), so that all stop at the same step: one asked for between read points
    waits for the next, at most `MAX_STEPS_UNREAD` steps on. At the epoch's end it waits for the epoch
    to be recorded (`_end_of_epoch`).
    """
    source, record = run.source, run.record
    sums.read(
        lambda mean, first, stop_at: record.check_training_loss(mean, epoch, first, stop_at, source.info.num_classes)
    )
    if hasattr(source, "device_time"):  # a streamed source judges whether the device waits on it
        source.device_time(*sums.device)
    if run.on_progress:
        loss = sums.loss_sum / sums.steps
        events = {"event": "steps", "epoch": epoch, "step": sums.steps, "steps": source.steps_per_epoch, "loss": loss}
        run.on_progress(events | getattr(source, "throughput", {}))
    if sums.steps == source.steps_per_epoch:
        return
    model = eqx.combine(params, run.static)
    if due:
        _stage("checkpoint")
        record.within_epoch(sums.progress(), model, state, opt_state)
    run.stop.requested = stop_anywhere(run.stop.requested)  # every process stops at the same step
    if run.stop.requested:
        if not due:
            _stage("checkpoint")
            record.within_epoch(sums.progress(), model, state, opt_state)
        raise Interrupted(run.stop.requested, run.run_dir / "last", epoch, sums.steps)
    sums.clock()


def _end_of_epoch(run: _Run, epoch: int, sums: "_Sums", model, state, opt_state, evaluate, test) -> None:
    """Evaluate and record the epoch; then stop if asked to (agreed between the processes) and epochs remain.
    A run with `ema_decay` evaluates the moving average of its weights."""
    source = run.source
    average = _average(run.config, model, opt_state)
    train_time = time.perf_counter() - sums.t0
    n_seen = source.steps_per_epoch * source.batch_size
    row = {
        "epoch": epoch,
        "train_loss": sums.loss_sum / source.steps_per_epoch,
        "train_acc": sums.correct / n_seen,
        **evaluate(model if average is None else average, state),
        "skipped_images": source.skipped + test.skipped,  # unreadable images left out this epoch
        "images_per_s": n_seen / train_time,
        "epoch_time_s": time.perf_counter() - sums.t0,
    }
    row = run.record.epoch(row, model, state, opt_state, average)
    if run.on_progress:
        run.on_progress({"event": "epoch", **row})
    if epoch < run.config.epochs:
        run.stop.requested = stop_anywhere(run.stop.requested)
        if run.stop.requested:
            raise Interrupted(run.stop.requested, run.run_dir / "last", epoch, source.steps_per_epoch)


class _Sums:
    """An epoch's training loss and accuracy sums (from a resumed run's `partial_epoch`).

    Each call of the step function leaves its own on the device; `read` brings those of the calls
    since the last read to the host in one transfer and adds them up in float64 in call order,
    checking the mean loss after each call: the sums, and the step a divergence is caught at, are
    those of a read after every call. A read also times the device: `device` is `(steps, busy,
    elapsed)`, the steps since the last read point, the seconds the device spent on them, and the
    seconds they took from the end of that read point (from the epoch's first call: not the start of
    a stream's workers, nor a compilation).
    """

    def __init__(self, partial: dict):
        self.steps, self.loss_sum, self.correct = partial["steps"], partial["loss_sum"], partial["correct"]
        self.t0 = time.perf_counter() - partial["seconds"]
        self.calls = []  # (first, stop_at, loss sum, correct, the time it was queued) since the last read
        self.since = None
        self.device = (0, 0.0, 0.0)

    def add(self, first: int, stop_at: int, loss_sum: jax.Array, correct: jax.Array) -> None:
        now = time.perf_counter()
        self.since = now if self.since is None else self.since
        self.calls.append((first, stop_at, loss_sum, correct, now))

    def clock(self) -> None:
        """Start timing the next read point's calls: from now, the end of a read point."""
        self.since = time.perf_counter()

    def read(self, check: Callable[[float, int, int], None]) -> None:
        """Add up the calls since the last read, calling `check(mean loss, first, stop_at)` after each."""
        calls, self.calls = self.calls, []
        # The last call ran on the device from when it was queued, or from the end of the one before.
        started, before = calls[-1][4], calls[-2][2] if len(calls) > 1 else None
        if before is not None and not before.is_ready():
            before.block_until_ready()
            started = time.perf_counter()
        calls[-1][2].block_until_ready()
        busy = time.perf_counter() - started
        steps = calls[-1][1] - calls[0][0]
        self.device = (steps, busy * len(calls), time.perf_counter() - self.since)
        losses, corrects = _read(_gathered([c[2] for c in calls], [c[3] for c in calls]))
        corrects = corrects.view(np.int32)
        for (first, stop_at, *_), loss, correct in zip(calls, losses, corrects, strict=True):
            self.loss_sum, self.correct = self.loss_sum + float(loss), self.correct + int(correct)
            check(self.loss_sum / stop_at, first, stop_at)
        self.steps = stop_at

    def progress(self) -> dict:
        """The `partial_epoch` of a checkpoint within the epoch, after the latest read."""
        return {
            "steps": self.steps,
            "loss_sum": self.loss_sum,
            "correct": self.correct,
            "seconds": time.perf_counter() - self.t0,
        }


@jax.jit
def _gathered(losses: list[jax.Array], corrects: list[jax.Array]) -> jax.Array:
    """The calls' loss and accuracy sums as one array `(2, calls)`, to read in one transfer: the counts'
    int32 bits as float32."""
    return jnp.stack([jnp.stack(losses), lax.bitcast_convert_type(jnp.stack(corrects), jnp.float32)])


def _read(tree: Any) -> Any:
    """`tree` on the host: the training loop's deliberate device-to-host read, allowed under a
    transfer guard (`jax.transfer_guard_device_to_host`) that disallows any other."""
    with jax.transfer_guard_device_to_host("allow"):
        return jax.device_get(tree)


def _train_step(optimizer, config: TrainConfig, mesh) -> Callable:
    """The training step of `config`, with its micro-batches, data-parallel over `mesh` when there is one."""
    per_device = mesh is not None and config.batch_stats == "per_device"
    step = make_train_step(
        optimizer,
        precision=config.precision,
        label_smoothing=config.label_smoothing,
        accumulate=config.accumulate,
        axis_name=DATA_AXIS if per_device else None,
    )
    return step if mesh is None else shard_train_step(step, mesh, batch_stats=config.batch_stats)


def _start_or_resume(
    config: TrainConfig, run_dir: Path, data_dir: Path | None, resume: bool, resume_from: str, given: dict[str, Any]
) -> tuple[TrainConfig, RunMetadata | None, Path]:
    """The config, the saved run's metadata (`None` for a new run) and the data directory."""
    if not resume:
        if resume_from != "last":
            raise ConfigError(f"`resume_from={resume_from!r}` applies to a resumed run: add `resume=True`, or drop it")
        _refuse_a_used(run_dir)
        return with_defaults(config), None, _absolute(data_dir or Path("data"))
    saved = RunMetadata.from_dict(_resume_point(run_dir, resume_from))
    config = resume_config(TrainConfig.from_dict(saved.config), given, len(saved.history))
    return config, saved, _absolute(data_dir or Path(saved.data_dir or "data"))


def _run_files(run_dir: Path) -> list[Path]:
    """What a run made in `run_dir`: its checkpoints, what saves cut short left of them, its metrics."""
    found = [p for name in ("best", "last") for p in checkpoint_paths(run_dir / name)]
    return found + [run_dir / METRICS_FILE] * os.path.lexists(run_dir / METRICS_FILE)


def _refuse_a_used(run_dir: Path) -> None:
    """Refuse a new run in `run_dir` when it holds what a run made, naming it and the ways on: nothing a run
    made is overwritten."""
    found = _run_files(run_dir)
    if not found:
        return
    names = ", ".join(p.name + "/" * p.is_dir() for p in found)
    if checkpoint_exists(run_dir / "last"):
        way = "continue it with `resume=True`, or choose another `run_dir`"
    elif checkpoint_exists(run_dir / "best"):
        way = (
            'last/ holds no checkpoint: continue from best/ with `resume=True, resume_from="best"`, '
            "or choose another `run_dir`"
        )
    else:
        way = "none is a checkpoint to continue from: choose another `run_dir`, or move them away"
    raise TrainingError(f"{run_dir} already holds a run ({names}); {way}")


def _resume_point(run_dir: Path, resume_from: str) -> dict[str, Any]:
    """The metadata of `run_dir/resume_from`, the checkpoint a resumed run continues from, its array files
    checked; if it is missing or corrupt, an error saying what the run can go on from."""
    checkpoint = run_dir / resume_from
    if checkpoint_exists(checkpoint):
        try:
            return read_metadata(checkpoint, verify=True)
        except CorruptCheckpointError as e:
            problem = f"cannot resume from {checkpoint}: {e.problem}"
    else:
        problem = f"nothing to resume: {checkpoint} holds no checkpoint"
    other = run_dir / ("best" if resume_from == "last" else "last")
    if checkpoint_intact(other) and other.name == "best":
        way = (
            f"{other} is intact: continue from its weights with a fresh optimiser state, "
            '`resume=True, resume_from="best"`, or start a new run in another `run_dir`'
        )
    elif checkpoint_intact(other):
        way = f'{other} is intact: continue from it with `resume=True, resume_from="last"`'
    elif checkpoint_exists(other):
        way = f"{other} is damaged too, so nothing in {run_dir} can be resumed: start a new run in another `run_dir`"
    elif _run_files(run_dir):
        way = "start a new run in another `run_dir`"
    else:
        way = "start the run without `resume=True`"
    raise TrainingError(f"{problem}; {way}")


def _absolute(data_dir: Path) -> Path:
    """`data_dir` made absolute, as the run records it, unless it names a Hub dataset (`hf:ORG/NAME`)."""
    return data_dir if str(data_dir).startswith(HUB) else data_dir.absolute()


def _model_options(config: TrainConfig, data_dir: Path) -> dict[str, Any]:
    """The options that build the model of `config` for its dataset, checked by building it abstractly."""
    info = info_for(config.dataset, data_dir, config.image_size)
    options = {"num_classes": info.num_classes, "in_channels": info.image_shape[0], **config.model_options}
    try:
        eqx.filter_eval_shape(create_model, config.model, key=jax.random.key(0), **options)
    except (TypeError, ValueError) as e:
        reason = first_line(e)
        raise ConfigError(f"cannot build {config.model} with {options}: {reason}; check `model_options`") from None
    return options


def _pretrained(config: TrainConfig, model, state, on_progress) -> tuple[eqx.Module, eqx.nn.State, dict]:
    """`model` and `state` filled from `config.init`: a weight set, a weights file or another run's
    checkpoint, with the model's own fresh head where their classes differ (`weights.load_pretrained`);
    and where the weights came from."""
    init = Path(config.init)
    if init.is_dir():
        ema = keeps_average(init)  # the weights that run evaluated, as `eval` loads them
        source_model, source_state, meta = load_checkpoint(init, ema=ema)
        if meta.get("model") != config.model:
            raise ConfigError(
                f"`init={str(init)!r}` holds a {meta.get('model')}, not a {config.model}: give `model={meta.get('model')!r}`"
            )
        entries = to_state_dict(source_model, source_state)
        loaded = EMA_FILE if ema else MODEL_FILE
        info = {"path": str(init.absolute()), "sha256": meta["sha256"][loaded], **(meta.get("weights") or {})}
    else:
        entries, path, found = read_weights(config.model, config.init)
        info = found.to_dict() | ({"path": str(path.absolute())} if found.name is None else {})

    def notice(weights_classes: int, model_classes: int, head: str) -> None:
        if on_progress:
            message = (
                f"the weights have {weights_classes} classes and the model {model_classes}: a new head '{head}' is "
                "trained, every other weight loaded"
            )
            on_progress({"event": "notice", "message": message})

    model, state = load_pretrained(model, state, entries, on_new_head=notice)
    return model, state, info


def _data(config: TrainConfig, data_dir: Path, sharding):
    """The training source and the evaluation source (`sharding`: their chunks' on a mesh):
    the small datasets in memory, image folders streamed."""
    if config.dataset in STREAMING_DATASETS:
        return folder_sources(
            config.dataset,
            data_dir,
            batch_size=config.batch_size,
            eval_batch_size=config.eval_batch_size,
            image_size=config.image_size,
            augment=config.augment,
            workers=config.workers,
            val_fraction=config.val_fraction,
            limit=config.max_train_samples,
            seed=config.seed,
            sharding=sharding,
        )
    train_data = load_dataset(config.dataset, "train", data_dir)
    if config.val_fraction is None:
        test = load_dataset(config.dataset, "test", data_dir)
    else:  # the test split stays unread: evaluate on images held out of the training split
        train_data, test = hold_out(train_data, config.val_fraction)
    return (
        InMemorySource(
            train_data, config.batch_size, limit=config.max_train_samples, seed=config.seed, sharding=sharding
        ),
        InMemorySplit(test.images, test.labels, test.info, config.eval_batch_size, sharding=sharding),
    )


def _average(config: TrainConfig, model: eqx.Module, opt_state) -> eqx.Module | None:
    """`model` with the moving average of its weights (`ema_decay`), `None` for a run that keeps none."""
    return eqx.combine(ema_params(opt_state), model) if config.ema_decay else None


class _StopRequests:
    requested: str | None = None  # "SIGTERM" or "SIGINT" once asked to stop
    stepped: bool = False  # a step was queued: from now on a Ctrl-C waits for the loop's next read point
    handed_on: bool = False  # a Ctrl-C went to the handler there was: so does its redelivery, if it defers it


@contextlib.contextmanager
def _stop_requests() -> Iterator[_StopRequests]:
    """Turn SIGTERM, and a first Ctrl-C once a step has run, into a request to stop at the training
    loop's next read point. A Ctrl-C before the first step (nothing to save yet) or a second one stops at
    once: it goes to the handler there was (the CLI's, or Python's KeyboardInterrupt). A signal
    ignored stays ignored (a run started by `nohup`). Outside the main thread, no handlers."""
    stop = _StopRequests()
    handled = () if threading.current_thread() is not threading.main_thread() else (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in handled}
    previous = {s: handler for s, handler in previous.items() if handler is not signal.SIG_IGN}
    at_once = previous.get(signal.SIGINT)
    at_once = at_once if callable(at_once) else signal.default_int_handler

    def request(signum, frame):
        if signum == signal.SIGINT and (stop.requested or stop.handed_on or not stop.stepped):
            stop.handed_on = True
            at_once(signum, frame)
            return
        stop.requested = signal.Signals(signum).name

    for s in previous:
        signal.signal(s, request)
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


# A hook for tests/test_eqx_resnet_cli.py: with EQX_RESNET_STAGE_MARKERS=1, each stage of a run prints
# `stage: NAME` on stderr as it starts and waits for a line on stdin, which the test writes once it has
# sent its signal: the signal lands in that stage.
def _stage(name: str) -> None:
    if os.environ.get("EQX_RESNET_STAGE_MARKERS") == "1":
        print(f"stage: {name}", file=sys.stderr, flush=True)
        sys.stdin.readline()


class _Recorder:
    """The record phase: `metrics.jsonl`, the `last/` and `best/` checkpoints, early stopping,
    and the checks that keep a diverged state out of them."""

    def __init__(self, run_dir: Path, config: TrainConfig, metadata: RunMetadata, lr_at, steps_per_epoch: int):
        self.run_dir, self.config, self.metadata, self.lr_at = run_dir, config, metadata, lr_at
        self.steps_per_epoch = steps_per_epoch
        self.sign = 1.0 if config.monitor == "test_acc" else -1.0
        self.best, self.stale = -math.inf, 0
        for row in metadata.history:
            self._score(row)
        self.metrics_file = run_dir / METRICS_FILE
        self.writer = is_process_zero()  # the others of a multi-process run only keep count
        # Drop the lines of an epoch that was cut short: the file matches the last checkpoint. A new
        # run creates it with its first epoch's line.
        if self.writer and (metadata.history or self.metrics_file.exists()):
            self.metrics_file.write_text("".join(json.dumps(h, allow_nan=False) + "\n" for h in metadata.history))

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

    def checkpoint_due(self, epoch: int, first: int, stop_at: int) -> bool:
        """Whether the steps `first..stop_at` of `epoch` crossed a multiple of `checkpoint_every`."""
        every = self.config.checkpoint_every
        base = (epoch - 1) * self.steps_per_epoch
        return every is not None and (base + stop_at) // every > (base + first) // every

    def _advice(self) -> str:
        """What to try after a divergence, for this run."""
        config, history = self.config, self.metadata.history
        lower = f"{config.lr / 10:g}"
        if history or self.metadata.partial_epoch:
            where = (
                f"{self.run_dir / 'last'} (epoch {len(history)}, step {self.metadata.step}) is the last good checkpoint"
            )
            fixes = [f"resume from it with a lower learning rate: `resume=True, lr={lower}` (it is {config.lr:g})"]
        else:
            where = "no checkpoint was written"
            fixes = [f"start again with a lower learning rate: `lr={lower}` (it was {config.lr:g})"]
        if config.precision == "bf16":
            fixes.append('`precision="fp32"`')
        if config.clip_norm is None and not history:
            fixes.append("`clip_norm=1.0`")
        return f"{where}; {', or '.join(fixes)}"

    def check_training_loss(self, mean_loss: float, epoch: int, first: int, stop_at: int, num_classes: int) -> None:
        limit = DIVERGED_CHANCE_MULTIPLE * math.log(num_classes)
        if not math.isfinite(mean_loss) or mean_loss > limit:
            what = (
                f"became {mean_loss}"
                if not math.isfinite(mean_loss)
                else (f"reached {mean_loss:.4g}, over {DIVERGED_CHANCE_MULTIPLE:g}x that of chance ({limit:.4g})")
            )
            raise TrainingError(
                f"the training diverged: its mean loss {what} in epoch {epoch} (steps {first}-{stop_at}); {self._advice()}"
            )

    def within_epoch(self, progress: dict, model, state, opt_state) -> None:
        """Write `last/` within an epoch: the steps done and their sums, for --resume."""
        meta = self.metadata
        meta.partial_epoch = progress
        meta.step = len(meta.history) * self.steps_per_epoch + progress["steps"]
        if self.writer:
            with jax.transfer_guard_device_to_host("allow"):  # a deliberate read, within the training loop
                save_checkpoint(
                    self.run_dir / "last",
                    model,
                    state,
                    opt_state,
                    ema=_average(self.config, model, opt_state),
                    metadata=meta,
                )

    def epoch(self, row: dict, model, state, opt_state, average) -> dict:
        """Check and record the epoch's `row` (with its last learning rate; `average`: the model with the
        moving average of the weights, or `None`): checkpoints first,
        then its line in `metrics.jsonl`, so the file never lists an epoch without its checkpoint."""
        epoch = row["epoch"]
        if not math.isfinite(row["test_loss"]):
            raise TrainingError(f"the test loss became {row['test_loss']} after epoch {epoch}; {self._advice()}")
        row = {**row, "lr": float(self.lr_at(epoch * self.steps_per_epoch - 1))}
        meta = self.metadata
        meta.history.append(row)
        meta.epoch, meta.step, meta.metrics, meta.partial_epoch = epoch, epoch * self.steps_per_epoch, row, None
        try:
            if self._score(row) and self.writer:
                save_checkpoint(self.run_dir / "best", model, state, ema=average, metadata=meta)
            if self.writer:
                save_checkpoint(self.run_dir / "last", model, state, opt_state, ema=average, metadata=meta)
        except BaseException:
            meta.history.pop()
            raise
        if self.writer:
            with self.metrics_file.open("a") as f:
                f.write(json.dumps(row, allow_nan=False) + "\n")
        return row
