"""`materialize_gradient`: the identity, and on CPU the residual gradient is stored once."""

import math
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_resnet
from eqx_resnet.models import _materialize, preact
from eqx_resnet.training.step import cross_entropy, forward


def test_value_and_gradient_are_the_identitys():
    x = jax.random.normal(jax.random.key(0), (4, 3, 5))

    def loss(x, through):
        return jnp.sum(jnp.sin(through(x)) * jnp.arange(5.0))

    got = jax.jit(jax.value_and_grad(lambda x: loss(x, _materialize.materialize_gradient)))(x)
    want = jax.value_and_grad(lambda x: loss(x, lambda x: x))(x)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    batched = jax.jit(jax.vmap(jax.grad(lambda x: loss(x, _materialize.materialize_gradient))))(x)
    np.testing.assert_array_equal(batched, jax.vmap(jax.grad(lambda x: loss(x, lambda x: x)))(x))


def _most_activations_read_by_one_fusion(batch: int = 8, channels: int = 8, size: int = 16) -> int:
    """Compile a small PreActResNet's gradient on CPU; return how many tensors of the
    first stage's activation size the busiest fusion of the backward pass reads."""
    model, state = eqx_resnet.create_model("preact_resnet", key=jax.random.key(0), widths=(channels,) * 3, image_size=size)
    params, static = eqx.partition(model, eqx.is_array)
    images, labels = jnp.ones((batch, 1, size, size)), jnp.zeros((batch,), jnp.int32)

    def loss(params):
        return cross_entropy(forward(eqx.combine(params, static), state, images)[0], labels)

    grad = jax.jit(jax.grad(loss), compiler_options=eqx_resnet.compiler_options("cpu"))
    hlo = grad.lower(params).compile().as_text()
    entry = hlo[hlo.index("\nENTRY") :]
    shapes = dict(re.findall(r"%([\w.\-]+) = \w+\[([\d,]+)\]", entry))
    activation = batch * channels * size * size
    return max(
        sum(1 for name in re.findall(r"%([\w.\-]+)", operands) if math.prod(map(int, shapes.get(name, "0").split(","))) == activation)
        for operands in re.findall(r"= \S+ fusion\((.*?)\), kind", entry)
    )


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the hint targets XLA:CPU's fusion")
def test_residual_gradient_is_not_recomputed_by_every_later_block(monkeypatch):
    # With the hint a fusion reads a block's own tensors only (measured: 3). Without it,
    # the third block's gradient fusion re-adds all three blocks' contributions (9).
    assert _most_activations_read_by_one_fusion() <= 4
    monkeypatch.setattr(preact, "materialize_gradient", lambda x: x)
    assert _most_activations_read_by_one_fusion() > 4, "XLA no longer duplicates the sum: the hint may be unneeded"
