"""Data sources: what the training engine and the evaluator read batches from.

A source knows its dataset (`info`: class names, image shape, normalisation), its global
`batch_size` and `steps_per_epoch`, and hands out an epoch from any step as chunks of
consecutive steps, on the device: uint8 images `(steps, batch, c, h, w)` and int32 labels
`(steps, batch)`. The engine passes each chunk into its compiled step function, which reads
step `i` of the epoch (`j` of the chunk) with `source.take(chunk, i, j)`: images `(batch, c,
h, w)` and labels `(batch,)`. The position in the data is `(epoch, step)` alone, so a run
resumes from a checkpoint to the same batches. `skipped` counts the unreadable images the latest
pass (an epoch, an evaluation) left out: always 0 in memory.

On a mesh, a source takes the chunks' `sharding` (their batch axis, axis 1, split over the
devices: `training.sharding.batch_sharding(mesh, 1)`), and each process reads, decodes and puts
on its devices only its own rows of every batch (`process_rows`); the chunk is the global
array the processes' rows make together, the same batch as one process would read.

`InMemorySource` (training, shuffled) and `InMemorySplit` (evaluation, in order) hold a whole
split in host memory (MNIST, CIFAR-10) and put their batches on the device at once: an
epoch's at its start, an evaluation split's when the source is made.
"""

from collections.abc import Iterator

import jax
import numpy as np
from jax.sharding import Sharding
from jaxtyping import Array, Int, Int32, PRNGKeyArray, PyTree, Real, UInt8

from .datasets import Dataset, DatasetError, DatasetInfo


def process_rows(batch_size: int, sharding: Sharding | None) -> slice:
    """This process's rows of each global batch of `batch_size`: the processes hold equal
    consecutive parts in process order, the order of the mesh's devices (`data_mesh`)."""
    if sharding is None:
        return slice(None)
    rows = batch_size // jax.process_count()
    return slice(jax.process_index() * rows, (jax.process_index() + 1) * rows)


def put_rows(tree: PyTree, sharding: Sharding | None) -> PyTree:
    """`tree`'s host arrays, this process's rows along the sharded axis, onto `sharding`'s
    devices as the global arrays of every process's rows; onto the default device when `None`."""
    if sharding is None:
        return jax.device_put(tree)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), tree)


def whole_batches(batch_size: int, n: int, sharding: Sharding | None) -> int:
    """An evaluation batch: at most the split's `n`, rounded up to split evenly over the devices."""
    devices = 1 if sharding is None else sharding.num_devices
    return -(-min(batch_size, n) // devices) * devices


class InMemorySource:
    """A split in host memory, shuffled every epoch; the last partial batch is dropped (torch's `drop_last`).

    **Arguments:** the `dataset`, the global `batch_size`; `limit` keeps a random subset of that
    many examples (drawn from `seed`) for quick runs; `sharding` (see the module's docstring).
    """

    skipped = 0  # every image is readable: it was decoded already

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        limit: int | None = None,
        seed: int = 0,
        sharding: Sharding | None = None,
    ):
        images, labels = dataset.images, dataset.labels
        if limit is not None and limit < len(labels):
            keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
            images, labels = images[keep], labels[keep]
        if len(labels) < batch_size:
            raise DatasetError(
                f"the batch size {batch_size} is larger than the {len(labels)} training images of "
                f"{dataset.info.name}; lower `batch_size`"
            )
        self.info = dataset.info
        self.images, self.labels = np.asarray(images), np.asarray(labels, np.int32)
        self.batch_size, self.sharding = batch_size, sharding
        self.steps_per_epoch = len(labels) // batch_size

    @property
    def size(self) -> int:
        return len(self.labels)

    def chunks(self, key: PRNGKeyArray, start: int, steps: int) -> Iterator[tuple[int, PyTree]]:
        """`(first step, chunk)` for every `steps` steps of the epoch shuffled by `key`, from step `start`;
        every chunk is the whole epoch, its batches in order."""
        order = jax.device_get(jax.random.permutation(key, self.size))[: self.steps_per_epoch * self.batch_size]
        order = order.reshape(self.steps_per_epoch, self.batch_size)[:, process_rows(self.batch_size, self.sharding)]
        epoch = put_rows((self.images[order], self.labels[order]), self.sharding)
        for first in range(start, self.steps_per_epoch, steps):
            yield first, epoch

    def take(
        self, chunk: PyTree, i: Int32[Array, ""], j: Int32[Array, ""] | int
    ) -> tuple[UInt8[Array, "b c h w"], Int32[Array, " b"]]:
        """Step `i`'s batch of the epoch (traced inside the compiled step)."""
        images, labels = chunk
        return images[i], labels[i]


class InMemorySplit:
    """A split in host memory, in order, for evaluation: padded to whole batches with rows of label -1.

    **Arguments:** `images` `(n, c, h, w)` (uint8 pixels), `labels` int `(n,)`, the dataset's
    `info`, `batch_size` (at most `n`, rounded up to split over the devices) and `sharding`.
    `chunks(None, start, steps)` hands out the whole split for every `steps` steps.
    """

    skipped = 0  # every image is readable: it was decoded already

    def __init__(
        self,
        images: Real[np.ndarray | Array, "n c h w"],
        labels: Int[np.ndarray | Array, " n"],
        info: DatasetInfo,
        batch_size: int,
        *,
        sharding: Sharding | None = None,
    ):
        n = len(labels)
        self.info, self.batch_size = info, whole_batches(batch_size, n, sharding)
        pad = -n % self.batch_size
        self.steps_per_epoch = (n + pad) // self.batch_size
        images = np.concatenate([np.asarray(images), np.zeros((pad, *images.shape[1:]), images.dtype)])
        labels = np.concatenate([np.asarray(labels, np.int32), np.full(pad, -1, np.int32)])
        rows = process_rows(self.batch_size, sharding)
        batched = lambda a: a.reshape(self.steps_per_epoch, self.batch_size, *a.shape[1:])[:, rows]
        self.split = put_rows((batched(images), batched(labels)), sharding)

    def chunks(self, key: None, start: int, steps: int) -> Iterator[tuple[int, PyTree]]:
        for first in range(start, self.steps_per_epoch, steps):
            yield first, self.split

    def take(
        self, chunk: PyTree, i: Int32[Array, ""], j: Int32[Array, ""] | int
    ) -> tuple[Real[Array, "b c h w"], Int32[Array, " b"]]:
        images, labels = chunk
        return images[i], labels[i]
