"""What XLA:CPU compiles a small PreActResNet's training gradient to: helpers for the tests
of the compiler hints (test_xla_cpu_*.py), and the marker of those that assert it."""

import math
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import eqx_resnet
from eqx_resnet.models.forward import forward
from eqx_resnet.training.step import cross_entropy

# Marks a test that asserts XLA:CPU's compiled structure, which holds for the jaxlib named
# here; conftest.py adds to a failure that an upgrade may have changed it.
xla_structure = pytest.mark.xla_structure(jaxlib="0.10.2")


def compiled_gradient(batch: int, channels: tuple[int, int, int], size: int = 16) -> str:
    """The optimised CPU HLO of a small PreActResNet's training gradient."""
    model, state = eqx_resnet.create_model("preact_resnet", key=jax.random.key(0), widths=channels, image_size=size)
    params, static = eqx.partition(model, eqx.is_array)

    def loss(params, images, labels):
        return cross_entropy(forward(eqx.combine(params, static), state, images)[0], labels)

    grad = jax.jit(jax.grad(loss), compiler_options=eqx_resnet.compiler_options("cpu"))
    images, labels = jnp.ones((batch, 1, size, size)), jnp.zeros((batch,), jnp.int32)
    return grad.lower(params, images, labels).compile().as_text()


def most_activations_read_by_one_fusion(batch: int = 8, channels: int = 8, size: int = 16) -> int:
    """How many tensors of the first stage's activation size the busiest fusion reads."""
    hlo = compiled_gradient(batch, (channels,) * 3, size)
    entry = hlo[hlo.index("\nENTRY") :]
    shapes = dict(re.findall(r"%([\w.\-]+) = \w+\[([\d,]+)\]", entry))
    activation = batch * channels * size * size
    return max(
        sum(
            1
            for name in re.findall(r"%([\w.\-]+)", operands)
            if math.prod(map(int, shapes.get(name, "0").split(","))) == activation
        )
        for operands in re.findall(r"= \S+ fusion\((.*?)\), kind", entry)
    )


def weight_gradient_operands_that_compute(batch: int = 6) -> tuple[int, int]:
    """(operands of weight-gradient convolutions made by fusions that compute, not just move
    data; all such operands). XLA:CPU writes a weight gradient as a convolution whose batch
    dimension is the input's channels, so its output does not lead with `batch`."""
    hlo = compiled_gradient(batch, (8, 16, 32))
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
    computing = [
        name
        for name in operands
        if name in calls and set(re.findall(r"= \S+ ([a-z][\w-]*)\(", bodies[calls[name]])) - moves
    ]
    return len(computing), len(operands)
