"""AvgPool2d against PyTorch's nn.AvgPool2d, the layer timm's ResNets pool with: the ResNet-D
shortcut's AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) and resnetaa's AvgPool2d(2),
on odd maps where ceil mode's last window overhangs, and with padding counted or not."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _timm import timm

from eqx_resnet.models.avg_pool import AvgPool2d

OPTIONS = [
    (2, 2, 0, True, False),  # the avg_down shortcut at stride 2 (timm's downsample_avg)
    (2, None, 0, False, True),  # resnetaa's stem pool and anti-aliasing, AvgPool2d(2)
    (3, 2, 1, True, False),
    (3, 2, 1, True, True),
    (3, 2, 1, False, True),
    (3, 1, 1, False, False),
    (2, 1, 0, True, False),
]


SIZES = [(7, 9), (8, 8), (5, 6), (1, 2)]


def pool_output(x: np.ndarray, ours: AvgPool2d, theirs: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """Both pools of the channels-first example `x`, channels-last."""
    expected = theirs(torch.from_numpy(x)).numpy()
    return np.asarray(ours(jnp.moveaxis(x, 0, -1))), np.moveaxis(expected, 0, -1)


@pytest.mark.parametrize(
    ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "h", "w"),
    [(*option, h, w) for option in OPTIONS for h, w in SIZES if min(h, w) + 2 * option[2] >= option[0]],
)
def test_avg_pool_is_pytorchs(kernel_size, stride, padding, ceil_mode, count_include_pad, h, w):
    options = dict(padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    x = np.random.default_rng(0).normal(size=(4, h, w)).astype(np.float32)
    got, expected = pool_output(
        x, AvgPool2d(kernel_size, stride, **options), torch.nn.AvgPool2d(kernel_size, stride, **options)
    )
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(("h", "w"), SIZES)
def test_avg_pool_is_the_pool_of_timms_avg_down_shortcut(h, w):
    theirs = timm.models.resnet.downsample_avg(4, 8, kernel_size=1, stride=2)[0]
    x = np.random.default_rng(1).normal(size=(4, h, w)).astype(np.float32)
    got, expected = pool_output(x, AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False), theirs)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_avg_pool_refuses_too_much_padding():
    with pytest.raises(ValueError, match=r"padding=2 must be between 0 and half of kernel_size=3"):
        AvgPool2d(3, padding=2)
