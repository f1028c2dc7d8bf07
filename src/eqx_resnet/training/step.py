"""One training step and one evaluation step on a batch, as pure functions, with what the training
step averages: gradients over micro-batches (`accumulate_gradients`) and over devices (`device_mean`).

`jax.jit` them (or loop them over an epoch) where they are used. A batch is
`images: (n, c, h, w)` float and `labels: (n,)` int; `models.forward` calls the
model per example under `jax.vmap(..., axis_name="batch")`, so BatchNorm sees the batch.
"""

from collections.abc import Callable, Hashable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import lax
from jaxtyping import Array, Bool, Float, Int, PyTree

from ..models.forward import Precision, forward


def cross_entropy(
    logits: Float[Array, "n classes"], labels: Int[Array, " n"], label_smoothing: float = 0.0
) -> Float[Array, ""]:
    """Mean softmax cross-entropy against integer labels, optionally label-smoothed."""
    targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
    return optax.softmax_cross_entropy(logits, targets).mean()


def device_mean(tree: PyTree, axis_name: Hashable) -> PyTree:
    """The mean over the devices of `axis_name` of `tree`'s floating-point arrays (under `shard_map`)."""
    return jax.tree.map(lambda x: lax.pmean(x, axis_name) if eqx.is_inexact_array(x) else x, tree)


def accumulate_gradients(grad_fn: Callable, micro_batches: int) -> Callable:
    """`grad_fn` over a batch as `micro_batches` micro-batches in sequence, their gradients averaged.

    `grad_fn(model, state, images, labels, key) -> ((loss, (state, correct)), grads)`, as
    `eqx.filter_value_and_grad(loss_fn, has_aux=True)` gives it; the result has the same
    signature. Micro-batch `k` is rows `k, k + micro_batches, ...` of the batch (on a mesh each
    device keeps its own rows); the state threads through them in order (each updates BatchNorm's
    running statistics), `loss` is their mean and `correct` their sum. Equal to one `grad_fn`
    over the batch when the loss is a mean over independent examples (BatchNorm in inference mode).
    """

    def accumulated(model, state, images, labels, key):
        n = images.shape[0]
        if n % micro_batches:
            raise ValueError(f"a batch of {n} does not split into {micro_batches} micro-batches")
        split = lambda x: jnp.moveaxis(x.reshape(n // micro_batches, micro_batches, *x.shape[1:]), 1, 0)

        def body(carry, inputs):
            grad_sum, loss_sum, correct_sum, state = carry
            (loss, (state, correct)), grads = grad_fn(model, state, *inputs)
            return (jax.tree.map(jnp.add, grad_sum, grads), loss_sum + loss, correct_sum + correct, state), None

        zeros = jax.tree.map(jnp.zeros_like, eqx.filter(model, eqx.is_inexact_array))
        init = (zeros, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32), state)
        inputs = (split(images), split(labels), jax.random.split(key, micro_batches))
        (grads, loss, correct, state), _ = lax.scan(body, init, inputs)
        return (loss / micro_batches, (state, correct)), jax.tree.map(lambda g: g / micro_batches, grads)

    return accumulated


def make_train_step(
    optimizer: optax.GradientTransformation,
    *,
    precision: Precision = "fp32",
    label_smoothing: float = 0.0,
    accumulate: int = 1,
    axis_name: Hashable | None = None,
) -> Callable:
    """`train_step(model, state, opt_state, images, labels, key) -> (model, state, opt_state, metrics)`.

    `metrics` holds the batch's mean `loss` and its number of `correct` predictions.

    `accumulate` splits the batch into that many micro-batches, run one after the other, their
    gradients averaged into one update (`accumulate_gradients`): a batch larger than the
    devices hold. BatchNorm then takes each micro-batch's statistics, as PyTorch does.
    `axis_name` names the device axis of a `shard_map` the step runs under, one device's share
    of the batch each (per-device BatchNorm statistics, `sharding.shard_train_step`): gradients,
    loss and BatchNorm state are averaged over it, and each device draws its own randomness.
    """

    def train_step(model, state, opt_state, images, labels, key):
        def loss_fn(model, state, images, labels, key):
            logits, new_state = forward(model, state, images, key=key, precision=precision)
            correct = jnp.sum(jnp.argmax(logits, -1) == labels)
            return cross_entropy(logits, labels, label_smoothing), (new_state, correct)

        grad_fn = eqx.filter_value_and_grad(loss_fn, has_aux=True)
        if accumulate > 1:
            grad_fn = accumulate_gradients(grad_fn, accumulate)
        if axis_name is not None:
            key = jax.random.fold_in(key, lax.axis_index(axis_name))
        (loss, (state_out, correct)), grads = grad_fn(model, state, images, labels, key)
        if axis_name is not None:
            grads, loss, state_out = device_mean((grads, loss, state_out), axis_name)
            correct = lax.psum(correct, axis_name)
        params = eqx.filter(model, eqx.is_inexact_array)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        model = eqx.apply_updates(model, updates)
        return model, state_out, opt_state, {"loss": loss, "correct": correct}

    train_step.axis_name = axis_name  # what `sharding.shard_train_step` checks for per-device statistics
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
