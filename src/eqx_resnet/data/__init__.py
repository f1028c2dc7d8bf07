"""The data layer: dataset files, their parsers, normalisation, augmentation and preprocessing.

Data is held on the host as numpy (uint8 images, int32 labels); `normalize`
and the augmentations are pure jax, meant to run inside the jitted step.
"""

from .augment import AUGMENTATIONS, augment_cifar, augment_mnist, resize
from .cifar import read_cifar_batch
from .datasets import DATASETS, Dataset, DatasetInfo, dataset_info, load_dataset, normalize
from .idx import DatasetError, read_idx
from .prepare import load_image, prepare
from .preprocessing import Preprocessing
from .source import InMemorySource

__all__ = [
    "AUGMENTATIONS",
    "DATASETS",
    "Dataset",
    "DatasetError",
    "DatasetInfo",
    "InMemorySource",
    "Preprocessing",
    "augment_cifar",
    "augment_mnist",
    "dataset_info",
    "load_dataset",
    "load_image",
    "normalize",
    "prepare",
    "read_cifar_batch",
    "read_idx",
    "resize",
]
