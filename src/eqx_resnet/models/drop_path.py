"""Stochastic depth: a residual branch dropped for a whole example, timm's `DropPath`."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class DropPath(eqx.Module):
    """Drop one example's residual branch with probability `p` while training, timm's `DropPath`.

    On one example (the layers are per-example: vmap it with a key per example), the branch is
    zeroed with probability `p`, and otherwise kept, divided by `1 - p` (`scale_by_keep`) so its
    expectation is unchanged. In inference (`eqx.nn.inference_mode` sets `inference`, as for
    `eqx.nn.Dropout`), or with `p=0`, it is the identity and takes no key. No parameters.
    """

    p: float = eqx.field(static=True)
    scale_by_keep: bool = eqx.field(static=True)
    inference: bool

    def __init__(self, p: float = 0.0, *, scale_by_keep: bool = True, inference: bool = False):
        """**Arguments:**

        - `p`: the probability of dropping the branch (timm's `drop_prob`), in [0, 1].
        - `scale_by_keep`: divide a kept branch by `1 - p`.
        - `inference`: pass the branch through unchanged; `eqx.nn.inference_mode` sets it.
        """
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p={p} must be a probability of dropping the branch, between 0 and 1")
        self.p = p
        self.scale_by_keep = scale_by_keep
        self.inference = inference

    def __call__(
        self, x: Float[Array, "*shape"], *, key: PRNGKeyArray | None = None, inference: bool | None = None
    ) -> Float[Array, "*shape"]:
        """One example's branch -> the branch, zeroed or kept; `inference`, if given, overrides the field."""
        if self.inference if inference is None else inference:
            return x
        if self.p == 0.0:
            return x
        if key is None:
            raise ValueError(
                f"DropPath(p={self.p}) draws whether each example keeps its residual branch while training: "
                "pass key= (one key per example under vmap), or switch to evaluation with eqx.nn.inference_mode(model)"
            )
        keep = 1.0 - self.p
        if keep == 0.0:
            return jnp.zeros_like(x)
        kept = jax.random.bernoulli(key, keep)
        return jnp.where(kept, x / keep if self.scale_by_keep else x, jnp.zeros_like(x))
