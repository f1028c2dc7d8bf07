"""BlurPool2d and create_aa against timm's BlurPool2d and create_aa: the same outputs on odd and even
maps for every filter size, stride and border mode, no entries in the state dict (timm's filter is a
non-persistent buffer), and create_aa's layer for each anti-aliasing option resnet.py uses."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _timm import run_ours, run_timm, timm

from eqx_resnet.models.avg_pool import AvgPool2d
from eqx_resnet.models.blur import BlurPool2d, create_aa
from eqx_resnet.weights import to_state_dict

SIZES = [(7, 9), (8, 8), (5, 6)]


def random_input(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(3, 8, h, w)).astype(np.float32)


@pytest.mark.parametrize(("h", "w"), SIZES)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("filt_size", [3, 5, 2, 4])
@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_blur_pool_is_timms(h, w, stride, filt_size, pad_mode):
    theirs = timm.layers.BlurPool2d(8, filt_size=filt_size, stride=stride, pad_mode=pad_mode)
    ours = BlurPool2d(filt_size, stride, pad_mode)
    x = random_input(h, w)
    expected = run_timm(theirs, x)
    got = run_ours(ours, x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_blur_pool_has_no_state_dict_entries():
    theirs = timm.layers.BlurPool2d(8)
    ours = BlurPool2d()
    assert to_state_dict(ours, eqx.nn.State(ours)) == {} == theirs.state_dict()


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("avg", torch.nn.AvgPool2d), ("blur", timm.layers.BlurPool2d), ("blurpc", "blurpc"), (None, None)],
)
@pytest.mark.parametrize(("stride", "enable"), [(2, True), (1, True), (2, False)])
@pytest.mark.parametrize(("h", "w"), SIZES)
def test_create_aa_is_timms(ours, theirs, stride, enable, h, w):
    x = random_input(h, w)
    expected = run_timm(timm.layers.create_aa(theirs, channels=8, stride=stride, enable=enable), x)
    got = run_ours(create_aa(ours, stride, enable), x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_create_aa_builds_the_layers_the_blocks_stride_with():
    assert create_aa("avg") == AvgPool2d(2)
    assert create_aa("blur", 2) == BlurPool2d(stride=2)
    assert isinstance(create_aa("blur", 2, enable=False), eqx.nn.Identity)


def test_create_aa_refuses_an_unknown_layer():
    with pytest.raises(ValueError, match=r"aa_layer='max' is not an anti-aliasing layer: use one of \('avg', 'blur'"):
        create_aa("max")


def test_blur_pool_blurs_a_jitted_bfloat16_example():
    x = jnp.ones((7, 9, 4), jnp.bfloat16)
    y = jax.jit(BlurPool2d())(x)
    assert y.dtype == jnp.bfloat16 and y.shape == (4, 5, 4)
    np.testing.assert_allclose(np.asarray(y, np.float32), 1.0)  # a blur of a constant map is the constant
