"""The optimiser of a run: an optax chain built from its config, with the moving average of its weights."""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .config import TrainConfig


def learning_rate_schedule(config: TrainConfig, steps_per_epoch: int) -> optax.Schedule:
    """The learning rate at each optimiser step, warm-up included.

    `step` is torch's StepLR: multiply by `gamma` every `step_size` epochs.
    `onecycle` warms up over the first 30% of training and anneals to ~0.
    """
    total = config.epochs * steps_per_epoch
    warmup = int(config.warmup_epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        return optax.cosine_onecycle_schedule(total, config.lr)
    if config.schedule == "constant":
        main = optax.constant_schedule(config.lr)
    elif config.schedule == "cosine":
        main = optax.cosine_decay_schedule(config.lr, max(total - warmup, 1))
    elif config.schedule == "step":
        boundaries = {
            e * steps_per_epoch - warmup: config.gamma for e in range(config.step_size, config.epochs, config.step_size)
        }
        main = optax.piecewise_constant_schedule(config.lr, {b: g for b, g in boundaries.items() if b > 0})
    else:
        raise ValueError(f"unknown schedule {config.schedule!r}: choose constant, cosine, step or onecycle")
    if warmup == 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, config.lr, warmup), main], [warmup])


def build_optimizer(config: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """Gradient clipping (optional), then Adam / AdamW / SGD with the schedule.

    `adam` adds `weight_decay` to the gradient (L2, as torch.optim.Adam does); `adamw`
    decouples it; `sgd` uses (Nesterov) momentum and L2 weight decay. With
    `decay_norm_and_bias=False`, parameters of one dimension (BatchNorm's, biases) are not decayed.
    """
    lr = learning_rate_schedule(config, steps_per_epoch)
    mask = None if config.decay_norm_and_bias in (None, True) else _matrices
    if config.optimizer == "adam":
        opt = optax.chain(optax.add_decayed_weights(config.weight_decay, mask), optax.adam(lr))
    elif config.optimizer == "adamw":
        opt = optax.adamw(lr, weight_decay=config.weight_decay, mask=mask)
    elif config.optimizer == "sgd":
        opt = optax.chain(
            optax.add_decayed_weights(config.weight_decay, mask),
            optax.sgd(lr, momentum=config.momentum, nesterov=config.nesterov),
        )
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}: choose adam, adamw or sgd")
    if config.clip_norm is not None:
        opt = optax.chain(optax.clip_by_global_norm(config.clip_norm), opt)
    return opt


def init_at(optimizer: optax.GradientTransformation, params, step: int):
    """A fresh state of `optimizer` for `params` whose learning-rate schedule stands at `step`: for a run that
    continues without its optimiser state. Momenta start afresh (Adam's bias correction with them)."""

    def at_step(s):
        is_schedule = isinstance(s, optax.ScaleByScheduleState)
        return s._replace(count=jnp.asarray(step, s.count.dtype)) if is_schedule else s

    return jax.tree.map(at_step, optimizer.init(params), is_leaf=lambda s: isinstance(s, optax.ScaleByScheduleState))


class EmaState(NamedTuple):
    """`with_ema`'s state: the updates done and the average of the parameters after each."""

    count: jax.Array
    average: optax.Params


def with_ema(optimizer: optax.GradientTransformation, decay: float) -> optax.GradientTransformation:
    """`optimizer`, its state `(inner, EmaState)` also keeping an exponential moving average of the
    parameters it updates, starting from the initial ones.

    After update `t` the average moves towards the new parameters by `1 - min(decay, (1 + t) / (10 + t))`,
    TensorFlow's `ExponentialMovingAverage` with `num_updates`: a short run is not held back by its
    initial weights. Being optimiser state, the average is checkpointed in `last/` and resumed exactly.
    """

    def init(params):
        return optimizer.init(params), EmaState(jnp.zeros((), jnp.int32), jax.tree.map(jnp.copy, params))

    def update(updates, state, params):
        inner, ema = state
        updates, inner = optimizer.update(updates, inner, params)
        count = ema.count + 1
        rate = 1.0 - jnp.minimum(decay, (1.0 + count) / (10.0 + count))
        new = optax.apply_updates(params, updates)
        average = jax.tree.map(lambda a, p: a + rate * (p - a), ema.average, new)
        return updates, (inner, EmaState(count, average))

    return optax.GradientTransformation(init, update)


def ema_params(opt_state) -> optax.Params:
    """The moving average of the parameters in the state of an optimiser `with_ema`."""
    return opt_state[1].average


def _matrices(params):
    """True for the parameters weight decay applies to: those of more than one dimension."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def head_only(optimizer: optax.GradientTransformation, model: eqx.Module, head: str) -> optax.GradientTransformation:
    """`optimizer` for the model's field `head` (its classifier) alone; every other parameter keeps its value.

    The backbone's BatchNorm statistics still follow the new data in training mode, as in
    torchvision's fine-tuning recipe.
    """
    labels = jax.tree.map(lambda _: "frozen", eqx.filter(model, eqx.is_inexact_array))
    labels = eqx.tree_at(lambda m: getattr(m, head), labels, replace_fn=lambda sub: jax.tree.map(lambda _: "head", sub))
    # A function, not the labels themselves: optax would call a (callable) Equinox module.
    return optax.multi_transform({"head": optimizer, "frozen": optax.set_to_zero()}, lambda _: labels)
