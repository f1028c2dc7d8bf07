"""Data sources: what the training engine reads batches from.

A source knows its dataset (`info`: class names, image shape, normalisation), its
`batch_size` and `steps_per_epoch`, and hands out an epoch from any step as chunks
of consecutive steps. The engine passes each chunk into its compiled step function,
which reads step `i` of the epoch (`j` of the chunk) with `source.take(chunk, i, j)`:
uint8 images `(batch, c, h, w)` and int32 labels `(batch,)`. The position in the data
is `(epoch, step)` alone, so a run resumes from a checkpoint to the same batches.

`InMemorySource` holds a whole split on the device (MNIST, CIFAR-10): a chunk is the
split and the epoch's order, and `take` gathers inside the compiled step.
"""

from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Int32, PRNGKeyArray, PyTree, UInt8

from .datasets import Dataset, DatasetError


class InMemorySource:
    """A split on the device, shuffled every epoch; the last partial batch is dropped (torch's `drop_last`)."""

    def __init__(self, dataset: Dataset, batch_size: int, *, limit: int | None = None, seed: int = 0):
        """`limit` keeps a random subset of that many examples (drawn from `seed`) for quick runs."""
        images, labels = dataset.images, dataset.labels
        if limit is not None and limit < len(labels):
            keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
            images, labels = images[keep], labels[keep]
        if len(labels) < batch_size:
            raise DatasetError(
                f"the batch size {batch_size} is larger than the {len(labels)} training images of "
                f"{dataset.info.name}; lower --batch-size"
            )
        self.info = dataset.info
        self.images, self.labels = jnp.asarray(images), jnp.asarray(labels)
        self.batch_size = batch_size
        self.steps_per_epoch = len(labels) // batch_size

    @property
    def size(self) -> int:
        return int(self.labels.shape[0])

    def chunks(self, key: PRNGKeyArray, start: int, steps: int) -> Iterator[tuple[int, PyTree]]:
        """`(first step, chunk)` for every `steps` steps of the epoch shuffled by `key`, from step `start`."""
        order = jax.random.permutation(key, self.size)[: self.steps_per_epoch * self.batch_size]
        for first in range(start, self.steps_per_epoch, steps):
            yield first, (self.images, self.labels, order)

    def take(
        self, chunk: PyTree, i: Int32[Array, ""], j: Int32[Array, ""] | int
    ) -> tuple[UInt8[Array, "b c h w"], Int32[Array, " b"]]:
        """Step `i`'s batch of the epoch (traced inside the compiled step)."""
        images, labels, order = chunk
        idx = lax.dynamic_slice_in_dim(order, i * self.batch_size, self.batch_size)
        return images[idx], labels[idx]
