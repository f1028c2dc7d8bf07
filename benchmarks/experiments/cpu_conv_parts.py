"""The PreActResNet's convolutions on this CPU, part by part: eqx-resnet (XLA) against PyTorch.

For each convolution shape of `preact_resnet` at batch 128 (28x28x16, 14x14x32, 7x7x64,
and the 16->32 stride-2 one), times the three convolutions of a training step apart: the
forward pass, the input gradient and the weight gradient. XLA's are compiled with
`eqx_resnet.compiler_options()` from `Conv2d`'s layout (channels-last input, OIHW
weight); PyTorch's are `aten.convolution_backward` on channels-last tensors, with one
thread per core. All six take turns round by round, each calling twice and timing the
second call: PyTorch's OpenMP threads spin for a few ms after returning, which slowed
an XLA call right after them by up to 1.7x here. Prints medians in ms and XLA / PyTorch
per part (below 1: XLA is faster).

    python benchmarks/experiments/cpu_conv_parts.py [--rounds 15] [--batch 128]
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import eqx_resnet
from eqx_resnet.benchmarking import describe_device, peer_missing
from eqx_resnet.benchmarking.timing import cpu_cores

# (size, in channels, out channels, stride): the 3x3 convolutions of preact_resnet.
SHAPES = [(28, 16, 16, 1), (14, 32, 32, 1), (7, 64, 64, 1), (28, 16, 32, 2)]
PARTS = ("forward", "input grad", "weight grad")


def xla_parts(x, w, stride):
    def conv(x, w):
        return lax.conv_general_dilated(x, w, (stride,) * 2, ((1, 1),) * 2, dimension_numbers=("NHWC", "OIHW", "NHWC"))

    g = jnp.full(jax.eval_shape(conv, x, w).shape, 0.01, jnp.float32)
    functions = (conv, lambda x, w: jax.vjp(lambda x: conv(x, w), x)[1](g)[0], lambda x, w: jax.vjp(lambda w: conv(x, w), w)[1](g)[0])
    options = eqx_resnet.compiler_options("cpu")
    compiled = [jax.jit(f, compiler_options=options).lower(x, w).compile() for f in functions]
    return [lambda c=c: c(x, w).block_until_ready() for c in compiled]


def torch_parts(x, w, stride):
    import torch

    x = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2)  # NCHW view of NHWC memory: channels-last
    w = torch.from_numpy(np.array(w))
    with torch.no_grad():
        g = torch.full_like(torch.nn.functional.conv2d(x, w, stride=stride, padding=1), 0.01)

    def backward(mask):
        return lambda: torch.ops.aten.convolution_backward(g, x, w, None, [stride] * 2, [1, 1], [1, 1], False, [0, 0], 1, mask)

    def forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, w, stride=stride, padding=1)

    return [forward, backward([True, False, False]), backward([False, True, False])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed calls per part, after one warm-up call")
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    if reason := peer_missing("torch", "cpu"):
        raise SystemExit(f"cpu_conv_parts needs torch: {reason}")
    import torch

    torch.set_num_threads(cpu_cores())
    print(f"{describe_device('cpu')}; 3x3 convolutions, batch {args.batch}, fp32; median of {args.rounds} calls; "
          "ms xla / torch (ratio)", flush=True)
    print(f"{'shape':<22}" + "".join(f"{part:>26}" for part in PARTS), flush=True)
    for size, c_in, c_out, stride in SHAPES:
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal((args.batch, size, size, c_in), np.float32))
        w = jnp.asarray(0.1 * rng.standard_normal((c_out, c_in, 3, 3), np.float32))
        calls = {("xla", part): f for part, f in zip(PARTS, xla_parts(x, w, stride))}
        calls |= {("torch", part): f for part, f in zip(PARTS, torch_parts(x, w, stride))}
        times = {key: [] for key in calls}
        for f in calls.values():
            f()
        for _ in range(args.rounds):
            for key, f in calls.items():
                f()  # untimed: the other library's threads settle meanwhile
                start = time.perf_counter()
                f()
                times[key].append(time.perf_counter() - start)
        ms = {key: 1e3 * statistics.median(t) for key, t in times.items()}
        cells = (f"{ms['xla', p]:.2f} / {ms['torch', p]:.2f} ({ms['xla', p] / ms['torch', p]:.2f})" for p in PARTS)
        print(f"{f'{size}x{size}x{c_in}->{c_out} s{stride}':<22}" + "".join(f"{cell:>26}" for cell in cells), flush=True)


if __name__ == "__main__":
    main()
