"""Train a small pre-activation ResNet on MNIST from Python, with the public API.

    python examples/train_mnist.py            # 3 epochs: ~99% test accuracy
    python examples/train_mnist.py --limit 2048 --epochs 1    # a quick look

The model and schedule of `eqx-resnet train mnist` on a CPU, written out without its
augmentation: data on the device, a jitted step per batch, evaluation in inference mode,
a checkpoint.
"""

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

import eqx_resnet

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--limit", type=int, default=None, help="train on the first N images only")
args = parser.parse_args()

train, test = eqx_resnet.load_dataset("mnist", "train"), eqx_resnet.load_dataset("mnist", "test")
x_train, y_train = jnp.asarray(train.images[: args.limit]), jnp.asarray(train.labels[: args.limit])
batch, steps = 128, len(y_train) // 128

model, state = eqx_resnet.preact_resnet(widths=(16, 32, 64), blocks_per_stage=2, stem_stride=2, key=jax.random.key(0))
optimizer = optax.adam(optax.cosine_onecycle_schedule(args.epochs * steps, 3e-3))
opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
train_step = eqx_resnet.make_train_step(optimizer)


# On CPU: XLA's multi-threaded Eigen convolutions rather than YNNPACK's (see eqx_resnet/_xla_cpu/options.py).
@eqx.filter_jit(compiler_options=eqx_resnet.compiler_options())
def step(model, state, opt_state, images, labels, key):
    images = eqx_resnet.normalize(images, train.info)  # uint8 -> normalised float32, on the device
    return train_step(model, state, opt_state, images, labels, key)


evaluate = eqx_resnet.make_evaluator(jnp.asarray(test.images), jnp.asarray(test.labels), test.info)
key = jax.random.key(1)
for epoch in range(1, args.epochs + 1):
    key, perm_key = jax.random.split(key)
    order = jax.random.permutation(perm_key, len(y_train))
    for i in range(steps):
        idx = order[i * batch : (i + 1) * batch]
        model, state, opt_state, metrics = step(
            model, state, opt_state, x_train[idx], y_train[idx], jax.random.fold_in(key, i)
        )
    result = evaluate(model, state)
    print(f"epoch {epoch}: last batch loss {float(metrics['loss']):.4f}, test accuracy {result['test_acc']:.2%}")

meta = {
    "model": "preact_resnet",
    "model_options": {"widths": [16, 32, 64], "blocks_per_stage": 2, "stem_stride": 2},
    "dataset": "mnist",
    "image_size": 28,
    "epoch": args.epochs,
}
eqx_resnet.save_checkpoint("runs/example-mnist", model, state, opt_state, metadata=meta)
print("saved runs/example-mnist; evaluate it with: eqx-resnet eval runs/example-mnist")
