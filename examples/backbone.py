"""A ResNet-18 as the backbone of your own module: your BatchNorm, your head, your optax loop.

The module is built with `eqx.nn.make_with_state`, like any stateful Equinox module. The
backbone's stem and first two stages are frozen, their BatchNorm statistics included: only
its later stages, your BatchNorm and the head train. Then the model is saved and restored
with `eqx.tree_serialise_leaves`. Random images stand in for a dataset.

    python examples/backbone.py
"""

import tempfile
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import eqx_resnet

FROZEN = ("backbone.stem", "backbone.layer1", "backbone.layer2")  # parts, by path


class Classifier(eqx.Module):
    """A headless ResNet-18's pooled features, your own BatchNorm, a linear head. `(3, h, w) -> (classes,)`."""

    backbone: eqx_resnet.ResNet
    norm: eqx.nn.BatchNorm
    head: eqx.nn.Linear

    def __init__(self, num_classes: int, *, key):
        k_backbone, k_head = jax.random.split(key)
        # The model alone (no state): make_with_state below collects every BatchNorm's state.
        self.backbone = eqx_resnet.ResNet.resnet18(num_classes=0, stem="cifar", key=k_backbone)  # 512 features
        self.norm = eqx.nn.BatchNorm(512, axis_name="batch", mode="batch")
        self.head = eqx.nn.Linear(512, num_classes, key=k_head)

    def __call__(self, image, state, *, key=None):
        features, state = self.backbone(image, state)
        features, state = self.norm(features, state)
        return self.head(features), state


def loss_fn(trainable, frozen, state, images, labels):
    # One example at a time, batched by vmap: every BatchNorm takes its statistics over "batch".
    logits, state = eqx_resnet.forward(eqx.combine(trainable, frozen), state, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), state


def main(steps: int = 6, batch_size: int = 16, num_classes: int = 10) -> tuple[Classifier, eqx.nn.State]:
    key = jax.random.key(0)
    model, state = eqx.nn.make_with_state(Classifier)(num_classes, key=key)

    # Frozen parts: no gradient, no update, and their BatchNorms normalise with (and keep)
    # their running statistics.
    model = eqx_resnet.freeze_batch_stats(model, FROZEN)
    trainable, frozen = eqx.partition(model, eqx_resnet.trainable_filter(model, FROZEN))
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(trainable)  # no optimizer state for the frozen arrays

    # compiler_options: the CPU option of docs/benchmarks.md; empty on GPU.
    @eqx.filter_jit(compiler_options=eqx_resnet.compiler_options())
    def step(trainable, state, opt_state, images, labels):
        grad_fn = eqx.filter_value_and_grad(loss_fn, has_aux=True)  # w.r.t. `trainable` only
        (loss, state), grads = grad_fn(trainable, frozen, state, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, trainable)
        return eqx.apply_updates(trainable, updates), state, opt_state, loss

    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.standard_normal((batch_size, 3, 32, 32), np.float32))
    labels = jnp.asarray(rng.integers(0, num_classes, batch_size))
    for i in range(steps):
        trainable, state, opt_state, loss = step(trainable, state, opt_state, images, labels)
        print(f"step {i}: loss {float(loss):.4f}", flush=True)
    model = eqx.combine(trainable, frozen)

    # Save, then restore into a model of the same structure, traced without computing anything.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "classifier.eqx"
        eqx.tree_serialise_leaves(path, (model, state))
        skeleton = eqx.filter_eval_shape(eqx.nn.make_with_state(Classifier), num_classes, key=key)
        restored, restored_state = eqx.tree_deserialise_leaves(path, skeleton)

    evaluate = eqx.filter_jit(lambda m, s: eqx_resnet.forward(eqx.nn.inference_mode(m), s, images)[0])
    same = bool(jnp.array_equal(evaluate(model, state), evaluate(restored, restored_state)))
    assert same and restored.backbone.layer1[0].bn1.inference, "the restored model differs"
    print(f"restored from {path.name}: same logits, frozen BatchNorms still frozen")
    return restored, restored_state


if __name__ == "__main__":
    main()
