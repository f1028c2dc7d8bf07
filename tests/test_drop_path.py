"""DropPath against timm's DropPath: each example keeps its whole branch (scaled by 1 / (1 - p)) or
loses it, about 1 - p of them keep it, and in evaluation both are the identity."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _timm import run_ours, run_timm, timm

from eqx_resnet.models.drop_path import DropPath
from eqx_resnet.weights import to_state_dict

N = 4000  # examples, seeded: the kept share is within 0.03 (about 4 standard deviations) of 1 - p


def random_input(n: int = N) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 2, 3, 5)).astype(np.float32) + 3  # no zeros


def kept_share(outputs: np.ndarray, x: np.ndarray, scale: float) -> float:
    """The share of examples kept whole (scaled by `scale`); every other must be dropped whole."""
    kept = np.all(np.isclose(outputs, x * scale, rtol=1e-6), axis=(1, 2, 3))
    dropped = np.all(outputs == 0, axis=(1, 2, 3))
    assert np.all(kept | dropped), "an example was neither kept whole nor dropped whole"
    return kept.mean()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("scale_by_keep", [True, False])
def test_drop_path_drops_whole_examples_as_timm(p, scale_by_keep):
    x = random_input()
    theirs = timm.layers.DropPath(p, scale_by_keep=scale_by_keep).train()
    torch.manual_seed(0)
    with torch.no_grad():
        expected = theirs(torch.from_numpy(x)).numpy()
    ours = DropPath(p, scale_by_keep=scale_by_keep)
    keys = jax.random.split(jax.random.key(0), N)
    got = np.asarray(jax.vmap(lambda x, key: ours(x, key=key))(jnp.moveaxis(x, 1, -1), keys))
    scale = 1 / (1 - p) if scale_by_keep else 1.0
    ours_kept, theirs_kept = kept_share(np.moveaxis(got, -1, 1), x, scale), kept_share(expected, x, scale)
    assert abs(ours_kept - (1 - p)) < 0.03 and abs(theirs_kept - (1 - p)) < 0.03, (ours_kept, theirs_kept)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_drop_path_keeps_or_drops_every_example_as_timm_at_the_ends(p):
    x = random_input(8)
    expected = timm.layers.DropPath(p).train()(torch.from_numpy(x)).numpy()
    got = run_ours(lambda x: DropPath(p)(x, key=jax.random.key(0)), x)
    np.testing.assert_array_equal(got, expected)


def test_drop_path_in_inference_is_the_identity_as_timm_in_evaluation():
    x = random_input(8)
    ours = eqx.nn.inference_mode(DropPath(0.5))
    np.testing.assert_array_equal(run_ours(ours, x), run_timm(timm.layers.DropPath(0.5), x))
    np.testing.assert_array_equal(run_ours(lambda x: DropPath(0.5)(x, inference=True), x), x)


def test_drop_path_has_no_state_dict_entries():
    ours = DropPath(0.1)
    assert to_state_dict(ours, eqx.nn.State(ours)) == {} == timm.layers.DropPath(0.1).state_dict()


def test_drop_path_in_training_asks_for_a_key():
    with pytest.raises(ValueError, match=r"DropPath\(p=0.1\) draws .* pass key= .* eqx.nn.inference_mode\(model\)"):
        DropPath(0.1)(jnp.ones((3, 5, 2)))


def test_drop_path_refuses_a_probability_outside_0_1():
    with pytest.raises(ValueError, match=r"p=1.5 must be a probability of dropping the branch, between 0 and 1"):
        DropPath(1.5)
