"""On-device augmentation: shapes, determinism, geometry against numpy references."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from eqx_resnet.data import (
    AUGMENTATIONS,
    DATASETS,
    augment_cifar,
    augment_mnist,
    load_dataset,
    resize,
)
from eqx_resnet.data.augment import affine_warp
from eqx_resnet.data.folder import STREAMING_DATASETS

REPO_DATA = Path(__file__).parents[1] / "data"

# One compiled step per dataset, always called on the same shapes, so each compiles once.
MNIST_STEP = jax.jit(augment_mnist)
CIFAR_STEP = jax.jit(augment_cifar)
MNIST_SHAPE, CIFAR_SHAPE = (128, 1, 28, 28), (256, 3, 32, 32)


def random_images(shape, dtype):
    return np.random.default_rng(0).integers(1, 256, shape).astype(dtype)


@pytest.fixture(scope="module")
def digits():
    """128 real MNIST test digits as float32 pixels on the 0..255 scale."""
    ds = load_dataset("mnist", "test", REPO_DATA, download=False)
    return jnp.asarray(ds.images[:128], jnp.float32)


def corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_registry_covers_every_dataset_held_in_memory():
    assert AUGMENTATIONS == {"mnist": augment_mnist, "fashion-mnist": augment_mnist, "cifar10": augment_cifar}
    assert set(AUGMENTATIONS) == set(DATASETS) - set(STREAMING_DATASETS)  # image folders augment in workers


@pytest.mark.parametrize(
    "step, shape, dtype",
    [
        (MNIST_STEP, MNIST_SHAPE, jnp.float32),
        (CIFAR_STEP, CIFAR_SHAPE, jnp.float32),
        (CIFAR_STEP, CIFAR_SHAPE, jnp.uint8),
    ],
)
def test_deterministic_and_shape_preserving(step, shape, dtype):
    images = random_images(shape, dtype)
    a = step(jax.random.key(1), images)
    assert a.shape == shape and a.dtype == dtype
    np.testing.assert_array_equal(a, step(jax.random.key(1), images))
    assert not np.array_equal(a, step(jax.random.key(2), images))


@pytest.mark.parametrize("step, shape", [(MNIST_STEP, MNIST_SHAPE), (CIFAR_STEP, CIFAR_SHAPE)])
def test_one_draw_per_image(step, shape):
    image = random_images(shape[1:], jnp.float32)
    out = np.asarray(step(jax.random.key(3), np.broadcast_to(image, shape)))
    # Identical inputs, distinct outputs: all 128 for MNIST, ~129 expected for
    # 256 CIFAR draws from its 162 crop-flips.
    assert len({o.tobytes() for o in out}) > 100


def test_affine_warp_identity(digits):
    np.testing.assert_array_equal(affine_warp(digits[0], 0.0, jnp.zeros(2)), digits[0])


def test_affine_warp_geometry():
    image = jnp.zeros((1, 5, 5)).at[0, 2, 4].set(1.0)  # right of the centre
    rotated = np.asarray(affine_warp(image, 90.0, jnp.zeros(2)))[0]
    assert rotated[0, 2] == pytest.approx(1.0, abs=1e-5)  # counter-clockwise: now above
    assert rotated.sum() == pytest.approx(1.0, abs=1e-5)
    shifted = np.asarray(affine_warp(image.at[0, 1, 1].set(0.5), 0.0, jnp.array([-2.0, 1.0])))[0]
    assert shifted[3, 2] == 1.0 and shifted[2, 0] == 0.0  # (1, 1) fell off the left edge
    assert shifted.sum() == 1.0  # zero fill brings in nothing


def test_mnist_shifts_are_whole_pixels_within_ten_percent():
    # A centred blob: rotation about the centre keeps its centroid, so the
    # centroid moves by exactly the translation.
    image = np.zeros((1, 28, 28), np.float32)
    image[0, 13:15, 13:15] = 255.0
    out = np.asarray(MNIST_STEP(jax.random.key(0), np.broadcast_to(image, MNIST_SHAPE)))
    ys, xs = np.mgrid[:28, :28]
    mass = out[:, 0].sum(axis=(1, 2))
    centroid = np.stack([(out[:, 0] * c).sum((1, 2)) / mass for c in (xs, ys)], 1)
    shift = centroid - 13.5
    np.testing.assert_allclose(shift, np.round(shift), atol=0.05)
    assert set(np.round(shift).astype(int).ravel()) == set(range(-3, 4))  # round(U(-2.8, 2.8))


def test_mnist_augmentation_keeps_the_digit(digits):
    out = np.asarray(MNIST_STEP(jax.random.key(0), digits))[:, 0]
    orig = np.asarray(digits)[:, 0]
    # Up to its whole-pixel translation, an augmented digit is its original, slightly rotated.
    shifts = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)]
    aligned = [max(corr(o, np.roll(x, s, (0, 1))) for s in shifts) for o, x in zip(out, orig)]
    assert np.mean(aligned) > 0.85 and np.min(aligned) > 0.6
    # And it is closer to its own original than to other digits.
    own = np.mean([corr(o, x) for o, x in zip(out, orig)])
    other = np.mean([corr(o, x) for o, x in zip(out, np.roll(orig, 1, 0))])
    assert own > other + 0.1


def test_cifar_crop_flip_matches_numpy_reference():
    images = random_images(CIFAR_SHAPE, jnp.uint8)  # no zeros: padding is recognisable
    out = np.asarray(CIFAR_STEP(jax.random.key(1), images))
    padded = np.pad(np.asarray(images), ((0, 0), (0, 0), (4, 4), (4, 4)))
    flips, offsets = [], set()
    for o, p in zip(out, padded):
        windows = sliding_window_view(p, (32, 32), axis=(1, 2))  # (3, 9, 9, 32, 32)
        plain = np.argwhere((windows == o[:, None, None]).all(axis=(0, 3, 4)))
        flipped = np.argwhere((windows == o[:, None, None, :, ::-1]).all(axis=(0, 3, 4)))
        assert len(plain) + len(flipped) == 1  # exactly one window of the zero-padded input
        flips.append(len(flipped) == 1)
        offsets.add(tuple((plain if len(plain) else flipped)[0]))
    assert 0.4 < np.mean(flips) < 0.6
    assert len(offsets) > 60  # of the 81 possible crops
    rows, cols = zip(*offsets)
    assert set(rows) == set(cols) == set(range(9))  # from flush top/left to flush bottom/right


def test_resize():
    images = jnp.full((4, 1, 28, 28), 7.0)
    out = jax.jit(resize, static_argnums=1)(images, 96)
    assert out.shape == (4, 1, 96, 96) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, 7.0, rtol=1e-6)
