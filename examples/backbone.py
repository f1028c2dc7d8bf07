"""ResNet-18 as the backbone of your own model: your head, your loss, your optax loop.

The backbone's stem and first two stages are frozen: only its later stages and the head
train, and the frozen layers cost no gradient. Random images stand in for a dataset.

    python examples/backbone.py
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import eqx_resnet

FROZEN = ("conv1", "bn1", "layer1", "layer2")  # top-level parts of the ResNet


class Classifier(eqx.Module):
    """A ResNet's last feature map, averaged over space, into a small MLP. `(3, h, w) -> (classes,)`."""

    backbone: eqx_resnet.ResNet
    head: eqx.nn.MLP

    def __call__(self, image, state):
        features, state = self.backbone.feature_maps(image, state)
        pooled = jnp.mean(features["layer4"], axis=(1, 2))  # (512,)
        return self.head(pooled), state


def loss_fn(trainable, frozen, state, images, labels):
    model = eqx.combine(trainable, frozen)
    # One example at a time, batched by vmap: BatchNorm takes its statistics over "batch".
    logits, state = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(images, state)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), state


def main(steps: int = 6, batch_size: int = 16, num_classes: int = 10) -> tuple[Classifier, eqx.nn.State]:
    k_backbone, k_head, k_images, k_labels = jax.random.split(jax.random.key(0), 4)
    # The builder returns the model and its BatchNorm state; the state stays valid inside our model.
    backbone, state = eqx_resnet.resnet18(stem="cifar", key=k_backbone)
    model = Classifier(backbone, eqx.nn.MLP(512, num_classes, width_size=128, depth=1, key=k_head))

    # Train every float array of the head, and the backbone's arrays outside FROZEN.
    # (Frozen BatchNorms still update their running statistics: those live in `state`.)
    spec = jax.tree.map(eqx.is_inexact_array, model)
    spec = eqx.tree_at(lambda s: s.backbone, spec, eqx_resnet.trainable_filter(backbone, FROZEN))
    trainable, frozen = eqx.partition(model, spec)
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(trainable)  # no optimizer state for the frozen arrays

    @eqx.filter_jit(compiler_options=eqx_resnet.compiler_options())
    def step(trainable, frozen, state, opt_state, images, labels):
        grad_fn = eqx.filter_value_and_grad(loss_fn, has_aux=True)  # w.r.t. `trainable` only
        (loss, state), grads = grad_fn(trainable, frozen, state, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, trainable)
        return eqx.apply_updates(trainable, updates), state, opt_state, loss

    images = jax.random.normal(k_images, (batch_size, 3, 32, 32))
    labels = jax.random.randint(k_labels, (batch_size,), 0, num_classes)
    for i in range(steps):
        trainable, state, opt_state, loss = step(trainable, frozen, state, opt_state, images, labels)
        print(f"step {i}: loss {float(loss):.4f}", flush=True)
    return eqx.combine(trainable, frozen), state  # evaluate with eqx.nn.inference_mode(model)


if __name__ == "__main__":
    main()
