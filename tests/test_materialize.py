"""`materialize` and `materialize_gradient`: identities under every transformation, and on
CPU they change what XLA stores."""

import math
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqx_resnet
from eqx_resnet.models import _materialize, layers, preact
from eqx_resnet.training.step import cross_entropy, forward

HINTS = [_materialize.materialize, _materialize.materialize_gradient]


@pytest.mark.parametrize("hint", HINTS, ids=lambda f: f.__name__)
def test_hints_are_the_identity_for_values_and_both_modes_of_differentiation(hint):
    x, u, cotangent = jax.random.normal(jax.random.key(0), (3, 4, 3, 5))
    weights = jnp.arange(5.0)

    def through(h):  # elementwise, so layouts cannot reorder any sum: exact equality
        return lambda x: jnp.sin(h(x)) * weights

    def value(f):
        return lambda x, u, c: f(x)

    def reverse(f):
        return lambda x, u, c: jax.vjp(f, x)[1](c)[0]

    def forward_mode(f):
        return lambda x, u, c: jax.jvp(f, (x,), (u,))

    for transform in (value, reverse, forward_mode):
        want = transform(through(lambda x: x))(x, u, cotangent)
        for wrap in (lambda f: f, jax.jit, lambda f: jax.jit(jax.vmap(f))):
            jax.tree.map(np.testing.assert_array_equal, wrap(transform(through(hint)))(x, u, cotangent), want)
    second = lambda h: jax.hessian(lambda x: jnp.sum(through(h)(x)))(x[0, 0])
    np.testing.assert_allclose(second(hint), second(lambda x: x), rtol=1e-6)


def test_forward_mode_differentiates_a_model():
    # jax.custom_vjp would refuse jax.jvp; check <v, J u> from forward mode against reverse mode.
    model, state = eqx_resnet.create_model("preact_resnet", key=jax.random.key(0), widths=(4, 8, 8))
    model = eqx.nn.inference_mode(model)
    x, u = jax.random.normal(jax.random.key(1), (2, 1, 28, 28))
    v = jax.random.normal(jax.random.key(2), (10,))
    logits = lambda x: model(x, state)[0]
    _, ju = jax.jvp(logits, (x,), (u,))
    (jtv,) = jax.vjp(logits, x)[1](v)
    np.testing.assert_allclose(jnp.vdot(v, ju), jnp.vdot(jtv, u), rtol=1e-4)


def _compiled_gradient(batch: int, channels: tuple[int, int, int], size: int = 16) -> str:
    """The optimised CPU HLO of a small PreActResNet's training gradient."""
    model, state = eqx_resnet.create_model("preact_resnet", key=jax.random.key(0), widths=channels, image_size=size)
    params, static = eqx.partition(model, eqx.is_array)

    def loss(params, images, labels):
        return cross_entropy(forward(eqx.combine(params, static), state, images)[0], labels)

    grad = jax.jit(jax.grad(loss), compiler_options=eqx_resnet.compiler_options("cpu"))
    images, labels = jnp.ones((batch, 1, size, size)), jnp.zeros((batch,), jnp.int32)
    return grad.lower(params, images, labels).compile().as_text()


def _most_activations_read_by_one_fusion(batch: int = 8, channels: int = 8, size: int = 16) -> int:
    """How many tensors of the first stage's activation size the busiest fusion reads."""
    hlo = _compiled_gradient(batch, (channels,) * 3, size)
    entry = hlo[hlo.index("\nENTRY") :]
    shapes = dict(re.findall(r"%([\w.\-]+) = \w+\[([\d,]+)\]", entry))
    activation = batch * channels * size * size
    return max(
        sum(1 for name in re.findall(r"%([\w.\-]+)", operands) if math.prod(map(int, shapes.get(name, "0").split(","))) == activation)
        for operands in re.findall(r"= \S+ fusion\((.*?)\), kind", entry)
    )


def _weight_gradient_operands_that_compute(batch: int = 6) -> tuple[int, int]:
    """(operands of weight-gradient convolutions made by fusions that compute, not just move
    data; all such operands). XLA:CPU writes a weight gradient as a convolution whose batch
    dimension is the input's channels, so its output does not lead with `batch`."""
    hlo = _compiled_gradient(batch, (8, 16, 32))
    entry = hlo[hlo.index("\nENTRY") :]
    calls = dict(re.findall(r"%([\w.\-]+) = \S+ fusion\(.*?calls=%([\w.\-]+)", entry))
    bodies = dict(re.findall(r"\n%([\w.\-]+) \(.*?\) -> .*? \{\n(.*?)\n\}", hlo, re.S))
    moves = {"parameter", "transpose", "copy", "bitcast", "reshape", "broadcast"}
    operands = [
        name
        for leading, lhs, rhs in re.findall(r"= f32\[(\d+),[\d,]*\]\S* convolution\(%([\w.\-]+), %([\w.\-]+)\)", entry)
        if int(leading) != batch
        for name in (lhs, rhs)
    ]
    computing = [name for name in operands if name in calls and set(re.findall(r"= \S+ ([a-z][\w-]*)\(", bodies[calls[name]])) - moves]
    return len(computing), len(operands)


cpu_only = pytest.mark.skipif(jax.default_backend() != "cpu", reason="the hints target XLA:CPU's fusion")


@cpu_only
def test_residual_gradient_is_not_recomputed_by_every_later_block(monkeypatch):
    # With the hint a fusion reads a block's own tensors only (measured: 4). Without it,
    # the third block's gradient fusion re-adds all three blocks' contributions (9).
    assert _most_activations_read_by_one_fusion() <= 4
    monkeypatch.setattr(preact, "materialize_gradient", lambda x: x)
    assert _most_activations_read_by_one_fusion() > 4, "XLA no longer duplicates the sum: the hint may be unneeded"


@cpu_only
@pytest.mark.parametrize("hint", ["materialize", "materialize_gradient"])
def test_weight_gradients_copy_stored_tensors_instead_of_recomputing_them(monkeypatch, hint):
    # Measured: 2 of 42 operands compute with both hints (the stem's and the head's, each
    # read by nothing else); 22 without `materialize`, 11 without `materialize_gradient`.
    computing, operands = _weight_gradient_operands_that_compute()
    assert operands >= 40 and computing <= 3
    monkeypatch.setattr(layers, hint, lambda x: x)
    assert _weight_gradient_operands_that_compute()[0] >= computing + 8, f"XLA no longer recomputes: {hint} may be unneeded"
