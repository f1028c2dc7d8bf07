"""`StreamingSource`: a split of image files, decoded and augmented by grain's worker processes as it trains.

The source has the interface of `data.source`: `chunks(key, start, steps)` hands out the
epoch shuffled by `key` from step `start`, `take(chunk, i, j)` reads a step's batch inside
the compiled step. A chunk is `steps` host batches stacked, uint8 `(steps, b, 3, s, s)` and
int32 labels `(steps, b)`, put on the device one chunk ahead of the step that reads it;
normalisation happens there. On a mesh (`sharding`), each process decodes only its own rows
of every batch (`data.source.process_rows`).

Everything an example is made of derives from its position in the epoch: the epoch's order
is a permutation drawn from `key`, and the example at position `p` is decoded and augmented
with a generator seeded by `(key, p)`. So the batches are the same for any `workers` (0 decodes
in a thread of the main process), and a run resumed at step `start` of an epoch reads what
an uninterrupted run would have read from there.

An unreadable file is skipped: in training, the next readable file in the epoch's order takes
its place (the batch keeps its size, the order stays the same for any `workers`); in
evaluation, its row is left out of the metrics (label -1). A `BadImageWarning` names each of the
first `NAMED_BAD` of a split, then one at the end of a pass counts them; `skipped` is the number
skipped in the latest pass (an epoch, an evaluation). More than `MAX_BAD_FRACTION` of a split
unreadable (and more than one file) is a `DatasetError`.

The worker processes block SIGINT and SIGTERM from their start and end with the main process:
a Ctrl-C at a terminal or a SIGTERM to the process group reaches the main process alone, which
stops at a step boundary and then stops its workers (closing the epoch's generator).

`throughput` holds, for this process, the loader's images/s (what its workers can decode,
from their busy time) and, from the training loop's measure of the device (`device_time`: the
loop does not wait for each step, so only it can tell), the training step's images/s and the
fraction of the time the device waited; a `DataWaitWarning` says so once when the device waits
more than `WAIT_WARNING` of the time on a loader slower than the step.
"""

import gc
import math
import multiprocessing
import multiprocessing.resource_tracker
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
from jaxtyping import Array, Int32, PRNGKeyArray, PyTree, UInt8

from .._extras import needs_extra
from ..errors import BadImage, BadImageWarning, DataWaitWarning
from .datasets import DatasetInfo
from .folder import Split, folder_info, open_splits
from .idx import DatasetError
from .source import process_rows, put_rows, whole_batches

MAX_BAD_FRACTION = 0.01  # of a split's files unreadable before the run stops
MAX_SKIPPED_IN_A_ROW = 50  # unreadable files in a row in an epoch's order: the folder is not images
NAMED_BAD = 10  # unreadable files of a split named one by one; the others are counted
WAIT_WARNING = 0.1  # fraction of the time the device may wait on data before a warning
WAIT_MEASURED_STEPS = 20  # steps of an epoch the training loop measured before that judgement
PREFETCH = 1  # batches each worker (or the loading thread) prepares ahead of the one it hands over
_REASON_BYTES = 200


def default_workers() -> int:
    """Worker processes by default: every CPU this process may use but one (left to the main process)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cpus - 1)


def _worker_init(worker: int, workers: int) -> None:
    """In a worker process: JAX, should anything start it, on the CPU, never taking an accelerator's memory;
    and an end as soon as the main process is gone (killed), which stops its workers otherwise."""
    os.environ["JAX_PLATFORMS"] = "cpu"
    threading.Thread(target=_exit_with_the_main_process, daemon=True).start()


def _exit_with_the_main_process() -> None:
    multiprocessing.parent_process().join()  # returns once the main process has ended
    os._exit(1)


def _first_batch(batches: Iterator[dict]) -> dict:
    """`next(batches)`, which starts grain's worker processes, in a thread that blocks SIGINT and SIGTERM,
    so that the workers block them from their first instruction: a Ctrl-C at a terminal or a SIGTERM to
    the process group (a scheduler) reaches the main process alone, which stops its workers itself
    instead of having them die under it mid-batch."""
    # multiprocessing unblocks the signals in the thread that starts its resource tracker: start it here.
    multiprocessing.resource_tracker.ensure_running()
    with ThreadPoolExecutor(1) as pool:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT, signal.SIGTERM))
        try:
            started = pool.submit(next, batches)  # its thread starts here and keeps the signals blocked
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        return started.result()


class _Example:
    """This process's `q`-th row of the epoch -> one example; a picklable callable for grain's workers.

    The process holds `rows` of each batch of `batch_size`: its row `q` is the example at
    position `(q // len(rows)) * batch_size + rows[q % len(rows)]` of the epoch.
    """

    def __init__(
        self,
        split: Split,
        transform: Callable,
        order: np.ndarray | None,
        seed: np.ndarray | None,
        batch_size: int,
        rows: range,
    ):
        self.split, self.transform, self.order, self.seed = split, transform, order, seed
        self.batch_size, self.rows = batch_size, rows

    def __call__(self, q: int) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        position = (q // len(self.rows)) * self.batch_size + self.rows[q % len(self.rows)]
        n, size = len(self.split), self.transform.size
        image, label, bad, reason = np.zeros((3, size, size), np.uint8), -1, -1, ""
        if position < n and self.order is None:  # evaluation, in order; the last batch is padded with label -1
            try:
                image, label = self.transform(self.split.open(position), None), int(self.split.labels[position])
            except BadImage as e:  # the row keeps label -1: left out of the metrics
                bad, reason = position, str(e)
        elif position < n:  # training: the next readable file of the epoch's order takes an unreadable one's place
            rng = None if self.seed is None else np.random.default_rng([*self.seed, position])
            for attempt in range(MAX_SKIPPED_IN_A_ROW):
                index = int(self.order[(position + attempt) % n])
                try:
                    image, label = self.transform(self.split.open(index), rng), int(self.split.labels[index])
                    break
                except BadImage as e:
                    if attempt == 0:
                        bad, reason = index, str(e)
            else:
                raise DatasetError(
                    f"{MAX_SKIPPED_IN_A_ROW} files in a row of {self.split.root} are unreadable, from "
                    f"{self.split.path(bad)} ({reason}): check that the folder holds images"
                )
        return {
            "image": image,
            "label": np.int32(label),
            "bad": np.int32(bad),
            "reason": np.bytes_(reason.encode()[:_REASON_BYTES]),
            "seconds": np.float32(time.perf_counter() - start),
        }


class StreamingSource:
    """A split of image files read through grain: shuffled for training, in order for evaluation.

    **Arguments:**

    - `split`: the files and labels (`data.folder.open_splits`).
    - `info`: the dataset's `DatasetInfo` (classes, crop size, mean and std).
    - `batch_size`: images per step (for evaluation, at most the split's size).
    - `transform`: `(image, rng) -> uint8 (3, s, s)` with a `size` attribute (`data.transforms`):
      `image` is `split.open(i)`, a path or a binary file object; `rng` a numpy `Generator`
      (`None` in evaluation).
    - `workers`: decoding processes; 0 decodes in a thread of this process; `None`: `default_workers()`.
    - `shuffle`: a training split: shuffled by each epoch's key, the last partial batch dropped,
      an unreadable file replaced. Otherwise an evaluation split: in order, the last batch padded
      with rows of label -1 (as are unreadable files), `chunks` called with `key=None`.
    - `limit`, `seed`: keep a random subset of `limit` files drawn from `seed` (quick runs).
    - `sharding`: the chunks' sharding on a mesh (`data.source`); an evaluation batch is then
      rounded up to split over its devices.
    """

    steps_per_call = 1  # a chunk is host data copied to the device: small chunks, put one ahead

    def __init__(
        self,
        split: Split,
        info: DatasetInfo,
        batch_size: int,
        transform: Callable,
        *,
        workers: int | None = None,
        shuffle: bool = True,
        limit: int | None = None,
        seed: int = 0,
        sharding: jax.sharding.Sharding | None = None,
    ):
        if limit is not None and limit < len(split):
            split = split.subset(np.sort(np.random.default_rng(seed).permutation(len(split))[:limit]))
        if shuffle and len(split) < batch_size:
            raise DatasetError(
                f"the batch size {batch_size} is larger than the {len(split)} training images of "
                f"{split.root}; lower `batch_size`"
            )
        batch_size = batch_size if shuffle else whole_batches(batch_size, len(split), sharding)
        self.split, self.info, self.batch_size, self.transform = split, info, batch_size, transform
        self.sharding, self.rows = sharding, range(*process_rows(batch_size, sharding).indices(batch_size))
        self.workers = default_workers() if workers is None else workers
        self.shuffle = shuffle
        self.steps_per_epoch = len(split) // batch_size if shuffle else math.ceil(len(split) / batch_size)
        self.bad: dict[int, str] = {}  # the unreadable files met so far: index -> reason
        self.skipped = 0  # unreadable files met in the latest pass
        self._reported = 0  # of `bad`, how many a warning has named or counted
        self.throughput: dict[str, float] = {}
        self._warned_wait = False
        self._device = dict.fromkeys(("steps", "busy", "elapsed"), 0.0)  # an epoch's, from `device_time`

    def chunks(self, key: PRNGKeyArray | None, start: int, steps: int) -> Iterator[tuple[int, PyTree]]:
        """`(first step, chunk)` for every `steps` steps of the epoch shuffled by `key`, from step `start`."""
        if (key is None) == self.shuffle:
            raise ValueError("a training source (shuffle=True) takes each epoch's key; an evaluation source key=None")
        order = seed = None
        if key is not None:
            seed = np.asarray(jax.device_get(jax.random.key_data(key)), np.uint32).ravel()  # a deliberate read
            order = np.random.default_rng(seed).permutation(len(self.split))
        example = _Example(self.split, self.transform, order, seed, self.batch_size, self.rows)
        batches = self._host_batches(example, start)  # a generator: closing it stops the workers
        self.skipped = 0
        self._device = dict.fromkeys(self._device, 0.0)
        decoding = decoded = 0
        ahead = None
        try:
            for first in range(start, self.steps_per_epoch, steps):
                host = [next(batches) for _ in range(min(steps, self.steps_per_epoch - first))]
                decoding += sum(float(b["seconds"].sum()) for b in host)
                decoded += len(host) * len(self.rows)
                self.throughput["loader_images_per_s"] = max(self.workers, 1) * decoded / max(decoding, 1e-9)
                self._count_bad(host)
                chunk = put_rows(
                    (np.stack([b["image"] for b in host]), np.stack([b["label"] for b in host])), self.sharding
                )
                if ahead is not None:
                    yield ahead
                ahead = (first, chunk)
            if ahead is not None:
                yield ahead
            self._count_unnamed()
        finally:
            batches.close()

    def device_time(self, steps: int, busy: float, elapsed: float) -> None:
        """Take the training loop's measure of its latest `steps` steps: the device worked `busy` of the
        `elapsed` seconds they took. Updates `throughput` over the epoch so far, and warns once when the
        device waited more than `WAIT_WARNING` of the time on a loader slower than the step."""
        device = self._device
        device["steps"] += steps
        device["busy"] += busy
        device["elapsed"] += max(elapsed, busy)
        self.throughput |= {
            "step_images_per_s": device["steps"] * len(self.rows) / max(device["busy"], 1e-9),
            "data_wait": 1 - device["busy"] / max(device["elapsed"], 1e-9),
        }
        t = self.throughput
        slow_loader = t.get("loader_images_per_s", math.inf) < t["step_images_per_s"]
        if (
            device["steps"] > WAIT_MEASURED_STEPS
            and not self._warned_wait
            and t["data_wait"] > WAIT_WARNING
            and slow_loader
        ):
            self._warned_wait = True
            warnings.warn(
                f"the device waited on data {t['data_wait']:.0%} of the time: the loader decodes about "
                f"{t['loader_images_per_s']:.0f} images/s with {self.workers} workers, a training step takes "
                f"{t['step_images_per_s']:.0f}/s; raise `workers` (this machine has {os.cpu_count()} CPUs) "
                "or lower `image_size`",
                DataWaitWarning,
                stacklevel=2,
            )

    def take(
        self, chunk: PyTree, i: Int32[Array, ""], j: Int32[Array, ""] | int
    ) -> tuple[UInt8[Array, "b c h w"], Int32[Array, " b"]]:
        """The batch at index `j` of the chunk (traced inside the compiled step)."""
        images, labels = chunk
        return images[j], labels[j]

    def _host_batches(self, example: _Example, start: int) -> Iterator[dict]:
        """The epoch's batches from step `start`, decoded by `self.workers` processes through grain;
        closing the generator stops them."""
        with needs_extra("training on image files"):  # here, not at import: `import eqx_resnet` stays light
            import grain
        from absl import flags

        # grain reads absl flags (worker profiling), which only an absl program has parsed: their defaults.
        if not flags.FLAGS.is_parsed():
            flags.FLAGS.mark_as_parsed()

        rows = len(self.rows)  # of each batch, this process's
        positions = grain.MapDataset.range(start * rows, self.steps_per_epoch * rows)
        dataset = (
            positions.map(example)
            .batch(rows)
            .to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=PREFETCH))
        )
        if self.workers:
            # Only the images go through shared memory; labels and timings are small enough to pickle.
            options = grain.experimental.DatasetOptions(min_shm_size=1 << 16)
            dataset = grain.experimental.WithOptionsIterDataset(dataset, options).mp_prefetch(
                grain.MultiprocessingOptions(num_workers=self.workers, per_worker_buffer_size=PREFETCH),
                worker_init_fn=_worker_init,
            )
        batches = iter(dataset)
        try:
            if self.workers:
                yield _first_batch(batches)
            yield from batches
        finally:
            batches.close()  # the workers stop; their queues, semaphores and shared memory are freed
            del batches
            if self.workers:
                gc.collect()  # grain's iterator lives in reference cycles that hold its shared memory

    def _count_bad(self, host: list[dict]) -> None:
        """Count the unreadable files of `host`'s batches, naming each of the first `NAMED_BAD` in a warning;
        stop when more than `MAX_BAD_FRACTION` of the split (and more than one file) is unreadable."""
        for batch in host:
            for row in np.flatnonzero(batch["bad"] >= 0):  # bad rows are rare: skip the rest in numpy
                self.skipped += 1
                index = int(batch["bad"][row])
                if index in self.bad:
                    continue
                path = self.split.path(index)
                # The reason without the path PIL repeats in it.
                reason = batch["reason"][row].decode(errors="replace").replace(f" {str(path)!r}", "")
                self.bad[index] = reason
                # Each process decodes its own part of the split and counts its own.
                if len(self.bad) > max(1, MAX_BAD_FRACTION * len(self.split) / jax.process_count()):
                    raise DatasetError(
                        f"{len(self.bad)} of the {len(self.split)} images in {self.split.root} are unreadable, more than "
                        f"{MAX_BAD_FRACTION:.0%} (the last: {path}: {reason}): repair or remove them"
                    )
                if len(self.bad) <= NAMED_BAD:
                    self._reported = len(self.bad)
                    last = "; the next ones are counted, not named" if len(self.bad) == NAMED_BAD else ""
                    warnings.warn(
                        f"skipped unreadable image {path}: {reason} ({len(self.bad)} so far{last})",
                        BadImageWarning,
                        stacklevel=3,
                    )

    def _count_unnamed(self) -> None:
        """At the end of a pass, one warning counting the unreadable files met since the last one named or counted."""
        if len(self.bad) > self._reported:
            self._reported = len(self.bad)
            warnings.warn(
                f"skipped {len(self.bad)} unreadable images of {self.split.root} so far (the first {NAMED_BAD} named "
                "above); repair or remove them",
                BadImageWarning,
                stacklevel=3,
            )


def folder_sources(
    dataset: str,
    data_dir: str | os.PathLike,
    *,
    batch_size: int,
    eval_batch_size: int,
    image_size: int | None,
    augment: bool,
    workers: int | None,
    val_fraction: float | None = None,
    limit: int | None = None,
    seed: int = 0,
    sharding: jax.sharding.Sharding | None = None,
) -> tuple[StreamingSource, StreamingSource]:
    """The training and evaluation sources of an image-folder dataset (`data.folder.open_splits`).

    Training crops are `RandomResizedCrop` and flip when `augment` (else the evaluation
    transform); evaluation resizes and centre-crops. `image_size` is the crop's side
    (default: the dataset's, 224). `sharding`: see `StreamingSource`.
    """
    from .transforms import TrainTransform  # Pillow: the [data] extra, imported where images are read

    train, val = open_splits(dataset, data_dir, val_fraction=val_fraction)
    info = folder_info(dataset, train.classes, image_size)
    size = info.image_shape[-1]
    return (
        StreamingSource(
            train,
            info,
            batch_size,
            TrainTransform(size, augment=augment, crop_pct=info.crop_pct),
            workers=workers,
            limit=limit,
            seed=seed,
            sharding=sharding,
        ),
        eval_source(val, info, eval_batch_size, workers=workers, sharding=sharding),
    )


def eval_source(
    split: Split,
    info: DatasetInfo,
    batch_size: int,
    *,
    workers: int | None,
    sharding: jax.sharding.Sharding | None = None,
) -> StreamingSource:
    """The evaluation source of `split`: in order, each image resized and centre-cropped to
    `info`'s crop (`EvalTransform`). Arguments as `StreamingSource`'s."""
    from .transforms import EvalTransform  # Pillow: the [data] extra, imported where images are read

    return StreamingSource(
        split,
        info,
        batch_size,
        EvalTransform(info.image_shape[-1], crop_pct=info.crop_pct),
        workers=workers,
        shuffle=False,
        sharding=sharding,
    )
