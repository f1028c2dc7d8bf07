"""The Flax (linen) peers: the zoo's networks written as Flax's ImageNet example writes them.

NHWC, `nn.Conv` / `nn.BatchNorm(momentum=0.9)` (PyTorch's 0.1), bf16 through each
layer's `dtype` with float32 parameters. Padding is explicit and symmetric, as in
PyTorch and the zoo, so every framework computes the same network. Imported only
when a benchmark asks for flax.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..models.forward import COMPUTE_DTYPES
from ..parameters import count_parameters
from .timing import Runner, jax_runner
from .workloads import init_key


def _conv(features: int, kernel: int, stride: int = 1, padding: int = 0, *, dtype, bias: bool = False) -> nn.Conv:
    return nn.Conv(
        features, (kernel, kernel), (stride, stride), padding=[(padding, padding)] * 2, use_bias=bias, dtype=dtype
    )


def _norm(train: bool, dtype) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype)


def _max_pool(x, padding: int):
    return nn.max_pool(x, (3, 3), (2, 2), padding=[(padding, padding)] * 2)


class ResNetBlock(nn.Module):
    """A basic block (two 3x3 convs) or a bottleneck (1x1, 3x3 with the stride, 1x1 x4)."""

    planes: int
    stride: int
    bottleneck: bool
    dtype: Any

    @nn.compact
    def __call__(self, x, train: bool):
        conv, norm = functools.partial(_conv, dtype=self.dtype), functools.partial(_norm, train, self.dtype)
        if self.bottleneck:
            y = nn.relu(norm()(conv(self.planes, 1)(x)))
            y = nn.relu(norm()(conv(self.planes, 3, self.stride, 1)(y)))
            y = norm()(conv(4 * self.planes, 1)(y))
        else:
            y = nn.relu(norm()(conv(self.planes, 3, self.stride, 1)(x)))
            y = norm()(conv(self.planes, 3, 1, 1)(y))
        if x.shape != y.shape:
            x = norm()(conv(y.shape[-1], 1, self.stride)(x))
        return nn.relu(y + x)


class ResNet(nn.Module):
    """torchvision's ResNet in linen; `stem="cifar"` is a 3x3/1 conv without max-pool."""

    layers: tuple[int, ...]
    bottleneck: bool
    num_classes: int
    stem: str
    dtype: Any

    @nn.compact
    def __call__(self, x, train: bool):
        if self.stem == "imagenet":
            x = nn.relu(_norm(train, self.dtype)(_conv(64, 7, 2, 3, dtype=self.dtype)(x)))
            x = _max_pool(x, 1)
        else:
            x = nn.relu(_norm(train, self.dtype)(_conv(64, 3, 1, 1, dtype=self.dtype)(x)))
        for i, n in enumerate(self.layers):
            for j in range(n):
                x = ResNetBlock(64 * 2**i, 2 if i > 0 and j == 0 else 1, self.bottleneck, self.dtype)(x, train)
        return nn.Dense(self.num_classes, dtype=self.dtype)(jnp.mean(x, axis=(1, 2))).astype(jnp.float32)


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3 twice; a subsampling block projects its input with BN-ReLU-1x1/2 conv."""

    features: int
    subsample: bool
    dtype: Any

    @nn.compact
    def __call__(self, x, train: bool):
        conv, norm = functools.partial(_conv, dtype=self.dtype), functools.partial(_norm, train, self.dtype)
        z = conv(self.features, 3, 2 if self.subsample else 1, 1)(nn.relu(norm()(x)))
        z = conv(self.features, 3, 1, 1)(nn.relu(norm()(z)))
        if self.subsample:
            x = conv(self.features, 1, 2)(nn.relu(norm()(x)))
        return z + x


class PreActResNet(nn.Module):
    """The pre-activation ResNet of He et al. 2016: 16/32/64 channels, three blocks a stage, no final BatchNorm."""

    num_classes: int
    dtype: Any
    widths: tuple[int, ...] = (16, 32, 64)
    blocks_per_stage: int = 3

    @nn.compact
    def __call__(self, x, train: bool):
        x = _conv(self.widths[0], 3, 1, 1, dtype=self.dtype)(x)
        for i, width in enumerate(self.widths):
            for j in range(self.blocks_per_stage):
                x = PreActBlock(width, i > 0 and j == 0, self.dtype)(x, train)
        return nn.Dense(self.num_classes, dtype=self.dtype)(jnp.mean(x, axis=(1, 2))).astype(jnp.float32)


class AlexNet(nn.Module):
    """AlexNet with BatchNorm for 96x96 inputs; dropout 0.5 while training."""

    num_classes: int
    dtype: Any

    @nn.compact
    def __call__(self, x, train: bool):
        for out, kernel, stride, padding, pool in (
            (96, 11, 4, 0, True),
            (256, 5, 1, 2, True),
            (384, 3, 1, 1, False),
            (384, 3, 1, 1, False),
            (256, 3, 1, 1, True),
        ):
            x = _conv(out, kernel, stride, padding, dtype=self.dtype, bias=True)(x)
            x = nn.relu(_norm(train, self.dtype)(x))
            x = _max_pool(x, 0) if pool else x
        x = x.reshape(x.shape[0], -1)
        for _ in range(2):
            x = nn.Dropout(0.5, deterministic=not train)(nn.relu(nn.Dense(4096, dtype=self.dtype)(x)))
        return nn.Dense(self.num_classes, dtype=self.dtype)(x).astype(jnp.float32)


_RESNETS = {
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
    101: ((3, 4, 23, 3), True),
    152: ((3, 8, 36, 3), True),
}


def build_module(spec, dtype=jnp.float32) -> nn.Module:
    """The linen network of a `ModelSpec`, computing in `dtype`."""
    if spec.depth is not None:
        layers, bottleneck = _RESNETS[spec.depth]
        return ResNet(layers, bottleneck, spec.num_classes, spec.stem, dtype)
    if spec.zoo == "preact_resnet":
        return PreActResNet(spec.num_classes, dtype)
    if spec.zoo == "alexnet":
        return AlexNet(spec.num_classes, dtype)
    raise ValueError(
        f"flax has no peer of {spec.name}: the Flax peers are resnet18 ... resnet152, resnet18_cifar, preact_resnet "
        "and alexnet"
    )


@functools.cache
def _jitted_init(module: nn.Module):
    # Cached: a model's inference and training workloads share one compiled initialiser.
    return jax.jit(functools.partial(module.init, train=False))


def init_variables(module: nn.Module, input_shape: tuple[int, int, int]) -> dict:
    """Parameters and BatchNorm statistics for NHWC images of `input_shape` (c, h, w)."""
    c, h, w = input_shape
    return _jitted_init(module)(init_key(), jnp.zeros((1, h, w, c)))


def build(spec, step: str, settings, images: np.ndarray, labels: np.ndarray) -> Runner:
    """The Flax step of `spec` on `images` (NCHW, laid out NHWC here) and `labels`, compiled and ready to time."""
    device = jax.devices(settings.platform)[0]
    optimizer = settings.optax_optimizer()
    module = build_module(spec, COMPUTE_DTYPES[settings.precision])
    variables = init_variables(module, images.shape[1:])
    params, stats = variables["params"], variables["batch_stats"]
    x = jax.device_put(np.ascontiguousarray(images.transpose(0, 2, 3, 1)), device)
    parameters = count_parameters(params)

    if step == "inference":

        def infer(carry, x):
            params, stats = carry
            return module.apply({"params": params, "batch_stats": stats}, x, train=False)

        return jax_runner(infer, jax.device_put((params, stats), device), (x,), train=False, parameters=parameters)

    def train(carry, x, y, key):
        params, stats, opt_state = carry

        def loss_fn(params):
            logits, new = module.apply(
                {"params": params, "batch_stats": stats}, x, train=True, mutable=["batch_stats"], rngs={"dropout": key}
            )
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new["batch_stats"]

        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), stats, opt_state), loss

    carry = jax.device_put((params, stats, optimizer.init(params)), device)
    inputs = jax.device_put((x, labels, jax.random.key(1)), device)
    return jax_runner(train, carry, inputs, train=True, parameters=parameters)
