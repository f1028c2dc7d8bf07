"""The CPU compiler options: accepted by this jaxlib, and they keep convolutions on Eigen."""

import equinox as eqx
import jax
import jax.numpy as jnp

import eqx_resnet


def test_cpu_options_keep_a_training_step_off_ynnpack():
    model, state = eqx_resnet.preact_resnet(widths=(4, 8, 16), key=jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_array)
    images = jnp.zeros((2, 1, 28, 28))
    labels = jnp.zeros((2,), jnp.int32)

    def loss(params, state):
        logits, _ = eqx_resnet.forward(eqx.combine(params, static), state, images)
        return eqx_resnet.cross_entropy(logits, labels)

    step = jax.jit(jax.grad(loss), compiler_options=eqx_resnet.compiler_options("cpu"))
    hlo = step.lower(params, state).compile().as_text()
    assert "convolution(" in hlo
    assert "ynn_fusion" not in hlo  # XLA names each YNNPACK fusion so


def test_other_platforms_get_no_options():
    assert eqx_resnet.compiler_options("gpu") == {}
    assert eqx_resnet.compiler_options("cpu") == {"xla_cpu_experimental_ynn_fusion_type": ""}
