"""The validation split held out of a training split (data/holdout.py): a share of each class, always the same."""

import numpy as np

from eqx_resnet.data import Dataset, dataset_info
from eqx_resnet.data.holdout import hold_out


def test_hold_out_takes_a_share_of_each_class_and_always_the_same_images():
    labels = np.random.default_rng(1).permutation(np.repeat(np.arange(3, dtype=np.int32), [10, 20, 30]))
    images = np.zeros((60, 1, 28, 28), np.uint8)
    images[:, 0, 0, 0] = np.arange(60)  # each image tells which it is
    kept, held = hold_out(Dataset(images, labels, dataset_info("mnist")), 0.1)
    assert np.bincount(held.labels).tolist() == [1, 2, 3]
    ids = np.concatenate([kept.images[:, 0, 0, 0], held.images[:, 0, 0, 0]])
    assert sorted(ids.tolist()) == list(range(60))  # every image once, on one side
    np.testing.assert_array_equal(labels[held.images[:, 0, 0, 0]], held.labels)
    again = hold_out(Dataset(images, labels, dataset_info("mnist")), 0.1)[1]
    np.testing.assert_array_equal(again.images, held.images)
