"""A compiler hint for residual networks on CPU: store each block's input gradient once.

In the backward pass the gradient of a block's input is the residual stream's gradient
plus the block's own contribution: a cheap elementwise sum that XLA:CPU fuses into
every consumer instead of storing it. Its consumers are the previous block's
convolution gradients and the next sum, so each block recomputes the sums of all
blocks after it: compiled for a small PreActResNet, one fusion read 9 activation-sized
tensors, against 3 with this hint (tests/test_materialize.py).

XLA:CPU never duplicates a float division into several consumers
(`CpuInstructionFusion::IsExpensive`), so dividing the gradient by a computed 1 stores
it once. `python benchmarks/cpu_residual_hint.py` (2-core AMD EPYC, batch 128, the two
builds taking turns): the PreActResNet training step takes 0.87 of its time without the
hint, ResNet-18 with the CIFAR stem 0.98, so `PreActBlock` and `BasicBlock` use it;
ResNet-50's `Bottleneck` showed no change in a one-off test and does not.
`lax.optimization_barrier` does not help: XLA:CPU removes it before fusion. Other
platforms get the identity.
"""

import jax
from jax import lax
from jaxtyping import Array, Float


@jax.custom_vjp
def materialize_gradient(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """The identity; on CPU its backward pass makes XLA store the incoming gradient once."""
    return x


def _forward(x):
    return x, None


def _backward(_, g):
    # `0 * g` is not folded (it is NaN for infinite g), so the divisor stays a computation.
    return (lax.platform_dependent(g, cpu=lambda g: g / (1 + 0 * g), default=lambda g: g),)


materialize_gradient.defvjp(_forward, _backward)
