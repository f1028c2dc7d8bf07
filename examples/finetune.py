"""Fine-tune ImageNet weights on MNIST: a pretrained ResNet-18 with a new 10-class head.

A linear probe, the cheapest fine-tuning: the pretrained backbone is frozen in inference
mode (its BatchNorms keep their ImageNet statistics), its features are computed once, and
only the new head trains on them; the head then goes back into the model, which classifies
the test digits end to end. The first convolution's RGB filters are summed for MNIST's one
channel (`in_channels=1`), and the 28x28 digits are resized to 32x32 for the ImageNet stem.
To fine-tune the stages too, partition the model with `eqx_resnet.trainable_filter` and
train it with its BatchNorm state, as examples/backbone.py does.

    python examples/finetune.py                                   # timm's resnet18.a1_in1k, from the Hugging Face Hub
    python examples/finetune.py --weights tv_in1k                 # another published set
    python examples/finetune.py --weights resnet18.safetensors    # a local torchvision-named state dict
    HF_HUB_OFFLINE=1 python examples/finetune.py                  # the Hub's cache only (a one-line error if empty)
"""

import argparse
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import eqx_resnet
from eqx_resnet.data import load_dataset, resize
from eqx_resnet.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
from eqx_resnet.weights import WeightsError, create_pretrained

DATA = Path(__file__).resolve().parents[1] / "data"  # the repository ships MNIST here
CHUNK = 256  # images per backbone call


def main(
    weights: str = "imagenet", train_size: int = 1024, test_size: int = 512, steps: int = 100, size: int = 32
) -> float:
    try:
        model, state, info = create_pretrained(
            "resnet18", weights, num_classes=10, in_channels=1, key=jax.random.key(0)
        )
    except WeightsError as e:
        sys.exit(f"error: {e}")
    print(f"weights: {info.name or info.path} (sha256 {info.sha256[:12]}, revision {info.revision})", flush=True)
    model = eqx.nn.inference_mode(model)  # frozen BatchNorms: running statistics, no updates

    # One grey channel: the mean of the weights' RGB statistics standardises it.
    preprocessing = info.pretrained.preprocessing if info.pretrained else None
    mean = float(np.mean(preprocessing.mean if preprocessing else IMAGENET_MEAN))
    std = float(np.mean(preprocessing.std if preprocessing else IMAGENET_STD))

    def prepare(images):  # (n, 1, 28, 28) uint8 -> (n, 1, size, size), standardised
        return (resize(jnp.asarray(images, jnp.float32) / 255.0, size) - mean) / std

    def batched(f, images):  # a per-image call over a batch; BatchNorm needs the "batch" axis name
        return jax.vmap(f, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(prepare(images), state)[0]

    jit = eqx.filter_jit(compiler_options=eqx_resnet.compiler_options())
    features = jit(lambda images: batched(model.feature_maps, images)["layer4"].mean(axis=(2, 3)))  # (n, 512)
    classify = jit(lambda model, images: batched(model, images))

    train, test = load_dataset("mnist", "train", DATA), load_dataset("mnist", "test", DATA)
    pick = np.random.default_rng(0).permutation(len(train.labels))[:train_size]
    x = jnp.concatenate([features(train.images[pick[i : i + CHUNK]]) for i in range(0, train_size, CHUNK)])
    y = jnp.asarray(train.labels[pick])

    optimizer = optax.adam(1e-3)

    @jit
    def step(head, opt_state):
        def loss_fn(head):
            return optax.softmax_cross_entropy_with_integer_labels(jax.vmap(head)(x), y).mean()

        loss, grads = eqx.filter_value_and_grad(loss_fn)(head)
        updates, opt_state = optimizer.update(grads, opt_state, head)
        return eqx.apply_updates(head, updates), opt_state, loss

    head = model.fc
    opt_state = optimizer.init(head)
    for i in range(steps):
        head, opt_state, loss = step(head, opt_state)
        if i % 10 == 0 or i == steps - 1:
            print(f"step {i}: loss {float(loss):.4f}", flush=True)

    model = eqx.tree_at(lambda m: m.fc, model, head)
    predictions = jnp.concatenate(
        [jnp.argmax(classify(model, test.images[i : i + CHUNK]), -1) for i in range(0, test_size, CHUNK)]
    )
    accuracy = float(jnp.mean(predictions == test.labels[:test_size]))
    print(f"test accuracy on {test_size} images: {accuracy:.2%}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="imagenet", help="'imagenet', a tag such as tv_in1k, or a weights file")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    main(args.weights, steps=args.steps)
