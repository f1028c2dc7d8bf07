"""One CPU convolution three ways: jaxlib's default backend, with `eqx_resnet.compiler_options()`, and PyTorch.

The reason behind `src/eqx_resnet/_xla_cpu/options.py`: jaxlib 0.10 runs CPU convolutions through
YNNPACK, which used one core of the project's 2-core machine. Times a 3x3, stride-1
convolution (forward only, fp32, NCHW in and out) and prints milliseconds and GFLOP/s:

    python benchmarks/experiments/cpu_conv_backends.py [--batch 128] [--channels 64] [--size 32] [--rounds 5]

Run it again under `taskset -c 0` to see which backend uses more than one core.
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import eqx_resnet


def best_of(fn, rounds: int) -> float:
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, c, s = args.batch, args.channels, args.size
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((n, c, s, s), np.float32)
    w_np = rng.standard_normal((c, c, 3, 3), np.float32)
    flops = 2 * n * s * s * c * c * 9

    def conv(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW"))

    x, w = jnp.asarray(x_np), jnp.asarray(w_np)
    rows = []
    for label, options in [("jax, default options", None), ("jax, eqx_resnet.compiler_options()", eqx_resnet.compiler_options("cpu"))]:
        compiled = jax.jit(conv, compiler_options=options).lower(x, w).compile()
        rows.append((label, best_of(lambda: compiled(x, w).block_until_ready(), args.rounds)))
    try:
        import torch
    except ImportError:
        print("torch is not installed: no PyTorch row")
    else:
        module = torch.nn.Conv2d(c, c, 3, padding=1, bias=False)
        module.weight.data = torch.from_numpy(w_np)
        xt = torch.from_numpy(x_np)
        with torch.no_grad():
            rows.append((f"torch {torch.__version__}, {torch.get_num_threads()} threads", best_of(lambda: module(xt), args.rounds)))
    print(f"3x3 conv, {n}x{c}x{s}x{s}, fp32; fastest of {args.rounds} rounds")
    for label, seconds in rows:
        print(f"{label:<40}{1e3 * seconds:9.1f} ms{flops / seconds / 1e9:9.1f} GFLOP/s")


if __name__ == "__main__":
    main()
