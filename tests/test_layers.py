"""The layers against references: BatchNorm against numpy with PyTorch's semantics,
the convolution against a numpy cross-correlation, the max-pool against numpy.

The references are channels-first, as PyTorch's; the layers are channels-last, so
each test moves the channels last on the way in and back on the way out."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _trees import arrays

from eqx_resnet.models.layers import BatchNorm, Conv2d, MaxPool2d

EPS = 1e-5
N, C, H, W = 8, 4, 5, 3


def make_norm(seed=0):
    """A BatchNorm with random scale, shift and running statistics (not the trivial initial ones)."""
    rng = np.random.default_rng(seed)
    norm, state = eqx.nn.make_with_state(BatchNorm)(C)
    norm = eqx.tree_at(
        lambda m: (m.weight, m.bias),
        norm,
        (jnp.asarray(rng.uniform(0.5, 2, C), jnp.float32), jnp.asarray(rng.normal(size=C), jnp.float32)),
    )
    stats = (jnp.asarray(rng.normal(size=C), jnp.float32), jnp.asarray(rng.uniform(0.5, 2, C), jnp.float32))
    return norm, state.set(norm.statistics, stats)


def run(norm, x, state):
    """`norm` over a channels-first batch `x`."""
    y, state = jax.vmap(norm, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(jnp.moveaxis(x, 1, -1), state)
    return jnp.moveaxis(y, -1, 1), state


def apply(layer, x):
    """`layer` over a channels-first batch `x`."""
    return jnp.moveaxis(jax.vmap(layer)(jnp.moveaxis(x, 1, -1)), -1, 1)


def numpy_batch_norm(x, weight, bias, mean, var):
    shape = (1, -1, 1, 1)
    return (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + EPS) * weight.reshape(shape) + bias.reshape(shape)


def images(dtype, seed=1):
    # Away from zero mean and unit variance, so that normalising does something.
    x = 3.0 + 2.0 * np.random.default_rng(seed).standard_normal((N, C, H, W)).astype(np.float32)
    return jnp.asarray(x, dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_batch_norm_training_matches_pytorch_semantics(dtype):
    norm, state = make_norm()
    x = images(dtype)
    y, new_state = run(norm, x, state)
    xf = np.asarray(x.astype(jnp.float32), np.float64)
    mean, var = xf.mean(axis=(0, 2, 3)), xf.var(axis=(0, 2, 3))  # biased, for normalising
    weight, bias = np.asarray(norm.weight), np.asarray(norm.bias)
    expected = numpy_batch_norm(xf, weight, bias, mean, var)
    assert y.dtype == dtype
    tolerance = 1e-5 if dtype == jnp.float32 else 2e-2
    np.testing.assert_allclose(np.asarray(y, np.float64), expected, rtol=tolerance, atol=tolerance)

    # Running statistics: 0.9 old + 0.1 new, with the unbiased variance, in float32 whatever the input.
    old_mean, old_var = (np.asarray(s, np.float64) for s in state.get(norm.statistics))
    n = N * H * W
    new_mean, new_var = new_state.get(norm.statistics)
    assert new_mean.dtype == new_var.dtype == jnp.float32
    np.testing.assert_allclose(new_mean, 0.9 * old_mean + 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_var, 0.9 * old_var + 0.1 * var * n / (n - 1), rtol=1e-5)
    assert not np.allclose(new_var, 0.9 * old_var + 0.1 * var, rtol=1e-5)  # not the biased one


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_batch_norm_inference_uses_running_statistics_and_keeps_them(dtype):
    norm, state = make_norm()
    x = images(dtype)
    y, new_state = run(eqx.nn.inference_mode(norm), x, state)
    mean, var = (np.asarray(s, np.float64) for s in state.get(norm.statistics))
    expected = numpy_batch_norm(
        np.asarray(x.astype(jnp.float32), np.float64), np.asarray(norm.weight), np.asarray(norm.bias), mean, var
    )
    assert y.dtype == dtype
    tolerance = 1e-5 if dtype == jnp.float32 else 2e-2
    np.testing.assert_allclose(np.asarray(y, np.float64), expected, rtol=tolerance, atol=tolerance)
    for old, new in zip(state.get(norm.statistics), new_state.get(norm.statistics)):
        np.testing.assert_array_equal(old, new)
    # Each example on its own: inference does not look at the rest of the batch.
    alone, _ = run(eqx.nn.inference_mode(norm), x[:1], state)
    np.testing.assert_array_equal(alone[0], y[0])


def test_batch_norm_running_statistics_converge_to_the_data():
    norm, state = make_norm()
    x = images(jnp.float32)
    step = jax.jit(lambda state: run(norm, x, state)[1])
    for _ in range(100):
        state = step(state)
    mean, var = state.get(norm.statistics)
    xf = np.asarray(x, np.float64)
    np.testing.assert_allclose(mean, xf.mean(axis=(0, 2, 3)), rtol=1e-4)
    np.testing.assert_allclose(var, xf.var(axis=(0, 2, 3), ddof=1), rtol=1e-4)


@pytest.mark.parametrize("momentum, converted", [(0.9, "0.1"), (0.99, "0.01"), (0.999, "0.001")])
def test_batch_norm_refuses_a_momentum_in_flax_convention_with_the_conversion(momentum, converted):
    with pytest.raises(
        ValueError, match=rf"momentum={momentum} looks like Flax's/Equinox's convention.*momentum={converted}$"
    ):
        BatchNorm(4, momentum=momentum)


@pytest.mark.parametrize("momentum", [0.0, -0.1, 1.0, 1.5])
def test_batch_norm_refuses_a_momentum_out_of_range(momentum):
    with pytest.raises(ValueError, match=r"must be in \(0, 0.5\].*PyTorch's default is 0.1"):
        BatchNorm(4, momentum=momentum)


def test_batch_norm_takes_pytorch_momenta():
    for momentum in (0.1, 0.01, 0.5):
        assert BatchNorm(4, momentum=momentum).momentum == momentum


# (c_in, c_out, kernel, stride, padding, groups, size)
CONVS = [
    (4, 6, 3, 1, 1, 1, 9),
    (4, 8, 3, 2, 1, 1, 9),
    (8, 8, 3, 2, 1, 4, 10),
    (6, 10, 1, 2, 0, 1, 8),
    (6, 4, 1, 1, 0, 2, 5),
    (3, 8, 7, 2, 3, 1, 15),
    (16, 16, 3, 1, 1, 16, 6),
]


def reference_conv(x, w, stride, padding, groups):
    """Cross-correlation in float64 numpy, one kernel tap at a time: independent of XLA."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n, _, h, width = x.shape
    c_out, c_in_g, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out, w_out = (h + 2 * padding - kh) // stride + 1, (width + 2 * padding - kw) // stride + 1
    xg = xp.reshape(n, groups, c_in_g, *xp.shape[2:])
    wg = w.reshape(groups, c_out // groups, c_in_g, kh, kw)
    y = np.zeros((n, groups, c_out // groups, h_out, w_out))
    for i in range(kh):
        for j in range(kw):
            tap = xg[..., i : i + stride * (h_out - 1) + 1 : stride, j : j + stride * (w_out - 1) + 1 : stride]
            y += np.einsum("ngchw,goc->ngohw", tap, wg[..., i, j])
    return y.reshape(n, c_out, h_out, w_out)


def relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm((a - b).ravel()) / np.linalg.norm(b.ravel()))


def normal(shape, seed):
    # numpy, not jax.random: a jax.random.normal of each new shape costs a compilation.
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape, np.float32))


@pytest.mark.parametrize("c_in, c_out, k, stride, padding, groups, size", CONVS)
def test_conv2d_matches_a_numpy_cross_correlation(c_in, c_out, k, stride, padding, groups, size):
    conv = Conv2d(c_in, c_out, k, stride, padding, groups=groups, key=jax.random.key(0))
    conv = eqx.tree_at(lambda c: c.weight, conv, normal(conv.weight.shape, seed=c_out))
    x = normal((3, c_in, size, size), seed=c_in)
    y = apply(conv, x)
    expected = reference_conv(x, conv.weight, stride, padding, groups)
    assert y.shape == expected.shape
    assert relative_error(y, expected) < 1e-5


def test_conv2d_module_adds_its_bias_and_keeps_the_shape_arithmetic():
    # The shape of the next test's: one compilation of the initialiser for both.
    conv = Conv2d(64, 128, 3, stride=2, padding=1, use_bias=True, key=jax.random.key(0))
    conv = eqx.tree_at(lambda c: c.bias, conv, jnp.arange(128.0))
    x = normal((2, 64, 11, 11), seed=0)
    y = apply(conv, x)
    expected = reference_conv(x, conv.weight, 2, 1, 1) + jnp.arange(128.0)[:, None, None]
    assert y.shape == (2, 128, 6, 6)
    assert relative_error(y, expected) < 1e-5


def test_conv2d_initialisation_is_he_normal_fan_out():
    conv = Conv2d(64, 128, 3, key=jax.random.key(0))
    assert conv.bias is None
    np.testing.assert_allclose(float(jnp.std(conv.weight)), np.sqrt(2 / (128 * 9)), rtol=0.02)


def test_conv2d_draws_a_large_layer_from_the_he_normal_distribution():
    # 2.4 million values: their mean, spread and shares within one and two standard deviations
    # are the normal distribution's to within four standard errors.
    weight = np.asarray(Conv2d(512, 512, 3, key=jax.random.key(1)).weight, np.float64)
    std, n = np.sqrt(2 / (512 * 9)), weight.size
    assert abs(weight.mean()) < 4 * std / np.sqrt(n)
    assert abs(weight.std() / std - 1) < 4 / np.sqrt(2 * n)
    for k, share in ((1, 0.682689), (2, 0.954500)):
        assert abs(np.mean(np.abs(weight) < k * std) - share) < 4 * np.sqrt(share * (1 - share) / n)


def test_a_key_of_any_kind_gives_its_own_weights_every_time():
    key = jax.random.key(0)
    weight = Conv2d(8, 16, 3, key=key).weight
    np.testing.assert_array_equal(Conv2d(8, 16, 3, key=key).weight, weight)
    np.testing.assert_array_equal(Conv2d(8, 16, 3, key=jax.random.PRNGKey(0)).weight, weight)  # raw: the same words
    for other in (jax.random.key(1), jax.random.key(0, impl="rbg"), jax.random.split(key)[0]):
        assert abs(np.corrcoef(np.ravel(Conv2d(8, 16, 3, key=other).weight), np.ravel(weight))[0, 1]) < 4 / 34


def test_a_key_gives_the_same_weights_on_every_run_and_platform():
    # NumPy's PCG64 and its normal sampler, seeded by the key: these values, wherever the test runs.
    expected = [0.44914526, 0.10995597, -0.5727338, -0.13993722, 0.13194005, -0.9337581, 0.524093, 0.20230955]
    np.testing.assert_array_equal(np.ravel(Conv2d(1, 2, 2, key=jax.random.key(0)).weight), np.float32(expected))


class UserBlock(eqx.Module):
    """A user's module of the layers, with keys of its own splitting."""

    conv: Conv2d
    norm: BatchNorm

    def __init__(self, key):
        self.conv = Conv2d(3, 4, 3, padding=1, key=jax.random.split(key)[1])
        self.norm = BatchNorm(4)

    def __call__(self, x, state):
        return self.norm(self.conv(x), state)


def test_a_users_module_builds_the_same_eagerly_and_under_jit():
    make = eqx.nn.make_with_state(UserBlock)
    block, state = make(jax.random.key(0))
    for a, b in zip(arrays((block, state)), arrays(eqx.filter_jit(make)(jax.random.key(0)))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(block.norm.weight, np.ones(4, np.float32))
    np.testing.assert_array_equal(block.norm.bias, np.zeros(4, np.float32))
    mean, var = state.get(block.norm.statistics)
    np.testing.assert_array_equal(mean, np.zeros(4, np.float32))
    np.testing.assert_array_equal(var, np.ones(4, np.float32))
    y, _ = jax.vmap(block, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(jnp.ones((2, 5, 5, 3)), state)
    assert y.shape == (2, 5, 5, 4)


def test_conv2d_rejects_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match="groups=3 must divide"):
        Conv2d(4, 6, 3, groups=3, key=jax.random.key(0))


def test_batch_norm_variance_of_data_far_from_zero():
    # A one-pass E[x^2] - E[x]^2 is 30% off here in float32 (mean:std = 1000:1).
    norm, state = eqx.nn.make_with_state(BatchNorm)(1)
    x = jnp.asarray(1000.0 + np.random.default_rng(0).standard_normal((16, 1, 8, 8)).astype(np.float32))
    y, new_state = run(norm, x, state)
    np.testing.assert_allclose(float(jnp.std(y)), 1.0, rtol=1e-2)
    unbiased = np.asarray(x, np.float64).var(ddof=1)
    np.testing.assert_allclose(new_state.get(norm.statistics)[1], 0.9 + 0.1 * unbiased, rtol=1e-3)


def test_layers_reject_a_channels_first_example_with_the_fix():
    conv = Conv2d(4, 6, 3, key=jax.random.key(0))
    with pytest.raises(
        ValueError, match=r"channels-last example \(height, width, 4\), got shape \(4, 9, 9\).*moveaxis"
    ):
        conv(jnp.zeros((4, 9, 9)))
    norm, state = make_norm()
    with pytest.raises(ValueError, match=r"BatchNorm\(4\) takes channels-last.*got shape \(4, 5, 3\)"):
        jax.vmap(norm, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(jnp.zeros((2, C, H, W)), state)


def reference_max_pool(x, kernel, stride, padding):
    """PyTorch's MaxPool2d in numpy: -inf padding, so a padded cell never wins."""
    xp = np.pad(
        np.asarray(x, np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=-np.inf
    )
    h_out, w_out = ((d + 2 * padding - kernel) // stride + 1 for d in x.shape[2:])
    windows = [
        xp[..., i : i + stride * (h_out - 1) + 1 : stride, j : j + stride * (w_out - 1) + 1 : stride]
        for i in range(kernel)
        for j in range(kernel)
    ]
    return np.max(windows, axis=0)


@pytest.mark.parametrize("kernel, stride, padding, size", [(3, 2, 1, 8), (3, 2, 0, 9), (2, 2, 0, 6)])
def test_max_pool_matches_pytorch_padding(kernel, stride, padding, size):
    # All negative: zero padding would win at the border, -inf padding never does.
    x = -1.0 - jnp.abs(normal((2, 3, size, size), seed=size))
    y = apply(MaxPool2d(kernel, stride, padding), x)
    np.testing.assert_array_equal(np.asarray(y, np.float64), reference_max_pool(x, kernel, stride, padding))
    assert apply(MaxPool2d(kernel, stride, padding), x.astype(jnp.bfloat16)).dtype == jnp.bfloat16


def test_max_pool_differentiates_like_equinox_channels_first_pool():
    x = normal((9, 9, 3), seed=9)
    pool, reference = MaxPool2d(3, 2, 1), eqx.nn.MaxPool2d(3, 2, padding=1)
    grad = jax.grad(lambda x: jnp.sum(pool(x) ** 2))(x)
    expected = jax.grad(lambda x: jnp.sum(reference(jnp.moveaxis(x, -1, 0)) ** 2))(x)
    np.testing.assert_array_equal(grad, expected)
