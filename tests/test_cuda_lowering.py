"""The training and inference steps lower for CUDA on this CPU-only machine (nothing compiles or runs).

Models, optimiser state and batches are abstract (`eqx.filter_eval_shape`, `jax.ShapeDtypeStruct`),
and each step is lowered with `lowering_platforms=("cuda",)` to StableHLO, the module a GPU would
compile. The CUDA modules must hold none of the CPU-only compiler hints of `eqx_resnet._xla_cpu`
(the `cpu=` branches of its `lax.platform_dependent` calls, found in its source), and a bf16 step
must run every convolution and matrix product on bf16 operands, its backward pass's included.
The engine's own compiled function is lowered too, with the several steps per call it runs on a GPU.

One model per kind of network: depths 34/101/152 and wide_resnet50_2 reuse resnet18's and
resnet50's blocks and only cost time (the whole zoo took 100 s on 2 cores, these 31 s).
"""

import ast
import functools
import re
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import pytest

import eqx_resnet
from eqx_resnet import _xla_cpu

# name: (zoo model, builder options, batch (n, c, h, w)). The ImageNet stems' 64x64 inputs leave
# 16x16 maps after the stem, where BatchNorm's sums take their CPU row form (`channel_sums.py`).
MODELS = {
    "alexnet": ("alexnet", {}, (2, 1, 96, 96)),
    "preact_resnet": ("preact_resnet", {}, (2, 1, 28, 28)),
    "resnet18": ("resnet18", {}, (2, 3, 64, 64)),
    "resnet18_cifar": ("resnet18", {"stem": "cifar", "num_classes": 10}, (2, 3, 32, 32)),
    "resnet50": ("resnet50", {}, (2, 3, 64, 64)),
    "resnext50_32x4d": ("resnext50_32x4d", {}, (2, 3, 64, 64)),
}
PRECISIONS = ("fp32", "bf16")
STEPS = ("train", "inference")
ELEMENT = {"fp32": "f32", "bf16": "bf16"}


def _abstract(name: str):
    """(params, static, state, images, labels) of `name`, every array a `jax.ShapeDtypeStruct`."""
    zoo, options, shape = MODELS[name]
    model, state = eqx.filter_eval_shape(eqx_resnet.create_model, zoo, key=jax.random.key(0), **options)
    params, static = eqx.partition(model, lambda x: isinstance(x, jax.ShapeDtypeStruct))
    images = jax.ShapeDtypeStruct(shape, jnp.float32)
    labels = jax.ShapeDtypeStruct(shape[:1], jnp.int32)
    return params, static, state, images, labels


@functools.cache
def lowered(name: str, precision: str, step: str, platform: str = "cuda") -> str:
    """The StableHLO text, with source locations, of one step lowered for `platform`."""
    params, static, state, images, labels = _abstract(name)
    if step == "inference":

        def infer(params, state, images, labels):
            return eqx_resnet.eval_step(eqx.combine(params, static), state, images, labels, precision=precision)

        traced = jax.jit(infer).trace(params, state, images, labels)
    else:
        optimizer = optax.sgd(0.1, momentum=0.9)
        train_step = eqx_resnet.make_train_step(optimizer, precision=precision)

        def train(params, state, opt_state, images, labels, key):
            model, state, opt_state, metrics = train_step(
                eqx.combine(params, static), state, opt_state, images, labels, key
            )
            return eqx.filter(model, eqx.is_array), state, opt_state, metrics

        key = jax.eval_shape(lambda: jax.random.key(0))
        traced = jax.jit(train).trace(params, state, jax.eval_shape(optimizer.init, params), images, labels, key)
    return traced.lower(lowering_platforms=(platform,)).as_text(debug_info=True)


@functools.cache
def _cpu_branches() -> tuple[tuple[str, str, tuple[int, int], tuple[int, int]], ...]:
    """(file, branch, start, end) of each `cpu=` branch of a `platform_dependent` call in `_xla_cpu`:
    a lambda's own span, or the span of the local function it names. Positions as Python's (line, col)."""
    found = []
    for path in sorted(Path(_xla_cpu.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        functions = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
        for call in ast.walk(tree):
            if (
                isinstance(call, ast.Call)
                and getattr(call.func, "attr", getattr(call.func, "id", None)) == "platform_dependent"
            ):
                for branch in (k.value for k in call.keywords if k.arg == "cpu"):
                    node = functions[branch.id] if isinstance(branch, ast.Name) else branch
                    label = branch.id if isinstance(branch, ast.Name) else ast.unparse(branch)
                    found.append(
                        (
                            str(path.resolve()),
                            label,
                            (node.lineno, node.col_offset),
                            (node.end_lineno, node.end_col_offset),
                        )
                    )
    return tuple(found)


def _located_in(text: str, branch) -> int:
    """How many source locations of `text` start inside `branch`'s span."""
    file, _, start, end = branch
    return sum(
        Path(f).resolve() == Path(file) and start <= (int(line), int(col)) < end
        for f, line, col in re.findall(r'loc\("([^"]+\.py)":(\d+):(\d+)', text)
    )


def _matrix_ops(text: str) -> list[tuple[str, str, str]]:
    """(op, lhs element type, rhs element type) of every convolution and dot product."""
    return re.findall(
        r"stablehlo\.(convolution|dot_general)\b.*?: \(tensor<(?:\d+x)*(\w+)>, tensor<(?:\d+x)*(\w+)>\)", text
    )


def test_the_cpu_hints_are_found_and_lowered_on_cpu():
    branches = _cpu_branches()
    files = {Path(b[0]).name for b in branches}
    assert {"materialize.py", "channel_sums.py"} <= files, branches
    text = lowered("preact_resnet", "fp32", "train", platform="cpu")
    assert all(_located_in(text, b) for b in branches), [(b[1], _located_in(text, b)) for b in branches]


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", MODELS)
def test_cuda_module_has_no_cpu_hint(name, precision, step):
    text = lowered(name, precision, step)
    assert "stablehlo.convolution" in text
    assert {b[1]: _located_in(text, b) for b in _cpu_branches()} == {b[1]: 0 for b in _cpu_branches()}  # ops per branch


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("name", MODELS)
def test_matrix_work_runs_in_the_compute_precision(name, step):
    counts = {}
    for precision in PRECISIONS:
        ops = _matrix_ops(lowered(name, precision, step))
        counts[precision] = sum(op == "convolution" for op, _, _ in ops)
        assert {(lhs, rhs) for _, lhs, rhs in ops} == {(ELEMENT[precision],) * 2}, (precision, sorted(set(ops)))
    assert counts["fp32"] == counts["bf16"] > 0


@pytest.mark.parametrize("name", MODELS)
def test_training_convolves_backward_too(name):
    # Each forward convolution gets a weight-gradient one, and all but the first an input-gradient one.
    convolutions = {step: lowered(name, "bf16", step).count("stablehlo.convolution") for step in STEPS}
    assert convolutions["train"] == 3 * convolutions["inference"] - 1


@functools.cache
def lowered_engine(precision: str, steps: int) -> str:
    """The engine's compiled function (`make_run_steps`) as `eqx-resnet train mnist` builds it on a GPU:
    the seed's PreActResNet, augmentation, `steps` training steps per call; lowered for CUDA."""
    import numpy as np

    from eqx_resnet.data import AUGMENTATIONS, Dataset, InMemorySource, dataset_info, prepare
    from eqx_resnet.training.engine import make_run_steps

    info, batch = dataset_info("mnist"), 128
    source = InMemorySource(Dataset(np.zeros((batch, 1, 28, 28), np.uint8), np.zeros(batch, np.int32), info), batch)
    model, state = eqx.filter_eval_shape(eqx_resnet.create_model, "preact_resnet", key=jax.random.key(0))
    params, static = eqx.partition(model, lambda x: isinstance(x, jax.ShapeDtypeStruct))
    optimizer = optax.adam(1e-3)
    run_steps = make_run_steps(
        eqx_resnet.make_train_step(optimizer, precision=precision),
        static,
        source.take,
        lambda images, key: prepare(images, info, None, key=key, augment=AUGMENTATIONS["mnist"]),
        steps,
    )
    steps_per_epoch = 60_000 // batch  # the whole epoch's batches on the device: what `source.chunks` hands each call
    chunk = (
        jax.ShapeDtypeStruct((steps_per_epoch, batch, 1, 28, 28), jnp.uint8),
        jax.ShapeDtypeStruct((steps_per_epoch, batch), jnp.int32),
    )
    args = (
        chunk,
        params,
        state,
        jax.eval_shape(optimizer.init, params),
        jax.ShapeDtypeStruct((), jnp.int32),
        jax.eval_shape(lambda: jax.random.key(0, impl="rbg")),
    )
    # `eqx.filter_jit` lowers for the host only: lower the function it wraps (all its arguments are arrays).
    return jax.jit(run_steps.__wrapped__).trace(*args).lower(lowering_platforms=("cuda",)).as_text(debug_info=True)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_the_engine_runs_several_steps_per_call_on_a_gpu(precision):
    text = lowered_engine(precision, 4)
    assert "stablehlo.while" in text  # the steps of one call: a fori_loop, on the device
    assert {b[1]: _located_in(text, b) for b in _cpu_branches()} == {b[1]: 0 for b in _cpu_branches()}
    ops = _matrix_ops(text)
    assert ops and {(lhs, rhs) for _, lhs, rhs in ops} == {(ELEMENT[precision],) * 2}
    # One loop body: the step's convolutions once, not once per step.
    assert sum(op == "convolution" for op, _, _ in ops) == lowered("preact_resnet", precision, "train").count(
        "stablehlo.convolution"
    )


def test_the_engine_calls_one_step_without_a_loop():
    assert "stablehlo.while" not in lowered_engine("fp32", 1)  # as on a CPU, where XLA runs loops slowly


def test_no_compiler_options_off_cpu(monkeypatch):
    assert eqx_resnet.compiler_options("cpu")  # what the CPU gets, and a GPU must not
    assert eqx_resnet.compiler_options("cuda") == eqx_resnet.compiler_options("gpu") == {}
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")  # as on a GPU machine
    assert eqx_resnet.compiler_options() == {}
