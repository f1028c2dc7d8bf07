"""`materialize`: the identity under every transformation, and on CPU it changes what
XLA stores."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _hlo import weight_gradient_operands_that_compute, xla_structure

import eqx_resnet
from eqx_resnet._xla_cpu.materialize import materialize
from eqx_resnet.models import layers


def test_materialize_is_the_identity_for_values_and_both_modes_of_differentiation():
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
            jax.tree.map(np.testing.assert_array_equal, wrap(transform(through(materialize)))(x, u, cotangent), want)
    second = lambda h: jax.hessian(lambda x: jnp.sum(through(h)(x)))(x[0, 0])
    np.testing.assert_allclose(second(materialize), second(lambda x: x), rtol=1e-6)


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


cpu_only = pytest.mark.skipif(jax.default_backend() != "cpu", reason="the hints target XLA:CPU's fusion")


@cpu_only
@xla_structure
def test_weight_gradients_copy_stored_tensors_instead_of_recomputing_them(monkeypatch):
    # Measured: 2 of 42 operands compute (the stem's and the head's, each read by nothing
    # else); 22 without `materialize`.
    computing, operands = weight_gradient_operands_that_compute()
    assert operands >= 40 and computing <= 3
    monkeypatch.setattr(layers, "materialize", lambda x: x)
    assert weight_gradient_operands_that_compute()[0] >= computing + 8, (
        "XLA no longer recomputes: materialize may be unneeded"
    )
