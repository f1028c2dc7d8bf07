"""The CPU compiler options: accepted by this jaxlib, and they keep convolutions on Eigen."""

import jax
import jax.numpy as jnp
import numpy as np
from _hlo import xla_structure

import eqx_resnet


@xla_structure
def test_cpu_options_keep_convolutions_and_their_gradients_off_ynnpack():
    conv = eqx_resnet.Conv2d(32, 32, 3, padding=1, key=jax.random.key(0))
    images = jnp.ones((8, 16, 16, 32))  # channels-last, big enough that XLA picks YNNPACK by default

    def loss(conv, images):
        return jnp.sum(jax.vmap(conv)(images) ** 2)

    grads = jax.jit(jax.grad(loss, argnums=(0, 1)), compiler_options=eqx_resnet.compiler_options("cpu"))
    hlo = grads.lower(conv, images).compile().as_text()
    assert "convolution(" in hlo
    assert "ynn_fusion" not in hlo  # XLA names each YNNPACK fusion so
    expected = jax.jit(jax.grad(loss, argnums=(0, 1)))(conv, images)
    for got, want in zip(jax.tree.leaves(grads(conv, images)), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3 * float(jnp.max(jnp.abs(want))))


def test_other_platforms_get_no_options():
    assert eqx_resnet.compiler_options("gpu") == {}
    assert eqx_resnet.compiler_options("cpu") == {
        "xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"
    }
