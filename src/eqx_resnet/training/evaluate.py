"""Test loss and accuracy of a model over a whole split, in inference mode, read through a data source.

An evaluation source has the interface of `data.source` with `key=None`: `chunks(None, 0, 1)`
hands out the split in order and `take(chunk, i, 0)` gives step `i`'s uint8 images and labels,
the last batch padded with rows of label -1, which count nowhere: `data.source.InMemorySplit`
(MNIST, CIFAR-10) or `data.stream.StreamingSource(shuffle=False)` (image files).
"""

import os
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Int, Real

from .._messages import few
from .._xla_cpu import compiler_options
from ..data import DatasetError, DatasetInfo, load_dataset, prepare
from ..data.folder import STREAMING_DATASETS, folder_info, open_splits
from ..data.holdout import hold_out
from ..data.source import InMemorySplit
from ..data.stream import eval_source
from .config import TrainConfig
from .metadata import RunMetadata
from .step import Precision, eval_step


def make_source_evaluator(
    source, *, image_size: int | None = None, precision: Precision = "fp32"
) -> Callable[[eqx.Module, eqx.nn.State], dict[str, float]]:
    """`evaluate(model, state) -> {"test_loss", "test_acc"}` over every image of an evaluation `source`.

    Rows of label -1 (padding, unreadable files) are masked out, so every image counts
    exactly once whatever the batch size.
    """

    @eqx.filter_jit(compiler_options=compiler_options())
    def batch_sums(model, state, chunk, i):
        images, labels = source.take(chunk, i, 0)
        valid = labels >= 0
        x = prepare(images, source.info, image_size)
        sums = eval_step(model, state, x, jnp.maximum(labels, 0), precision=precision, mask=valid)
        return {**sums, "count": jnp.sum(valid)}

    def evaluate(model: eqx.Module, state: eqx.nn.State) -> dict[str, float]:
        # One call per batch: XLA's CPU backend runs loop bodies markedly slower.
        sums = [batch_sums(model, state, chunk, jnp.int32(i)) for i, chunk in source.chunks(None, 0, 1)]
        n = sum(int(s["count"]) for s in sums)
        if n == 0:
            raise DatasetError(f"the {source.info.name} evaluation split has no readable image")
        return {
            "test_loss": sum(float(s["loss_sum"]) for s in sums) / n,
            "test_acc": sum(int(s["correct"]) for s in sums) / n,
        }

    return evaluate


def make_evaluator(
    images: Real[np.ndarray | jax.Array, "n c h w"],
    labels: Int[np.ndarray | jax.Array, " n"],
    info: DatasetInfo,
    *,
    image_size: int | None = None,
    precision: Precision = "fp32",
    batch_size: int = 1000,
) -> Callable[[eqx.Module, eqx.nn.State], dict[str, float]]:
    """`evaluate(model, state) -> {"test_loss", "test_acc"}` over every image of a split held in arrays
    (uint8 `(n, c, h, w)` images, int `(n,)` labels), `batch_size` images per compiled call."""
    return make_source_evaluator(
        InMemorySplit(images, labels, info, batch_size), image_size=image_size, precision=precision
    )


def run_evaluator(
    meta: RunMetadata, data_dir: str | os.PathLike
) -> Callable[[eqx.Module, eqx.nn.State], dict[str, float]]:
    """The evaluator of a training run's evaluation split in `data_dir`, prepared as in the run
    (`eqx-resnet eval`): the test split of a small dataset, or the images its `val_fraction` held out of
    the training split; a folder dataset's validation split."""
    if meta.dataset in STREAMING_DATASETS:
        config = TrainConfig.from_dict(meta.config)
        _, val = open_splits(meta.dataset, data_dir, val_fraction=config.val_fraction)
        info = folder_info(meta.dataset, val.classes, config.image_size)
        if list(info.classes) != list(meta.class_names):
            raise DatasetError(
                f"{data_dir} holds the classes {few(info.classes)}, the run was trained on "
                f"{few(meta.class_names)}: pass the run's own `data_dir`"
            )
        source = eval_source(val, info, config.eval_batch_size, workers=config.workers)
        return make_source_evaluator(source, image_size=config.image_size, precision=meta.precision)
    val_fraction = meta.config.get("val_fraction")
    if val_fraction is None:
        test = load_dataset(meta.dataset, "test", data_dir)
    else:  # the run evaluated on images held out of its training split
        test = hold_out(load_dataset(meta.dataset, "train", data_dir), val_fraction)[1]
    return make_evaluator(
        test.images,
        test.labels,
        test.info,
        image_size=meta.preprocessing.crop_size,
        precision=meta.precision,
    )
