"""Reference: a plain Flax PreActResNet for MNIST (linen, 16/32/64 channels,
3 blocks a stage, 273,306 numbers in all), trained on MNIST with Adam 1e-3, batch 128,
data already on the device, one jitted step per batch. Prints per-epoch test accuracy and wall time.

Usage: python benchmarks/anchors/anchor_flax_mnist.py MNIST_DIR [--epochs 10]
"""

import argparse
import gzip
import json
import struct
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    nd = struct.unpack(">I", data[:4])[0] & 0xFF
    shape = struct.unpack(">" + "I" * nd, data[4 : 4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(shape)


class PreActBlock(nn.Module):
    c: int
    subsample: bool

    @nn.compact
    def __call__(self, x, train):
        bn = lambda: nn.BatchNorm(use_running_average=not train)
        z = nn.relu(bn()(x))
        z = nn.Conv(self.c, (3, 3), strides=(2, 2) if self.subsample else (1, 1), use_bias=False)(z)
        z = nn.relu(bn()(z))
        z = nn.Conv(self.c, (3, 3), use_bias=False)(z)
        if self.subsample:
            x = nn.Conv(self.c, (1, 1), strides=(2, 2), use_bias=False)(nn.relu(bn()(x)))
        return z + x


class PreActResNet(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
        x = nn.Conv(16, (3, 3), use_bias=False)(x)
        for i, c in enumerate((16, 32, 64)):
            for j in range(3):
                x = PreActBlock(c, subsample=(j == 0 and i > 0))(x, train)
        return nn.Dense(10)(x.mean(axis=(1, 2)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--scan", action="store_true", help="one jitted lax.scan per epoch")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--onecycle", action="store_true")
    a = p.parse_args()
    t_start = time.perf_counter()
    xtr = jnp.asarray(idx(f"{a.root}/train-images-idx3-ubyte.gz"), jnp.float32)[..., None] / 255
    ytr = jnp.asarray(idx(f"{a.root}/train-labels-idx1-ubyte.gz"), jnp.int32)
    xte = jnp.asarray(idx(f"{a.root}/t10k-images-idx3-ubyte.gz"), jnp.float32)[..., None] / 255
    yte = jnp.asarray(idx(f"{a.root}/t10k-labels-idx1-ubyte.gz"), jnp.int32)
    model = PreActResNet()
    v = model.init(jax.random.key(0), xtr[:2], train=False)
    n_params = sum(x.size for x in jax.tree.leaves(v))
    steps_per_epoch = xtr.shape[0] // a.batch
    lr = optax.cosine_onecycle_schedule(a.epochs * steps_per_epoch, a.lr) if a.onecycle else a.lr
    tx = optax.adam(lr)
    params, stats = v["params"], v["batch_stats"]
    opt = tx.init(params)

    @jax.jit
    def step(params, stats, opt, x, y):
        def loss_fn(p):
            logits, new = model.apply({"params": p, "batch_stats": stats}, x, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new

        (_, new), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        u, opt = tx.update(g, opt, params)
        return optax.apply_updates(params, u), new["batch_stats"], opt

    @jax.jit
    def correct(params, stats, x, y):
        return (model.apply({"params": params, "batch_stats": stats}, x, train=False).argmax(-1) == y).sum()

    n = xtr.shape[0] // a.batch * a.batch

    @jax.jit
    def epoch(params, stats, opt, key):
        perm = jax.random.permutation(key, xtr.shape[0])[:n].reshape(-1, a.batch)

        def body(c, ix):
            return step(*c, xtr[ix], ytr[ix]), None

        return jax.lax.scan(body, (params, stats, opt), perm)[0]

    key = jax.random.key(1)
    for ep in range(a.epochs):
        t0 = time.perf_counter()
        key, sub = jax.random.split(key)
        if a.scan:
            params, stats, opt = epoch(params, stats, opt, sub)
        else:
            perm = jax.random.permutation(sub, xtr.shape[0])
            for i in range(0, n, a.batch):
                ix = perm[i : i + a.batch]
                params, stats, opt = step(params, stats, opt, xtr[ix], ytr[ix])
        c = sum(int(correct(params, stats, xte[i : i + 1000], yte[i : i + 1000])) for i in range(0, 10000, 1000))
        print(
            json.dumps(
                dict(
                    epoch=ep + 1,
                    test_acc=c / 10000,
                    epoch_s=round(time.perf_counter() - t0, 2),
                    total_s=round(time.perf_counter() - t_start, 1),
                    numbers=n_params,
                    device=str(jax.devices()[0]),
                )
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
