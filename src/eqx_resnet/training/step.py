"""One training step and one evaluation step on a batch, as pure functions.

`jax.jit` them (or loop them over an epoch) where they are used. A batch is
`images: (n, c, h, w)` float and `labels: (n,)` int; `models.forward` calls the
model per example under `jax.vmap(..., axis_name="batch")`, so BatchNorm sees the batch.
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Bool, Float, Int

from ..models.forward import Precision, forward


def cross_entropy(logits: Float[Array, "n classes"], labels: Int[Array, " n"], label_smoothing: float = 0.0) -> Float[Array, ""]:
    """Mean softmax cross-entropy against integer labels, optionally label-smoothed."""
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
    return optax.softmax_cross_entropy(logits, targets).mean()


def make_train_step(
    optimizer: optax.GradientTransformation, *, precision: Precision = "fp32", label_smoothing: float = 0.0
) -> Callable:
    """`train_step(model, state, opt_state, images, labels, key) -> (model, state, opt_state, metrics)`.

    `metrics` holds the batch's mean `loss` and its number of `correct` predictions.
    """

    def train_step(model, state, opt_state, images, labels, key):
        def loss_fn(model):
            logits, new_state = forward(model, state, images, key=key, precision=precision)
            return cross_entropy(logits, labels, label_smoothing), (new_state, logits)

        (loss, (state_out, logits)), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model)
        params = eqx.filter(model, eqx.is_inexact_array)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        model = eqx.apply_updates(model, updates)
        correct = jnp.sum(jnp.argmax(logits, -1) == labels)
        return model, state_out, opt_state, {"loss": loss, "correct": correct}

    return train_step


def eval_step(
    model: eqx.Module,
    state: eqx.nn.State,
    images: Float[Array, "n c h w"],
    labels: Int[Array, " n"],
    *,
    precision: Precision = "fp32",
    mask: Bool[Array, " n"] | None = None,
) -> dict[str, Array]:
    """Summed loss and number of correct predictions of a model in inference mode.

    `mask` leaves out padding rows (a last, partial batch padded to full size).
    """
    logits, _ = forward(eqx.nn.inference_mode(model), state, images, precision=precision)
    losses = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    hits = jnp.argmax(logits, -1) == labels
    if mask is not None:
        losses, hits = jnp.where(mask, losses, 0.0), hits & mask
    return {"loss_sum": jnp.sum(losses), "correct": jnp.sum(hits)}
