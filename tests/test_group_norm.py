"""GroupNorm against timm's GroupNorm (resnet50_gn's norm layer): the same outputs from the same
weights, the state passed through as BatchNorm's call passes it, and timm's state-dict names."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _timm import load_timm, run_ours, run_timm, timm

from eqx_resnet.models.group_norm import GroupNorm
from eqx_resnet.weights import to_state_dict


@pytest.mark.parametrize(("channels", "groups"), [(64, 32), (256, 32), (32, 32), (12, 3), (8, 1)])
@pytest.mark.parametrize(("h", "w"), [(7, 9), (2, 1)])
def test_group_norm_is_timms(channels, groups, h, w):
    torch.manual_seed(0)
    theirs = timm.layers.GroupNorm(channels, groups)
    for parameter in theirs.parameters():
        torch.nn.init.normal_(parameter, std=0.5)
    ours, state = load_timm(GroupNorm(channels, groups), theirs)
    assert to_state_dict(ours, state).keys() == theirs.state_dict().keys()
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(3, channels, h, w)).astype(np.float32)
    got = run_ours(lambda x: ours(x, state)[0], x)
    np.testing.assert_allclose(got, run_timm(theirs, x), atol=1e-5)


def test_group_norm_passes_the_state_as_batch_norm_does():
    norm, state = eqx.nn.make_with_state(GroupNorm)(8, 4)
    y, new_state = jax.vmap(norm, in_axes=(0, None), out_axes=(0, None))(jnp.ones((2, 3, 3, 8)), state)
    assert jax.tree.structure(new_state) == jax.tree.structure(state) and y.shape == (2, 3, 3, 8)


def test_group_norm_keeps_a_bfloat16_dtype():
    norm = GroupNorm(8, 4)
    y, _ = norm(jnp.arange(72.0).reshape(3, 3, 8).astype(jnp.bfloat16), eqx.nn.State(norm))
    assert y.dtype == jnp.bfloat16


def test_group_norm_zero_init_starts_at_zero():
    norm = GroupNorm(8, 4, zero_init=True)
    y, _ = norm(jnp.arange(72.0).reshape(3, 3, 8), eqx.nn.State(norm))
    np.testing.assert_array_equal(np.asarray(y), 0.0)


def test_group_norm_refuses_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match=r"groups=32 must divide channels=48"):
        GroupNorm(48)


def test_group_norm_refuses_a_channels_first_example():
    norm = GroupNorm(64)
    with pytest.raises(ValueError, match=r"GroupNorm\(64, groups=32\) takes one channels-last example"):
        norm(jnp.zeros((64, 7, 9)), eqx.nn.State(norm))
