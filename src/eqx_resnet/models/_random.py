"""Initial weights drawn on the host with NumPy, so that building a model compiles nothing.

`jax.random` compiles a sampler for every new weight shape and a split for every new count,
which made a fresh process take 10 s to build a ResNet on a CPU (benchmarks/model_build.py).
Here a key's implementation and words seed a NumPy `SeedSequence`, whose PCG64 stream fills
the weights, which go to the device as they are (on a CPU without a copy). NumPy's PCG64 and
its samplers give the same numbers on every platform, so a key gives the same weights on a
CPU and a GPU and in every run, RBG keys included.

Each key is one stream: a layer draws all its weights from its key, in order; `split` gives
children spawned from the key's `SeedSequence`, streams independent of it and of each other.
Under a trace (`jax.jit`, `jax.vmap` or `eqx.filter_eval_shape` of a builder) the key has no
value yet: the same host function runs as a `jax.pure_callback`, so a traced build gives the
weights an eager build gives.
"""

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec
from jaxtyping import Array, PRNGKeyArray


def _key_data(key: PRNGKeyArray) -> tuple[Array | np.ndarray, str]:
    """The key's words, `uint32[w]`, and the name of its implementation (a raw key's is JAX's default)."""
    typed = hasattr(key, "dtype") and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    data = jax.random.key_data(key) if typed else key
    if getattr(data, "ndim", None) != 1 or data.dtype != np.uint32:
        given = f"an array of shape {tuple(key.shape)} and dtype {key.dtype}" if hasattr(key, "dtype") else repr(key)
        raise ValueError(
            f"key must be one JAX key, got {given}: pass key=jax.random.key(0) (any seed), one key of a batch "
            "(keys[0]), or vmap the builder over the batch"
        )
    return data, str(jax.random.key_impl(key)) if typed else jax.config.jax_default_prng_impl


def _on_host(key: PRNGKeyArray, compute: Callable[[np.random.SeedSequence], object], result):
    """`compute` of the key's seed, its implementation and words (two implementations never share a stream):
    now for a key with a value; under a trace, as a `jax.pure_callback` of `result`'s shapes."""
    data, impl = _key_data(key)

    def run(words: np.ndarray | Array):  # a callback gets JAX arrays
        return compute(np.random.SeedSequence([int.from_bytes(impl.encode(), "little"), *np.asarray(words).tolist()]))

    if isinstance(data, jax.core.Tracer):
        return jax.pure_callback(run, result, data, vmap_method="sequential")
    return run(np.asarray(data))


def _on_device(x: np.ndarray | Array) -> Array:
    """`x` as a JAX array where `jnp` would put a new one (on the mesh of `jax.set_mesh`), without compiling."""
    try:
        mesh = jax.sharding.get_mesh()
    except ValueError:  # inside a trace (jit, eval_shape), which knows the abstract mesh alone
        mesh = jax.sharding.get_abstract_mesh()
    return jax.device_put(x, None if mesh.empty else NamedSharding(mesh, PartitionSpec()))


def _float() -> np.dtype:
    """JAX's default float dtype, as `jax.random` and `jnp.zeros` make: float32, or float64 under `jax_enable_x64`.
    Values are drawn in float32 either way, so that a key gives the same weights."""
    return jax.dtypes.canonicalize_dtype(float)


def _aligned(shape: tuple[int, ...]) -> np.ndarray:
    """An empty float32 array at a 64-byte boundary, which `jax.device_put` on a CPU takes without a copy."""
    size = math.prod(shape)
    buffer = np.empty(size + 16, np.float32)
    start = (-buffer.ctypes.data % 64) // 4
    return buffer[start : start + size].reshape(shape)


def _draw(
    key: PRNGKeyArray, shapes: Sequence[tuple[int, ...]], fill: Callable[[np.random.Generator, np.ndarray], None]
) -> list[Array]:
    """Arrays of `shapes`, filled in turn from `key`'s stream by `fill(generator, out)`, in the default float dtype."""
    dtype = _float()

    def compute(seed: np.random.SeedSequence) -> list[np.ndarray]:
        generator, arrays = np.random.Generator(np.random.PCG64(seed)), []
        for shape in shapes:
            arrays.append(_aligned(shape))
            fill(generator, arrays[-1])
        return [a.astype(dtype, copy=False) for a in arrays]

    arrays = _on_host(key, compute, [jax.ShapeDtypeStruct(shape, dtype) for shape in shapes])
    return [_on_device(a) for a in arrays]


def split(key: PRNGKeyArray, num: int) -> list[PRNGKeyArray]:
    """`num` independent keys from `key`, of its kind: typed keys of its implementation, or raw keys."""
    width = _key_data(key)[0].shape[0]

    def compute(seed: np.random.SeedSequence) -> np.ndarray:
        return np.stack([child.generate_state(width, np.uint32) for child in seed.spawn(num)])

    children = [_on_device(words) for words in _on_host(key, compute, jax.ShapeDtypeStruct((num, width), np.uint32))]
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return [jax.random.wrap_key_data(words, impl=jax.random.key_impl(key)) for words in children]
    return children


def normal(key: PRNGKeyArray, shape: tuple[int, ...], std: float) -> Array:
    """Normal values of mean 0 and standard deviation `std`."""

    def fill(generator: np.random.Generator, out: np.ndarray) -> None:
        generator.standard_normal(out=out, dtype=np.float32)
        out *= np.float32(std)

    return _draw(key, [shape], fill)[0]


def uniform(key: PRNGKeyArray, shapes: Sequence[tuple[int, ...]], bound: float) -> list[Array]:
    """Arrays of `shapes` uniform between `-bound` and `bound`, drawn one after the other from `key`'s stream."""

    def fill(generator: np.random.Generator, out: np.ndarray) -> None:
        generator.random(out=out, dtype=np.float32)
        out *= np.float32(2 * bound)
        out -= np.float32(bound)

    return _draw(key, shapes, fill)


def filled(shape: tuple[int, ...], value: float) -> Array:
    """An array of `value`s (BatchNorm's ones and zeros) in the default float dtype, without compiling."""
    return _on_device(np.full(shape, value, _float()))


def linear(in_features: int, out_features: int, *, key: PRNGKeyArray) -> eqx.nn.Linear:
    """`eqx.nn.Linear(in_features, out_features, key=key)` with its weight and bias drawn here, uniform within
    `1/sqrt(in_features)` of zero as Equinox and PyTorch draw them (Equinox's own draw compiles per shape)."""
    layer = eqx.filter_eval_shape(eqx.nn.Linear, in_features, out_features, key=key)
    weight, bias = uniform(key, [(out_features, in_features), (out_features,)], 1 / math.sqrt(in_features))
    return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (weight, bias))
