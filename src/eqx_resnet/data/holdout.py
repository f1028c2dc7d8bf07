"""A validation split held out of a training split: `val_fraction` of each class, the same whatever the seed.

The image folders (`data/folder.py`) and the in-memory datasets (MNIST, CIFAR-10) hold out
the same way, so that a recipe is compared on images it never trained on and the test split
is read once, for the recipe chosen.
"""

import numpy as np
from jaxtyping import Bool, Int

from .datasets import Dataset
from .idx import DatasetError


def held_out(labels: Int[np.ndarray, " n"], num_classes: int, fraction: float) -> Bool[np.ndarray, " n"]:
    """Which of `labels` are held out: `fraction` of each class (at least one, never all), drawn
    with a fixed seed so that every run of any seed holds out the same images."""
    if not 0.0 < fraction < 1.0:
        raise DatasetError(f"`val_fraction` must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(0)
    held = np.zeros(len(labels), bool)
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        held[rng.permutation(members)[:count]] = True
    return held


def hold_out(dataset: Dataset, fraction: float) -> tuple[Dataset, Dataset]:
    """`dataset` split into what it keeps and `fraction` of each class held out, in their order."""
    held = held_out(dataset.labels, dataset.info.num_classes, fraction)
    return (
        Dataset(dataset.images[~held], dataset.labels[~held], dataset.info),
        Dataset(dataset.images[held], dataset.labels[held], dataset.info),
    )
