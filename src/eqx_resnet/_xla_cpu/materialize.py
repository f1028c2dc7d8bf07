"""A compiler hint for XLA:CPU: compute a convolution's input once, and store it.

XLA:CPU fuses cheap elementwise work into every consumer instead of storing it. A
convolution's weight gradient reads the convolution's input batch-minor, `(c, h, w, n)`.
When that input is a fused BatchNorm-ReLU, the transposing copy recomputes it element by
element, and such copies were the slowest operations of the ResNet-18 step.

XLA:CPU never duplicates a float division into several consumers
(`CpuInstructionFusion::IsExpensive`), so dividing by a computed 1 stores the quotient,
and a copy of a stored tensor is a plain transpose, which XLA:CPU tiles.
`lax.optimization_barrier` does not help: XLA:CPU removes it before fusion.
Other platforms get the identity.

`Conv2d` stores its input (`materialize`); `tests/test_xla_cpu_materialize.py` checks the
compiled structure and `python benchmarks/experiments/cpu_materialize_hints.py` times the
training step with and without it (benchmarks/README.md). (Storing the output gradients
and the residual blocks' input gradients the same way helped too, until BatchNorm's sums
took the form of `channel_sums.py`: XLA then stopped recomputing them, and those hints
are gone.)

It is an identity declared linear with `lax.custom_linear_solve`, which lets the forward
and the transposed (reverse-mode) map be implemented separately, so forward-mode
differentiation (`jax.jvp`, `jax.jacfwd`, `jax.hessian`) works through the models too;
`jax.custom_vjp` would forbid it.
"""

from jax import lax
from jaxtyping import Array, Float


def _stored(x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """`x`, which XLA:CPU stores once: exact for finite values, NaN for infinite ones."""
    # `0 * x` is not folded (it is NaN for infinite values), so the divisor stays a computation.
    return lax.platform_dependent(x, cpu=lambda x: x / (1 + 0 * x), default=lambda x: x)


def _identity(x):
    return x


def materialize(x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    """The identity; on CPU XLA computes `x` once and stores it."""
    return lax.custom_linear_solve(_identity, x, solve=lambda _, v: _stored(v), transpose_solve=lambda _, v: v)
