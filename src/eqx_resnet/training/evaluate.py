"""Test loss and accuracy of a model over a whole split, in inference mode."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from ..data import DatasetInfo, prepare
from .._xla_cpu import compiler_options
from .step import Precision, eval_step


def make_evaluator(
    images: jax.Array, labels: jax.Array, info: DatasetInfo, *, image_size: int | None = None,
    precision: Precision = "fp32", batch_size: int = 1000,
) -> Callable[[eqx.Module, eqx.nn.State], dict[str, float]]:
    """`evaluate(model, state) -> {"test_loss", "test_acc"}` over every image of the split.

    The split is padded once to whole batches; padding rows are masked out, so
    every image counts exactly once whatever the batch size.
    """
    n = int(labels.shape[0])
    batch_size = min(batch_size, n)
    pad = -n % batch_size
    images = jnp.concatenate([images, jnp.zeros((pad, *images.shape[1:]), images.dtype)])
    labels = jnp.concatenate([labels, jnp.zeros((pad,), labels.dtype)])
    valid = jnp.arange(n + pad) < n

    @eqx.filter_jit(compiler_options=compiler_options())
    def batch_sums(model, state, i):
        sl = lambda a: lax.dynamic_slice_in_dim(a, i * batch_size, batch_size)
        x = prepare(sl(images), info, image_size)
        return eval_step(model, state, x, sl(labels), precision=precision, mask=sl(valid))

    def evaluate(model: eqx.Module, state: eqx.nn.State) -> dict[str, float]:
        # One call per batch: XLA's CPU backend runs loop bodies markedly slower.
        sums = [batch_sums(model, state, jnp.int32(i)) for i in range((n + pad) // batch_size)]
        return {
            "test_loss": sum(float(s["loss_sum"]) for s in sums) / n,
            "test_acc": sum(int(s["correct"]) for s in sums) / n,
        }

    return evaluate
