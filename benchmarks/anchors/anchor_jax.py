"""Anchors in JAX: a Flax-linen ResNet (NHWC, as in flax's imagenet example) and a
straightforward Equinox ResNet (per-example modules under vmap, eqx.nn.BatchNorm +
eqx.nn.State), timed on the same synthetic batch. Not project code: a yardstick.

Usage: python benchmarks/anchors/anchor_jax.py --fw flax|eqx [--depths 18,50] [--batch 256] [--res 224] [--steps 30]
"""

import argparse
import functools
import json
import time

import jax
import jax.numpy as jnp
import optax

STAGES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottle", (3, 4, 6, 3)),
    101: ("bottle", (3, 4, 23, 3)),
    152: ("bottle", (3, 8, 36, 3)),
}


# ---------------------------------------------------------------- flax
def flax_model(depth, dtype):
    import flax.linen as nn

    kind, sizes = STAGES[depth]

    class Block(nn.Module):
        f: int
        stride: int
        bottle: bool

        @nn.compact
        def __call__(self, x, train):
            conv = functools.partial(nn.Conv, use_bias=False, dtype=dtype)
            norm = functools.partial(
                nn.BatchNorm, use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype
            )
            r = x
            if self.bottle:
                y = nn.relu(norm()(conv(self.f, (1, 1))(x)))
                y = nn.relu(norm()(conv(self.f, (3, 3), self.stride)(y)))
                y = norm(scale_init=nn.initializers.zeros)(conv(self.f * 4, (1, 1))(y))
                out = self.f * 4
            else:
                y = nn.relu(norm()(conv(self.f, (3, 3), self.stride)(x)))
                y = norm(scale_init=nn.initializers.zeros)(conv(self.f, (3, 3))(y))
                out = self.f
            if r.shape != y.shape:
                r = norm()(conv(out, (1, 1), self.stride)(r))
            return nn.relu(y + r)

    class ResNet(nn.Module):
        @nn.compact
        def __call__(self, x, train=True):
            x = nn.Conv(64, (7, 7), (2, 2), padding=[(3, 3), (3, 3)], use_bias=False, dtype=dtype)(x)
            x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=dtype)(x))
            x = nn.max_pool(x, (3, 3), (2, 2), padding="SAME")
            for i, n in enumerate(sizes):
                for j in range(n):
                    x = Block(64 * 2**i, 2 if (i > 0 and j == 0) else 1, kind == "bottle")(x, train)
            x = jnp.mean(x, axis=(1, 2))
            return nn.Dense(1000, dtype=dtype)(x).astype(jnp.float32)

    return ResNet()


def flax_bench(depth, batch, res, steps, dtype, train):
    model = flax_model(depth, dtype)
    x = jax.random.normal(jax.random.key(0), (batch, res, res, 3), jnp.float32)
    y = jax.random.randint(jax.random.key(1), (batch,), 0, 1000)
    v = jax.jit(functools.partial(model.init, train=False))(jax.random.key(2), x[:1])
    params, stats = v["params"], v["batch_stats"]
    tx = optax.sgd(0.1, momentum=0.9)
    opt = tx.init(params)

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def train_step(params, stats, opt, x, y):
        def loss_fn(p):
            logits, new = model.apply({"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new

        (loss, new), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        upd, opt = tx.update(g, opt, params)
        return optax.apply_updates(params, upd), new["batch_stats"], opt, loss

    @jax.jit
    def infer(params, stats, x):
        return model.apply({"params": params, "batch_stats": stats}, x, train=False)

    if train:
        state = [params, stats, opt]

        def run():
            nonlocal state
            *state, loss = train_step(*state, x, y)
            return loss
    else:

        def run():
            return infer(params, stats, x)

    return timeit(run, steps)


# ---------------------------------------------------------------- equinox (naive)
def eqx_model(depth, key):
    import equinox as eqx

    kind, sizes = STAGES[depth]

    class Block(eqx.Module):
        convs: list
        norms: list
        down: tuple | None

        def __init__(self, cin, f, stride, bottle, key):
            ks = jax.random.split(key, 4)
            if bottle:
                chans = [(cin, f, 1, 1), (f, f, 3, stride), (f, 4 * f, 1, 1)]
                out = 4 * f
            else:
                chans = [(cin, f, 3, stride), (f, f, 3, 1)]
                out = f
            self.convs = [
                eqx.nn.Conv2d(a, b, k, s, padding=k // 2, use_bias=False, key=kk) for (a, b, k, s), kk in zip(chans, ks)
            ]
            self.norms = [eqx.nn.BatchNorm(b, axis_name="batch", momentum=0.9, mode="batch") for (_, b, _, _) in chans]
            if stride != 1 or cin != out:
                self.down = (
                    eqx.nn.Conv2d(cin, out, 1, stride, use_bias=False, key=ks[3]),
                    eqx.nn.BatchNorm(out, axis_name="batch", momentum=0.9, mode="batch"),
                )
            else:
                self.down = None

        def __call__(self, x, state):
            y = x
            for i, (c, n) in enumerate(zip(self.convs, self.norms)):
                y, state = n(c(y), state)
                if i < len(self.convs) - 1:
                    y = jax.nn.relu(y)
            r = x
            if self.down is not None:
                r, state = self.down[1](self.down[0](x), state)
            return jax.nn.relu(y + r), state

    class ResNet(eqx.Module):
        stem: eqx.nn.Conv2d
        bn: eqx.nn.BatchNorm
        pool: eqx.nn.MaxPool2d
        blocks: list
        fc: eqx.nn.Linear

        def __init__(self, key):
            k = jax.random.split(key, 3)
            self.stem = eqx.nn.Conv2d(3, 64, 7, 2, padding=3, use_bias=False, key=k[0])
            self.bn = eqx.nn.BatchNorm(64, axis_name="batch", momentum=0.9, mode="batch")
            self.pool = eqx.nn.MaxPool2d(3, 2, padding=1)
            blocks, cin = [], 64
            bk = jax.random.split(k[1], sum(sizes))
            t = 0
            for i, n in enumerate(sizes):
                for j in range(n):
                    f = 64 * 2**i
                    blocks.append(Block(cin, f, 2 if (i > 0 and j == 0) else 1, kind == "bottle", bk[t]))
                    t += 1
                    cin = 4 * f if kind == "bottle" else f
            self.blocks = blocks
            self.fc = eqx.nn.Linear(cin, 1000, key=k[2])

        def __call__(self, x, state):
            x, state = self.bn(self.stem(x), state)
            x = self.pool(jax.nn.relu(x))
            for b in self.blocks:
                x, state = b(x, state)
            return self.fc(jnp.mean(x, axis=(1, 2))), state

    return eqx.nn.make_with_state(ResNet)(key)


def eqx_bench(depth, batch, res, steps, dtype, train):
    import equinox as eqx

    model, state = eqx_model(depth, jax.random.key(0))
    x = jax.random.normal(jax.random.key(0), (batch, 3, res, res), jnp.float32)
    y = jax.random.randint(jax.random.key(1), (batch,), 0, 1000)
    tx = optax.sgd(0.1, momentum=0.9)
    opt = tx.init(eqx.filter(model, eqx.is_inexact_array))

    def cast(t):
        return jax.tree.map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a, t)

    @eqx.filter_jit(donate="all-except-first")
    def train_step(x, model, state, opt):
        def loss_fn(m):
            m = cast(m)
            logits, st = jax.vmap(m, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(
                x.astype(dtype), cast(state)
            )
            st = jax.tree.map(lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a) else a, st)
            return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), y).mean(), st

        (loss, st), g = eqx.filter_value_and_grad(loss_fn, has_aux=True)(model)
        upd, opt = tx.update(g, opt, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, upd), st, opt, loss

    inf_model = eqx.nn.inference_mode(model)

    @eqx.filter_jit
    def infer(m, state, x):
        m = cast(m)
        return jax.vmap(m, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x.astype(dtype), cast(state))[0]

    if train:
        st = [model, state, opt]

        def run():
            nonlocal st
            *st, loss = train_step(x, *st)
            return loss
    else:

        def run():
            return infer(inf_model, state, x)

    return timeit(run, steps)


def timeit(run, steps):
    t0 = time.perf_counter()
    for _ in range(3):
        jax.block_until_ready(run())
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        out = run()
    jax.block_until_ready(out)
    return steps / (time.perf_counter() - t0), warm


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fw", default="flax")
    p.add_argument("--depths", default="18,50")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--res", type=int, default=224)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--dtypes", default="bfloat16,float32")
    p.add_argument("--modes", default="train,infer")
    a = p.parse_args()
    fn = flax_bench if a.fw == "flax" else eqx_bench
    for d in a.depths.split(","):
        for dt in a.dtypes.split(","):
            for mode in a.modes.split(","):
                sps, warm = fn(int(d), a.batch, a.res, a.steps, jnp.dtype(dt), mode == "train")
                print(
                    json.dumps(
                        dict(
                            fw=a.fw,
                            depth=int(d),
                            batch=a.batch,
                            res=a.res,
                            dtype=dt,
                            train=mode == "train",
                            img_s=round(sps * a.batch, 1),
                            warmup_s=round(warm, 1),
                            device=str(jax.devices()[0]),
                        )
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
