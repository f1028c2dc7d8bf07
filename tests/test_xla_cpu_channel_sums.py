"""`channel_sum` and `channel_broadcast`: the plain per-channel sum and broadcast under every
transformation, and on CPU the form of XLA's sums."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _hlo import most_activations_read_by_one_fusion, xla_structure

import eqx_resnet
from eqx_resnet._xla_cpu.channel_sums import _pixels_per_row, channel_broadcast, channel_sum
from eqx_resnet.models import layers

# Rows of several pixels (28x28x16, 5x3x4), and the plain fallback (7x7x64, and no space at all).
SHAPES = [(28, 28, 16), (5, 3, 4), (7, 7, 64), (6,)]


def plain_sum(x):
    return x.reshape(-1, x.shape[-1]).sum(0)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sum_and_broadcast_match_the_plain_forms_under_every_transformation(shape):
    x, u = jax.random.normal(jax.random.key(0), (2, *shape))
    v, w = jax.random.normal(jax.random.key(1), (2, shape[-1]))
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    broadcast = lambda v: channel_broadcast(v, shape)

    for wrap in (lambda f: f, jax.jit):
        close(wrap(channel_sum)(x), plain_sum(x))
        np.testing.assert_array_equal(wrap(broadcast)(v), jnp.broadcast_to(v, shape))
        close(wrap(lambda x, u: jax.jvp(channel_sum, (x,), (u,))[1])(x, u), plain_sum(u))
        close(wrap(lambda x, v: jax.vjp(channel_sum, x)[1](v)[0])(x, v), jnp.broadcast_to(v, shape))
        close(wrap(lambda v, x: jax.vjp(broadcast, v)[1](x)[0])(v, x), plain_sum(x))
        np.testing.assert_array_equal(
            wrap(lambda v, w: jax.jvp(broadcast, (v,), (w,))[1])(v, w), jnp.broadcast_to(w, shape)
        )
    batch = jnp.stack([x, u])
    close(jax.jit(jax.vmap(channel_sum))(batch), jnp.stack([plain_sum(x), plain_sum(u)]))


def test_rows_hold_as_many_pixels_as_fit_but_never_exactly_one_image_row():
    assert _pixels_per_row((28, 28), 16) == 56  # 14 rows of 896 numbers
    assert _pixels_per_row((14, 14), 32) == 28
    assert _pixels_per_row((32, 32), 64) == 16  # one image row would be 32 pixels: too wide anyway
    assert _pixels_per_row((16, 16), 128) == 8
    assert _pixels_per_row((8, 8), 256) == 4  # not 8: one image row
    assert _pixels_per_row((7, 7), 64) == 1  # 7 is one image row, 49 the whole example
    assert _pixels_per_row((), 10) == 1


def _batch_norm_gradient_hlo(batch: int = 40, shape: tuple[int, ...] = (28, 28, 16)) -> str:
    """Optimised CPU HLO of the input and parameter gradients of a vmapped BatchNorm."""
    norm, state = eqx.nn.make_with_state(layers.BatchNorm)(shape[-1])

    def loss(weight, bias, x):
        norm_ = eqx.tree_at(lambda n: (n.weight, n.bias), norm, (weight, bias))
        y, _ = jax.vmap(norm_, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
        return jnp.sum(jnp.sin(y))

    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2)), compiler_options=eqx_resnet.compiler_options("cpu"))
    return grad.lower(norm.weight, norm.bias, jnp.ones((batch, *shape))).compile().as_text()


def _windows_over_several_dimensions(hlo: str) -> int:
    """`reduce-window`s summing over more than one dimension at once: the merged batch-and-space sums."""
    return sum(
        sum(int(d) > 1 for d in size.split("x")) > 1
        for size in re.findall(r"reduce-window\(.*?window=\{size=([\dx]+)", hlo)
    )


cpu_only = pytest.mark.skipif(jax.default_backend() != "cpu", reason="the row sums target XLA:CPU's reductions")


@pytest.fixture
def use_plain_sums(monkeypatch):
    """Call it to make `BatchNorm` sum and broadcast plainly from then on."""

    def use():
        monkeypatch.setattr(layers, "channel_sum", lambda x: jnp.sum(x, axis=tuple(range(x.ndim - 1))))
        monkeypatch.setattr(layers, "channel_broadcast", jnp.broadcast_to)

    return use


@cpu_only
@xla_structure
def test_batch_norm_sums_are_not_merged_over_batch_and_space(use_plain_sums):
    # Batch 40 > 32, so XLA:CPU's tree-reduction rewrite applies, as at batch 128.
    assert _windows_over_several_dimensions(_batch_norm_gradient_hlo()) == 0
    use_plain_sums()
    assert _windows_over_several_dimensions(_batch_norm_gradient_hlo()) > 0, (
        "XLA no longer merges plain sums: the rows may be unneeded"
    )


@cpu_only
@xla_structure
def test_residual_gradients_are_not_recomputed_by_every_later_block(use_plain_sums):
    # Measured: the busiest fusion reads 3 activation-sized tensors, a block's own. With
    # plain BatchNorm sums the third block's gradient fusion re-adds all three blocks'
    # contributions (9).
    assert most_activations_read_by_one_fusion() <= 4
    use_plain_sums()
    assert most_activations_read_by_one_fusion() > 4, "XLA no longer recomputes the residual sums with plain sums"
