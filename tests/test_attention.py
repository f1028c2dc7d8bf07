"""SqueezeExcite and EfficientChannelAttention against timm's SEModule and EcaModule: the same weights
(timm's state dict, loaded by name) give the same outputs, and the reduced channels and kernel sizes
are timm's for every width the ResNet family uses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _timm import load_timm, run_ours, run_timm, timm

from eqx_resnet.models.attention import EfficientChannelAttention, SqueezeExcite
from eqx_resnet.weights import to_state_dict

SEModule, EcaModule = timm.layers.SEModule, timm.layers.EcaModule


def random_input(channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(3, channels, 7, 9)).astype(np.float32)


@pytest.mark.parametrize(("channels", "rd_ratio"), [(64, 1 / 16), (256, 1 / 16), (24, 1 / 16), (128, 0.25)])
def test_squeeze_excite_is_timms(channels, rd_ratio):
    torch.manual_seed(0)
    theirs = timm.layers.create_attn("se", channels, rd_ratio=rd_ratio)
    for parameter in theirs.parameters():  # biases away from zero, so a missing bias would show
        torch.nn.init.normal_(parameter, std=0.5)
    ours, state = load_timm(SqueezeExcite(channels, rd_ratio, key=jax.random.key(0)), theirs)
    x = random_input(channels)
    difference = np.abs(run_ours(ours, x) - run_timm(theirs, x)).max()
    assert difference < 1e-5, difference
    assert to_state_dict(ours, state).keys() == theirs.state_dict().keys()


@pytest.mark.parametrize("channels", [64, 128, 256, 512, 1024, 2048, 24, 8])
@pytest.mark.parametrize("rd_ratio", [1 / 16, 0.25])
def test_squeeze_excite_reduces_channels_as_timm(channels, rd_ratio):
    ours = SqueezeExcite(channels, rd_ratio, key=jax.random.key(0))
    assert ours.fc1.weight.shape == tuple(SEModule(channels, rd_ratio=rd_ratio).fc1.weight.shape)


@pytest.mark.parametrize("channels", [64, 128, 256, 512, 1024, 2048, 3])
def test_efficient_channel_attention_is_timms(channels):
    torch.manual_seed(0)
    theirs = timm.layers.create_attn("eca", channels)
    ours, state = load_timm(EfficientChannelAttention(channels, key=jax.random.key(0)), theirs)
    assert ours.conv.weight.shape == tuple(theirs.conv.weight.shape)  # the kernel size from the channels
    x = random_input(channels)
    difference = np.abs(run_ours(ours, x) - run_timm(theirs, x)).max()
    assert difference < 1e-5, difference
    assert to_state_dict(ours, state).keys() == theirs.state_dict().keys()


@pytest.mark.parametrize(
    "layer", [SqueezeExcite(16, key=jax.random.key(0)), EfficientChannelAttention(16, key=jax.random.key(0))]
)
def test_attention_refuses_a_channels_first_example(layer):
    with pytest.raises(ValueError, match=r"\(height, width, 16\), got shape \(16, 7, 9\); move the channels last"):
        layer(jnp.zeros((16, 7, 9)))
