"""What a benchmark runs: one framework's model and step on a synthetic batch, ready to time.

A workload is (framework, model, step, settings): the settings fix the batch,
resolution, precision and optimiser, the same for every framework of a row.
Building one makes the model and the data on the device, compiles the step
(timed apart), counts its FLOPs, and refuses a peer whose parameter count
differs from eqx-resnet's model: every framework must run the same network.
"""

import functools
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._create import create_model
from .._xla_cpu import compiler_options
from ..models.forward import forward
from ..models.registry import describe, list_models
from ..parameters import count_parameters
from ..training.config import device_kind
from ..training.step import make_train_step
from .timing import BenchmarkError, Runner, describe_device, jax_runner, xla_flops

FRAMEWORKS = ("eqx-resnet", "flax", "torch")
STEPS = ("inference", "train")
PRECISIONS = ("fp32", "bf16")
DEPTHS = (18, 34, 50, 101, 152)
FLOPS_TOLERANCE = 0.10


@dataclass(frozen=True)
class ModelSpec:
    """A benchmarked network: its zoo builder and options, its input, its published cost.

    `size` fixes the input size (natural inputs); `None` follows the settings' resolution.
    `macs_224` is the published multiply-add count of one 224x224 image (the model's description).
    """

    name: str
    zoo: str
    depth: int | None = None
    stem: str = "imagenet"
    in_channels: int = 3
    num_classes: int = 1000
    size: int | None = None
    macs_224: float | None = None

    @property
    def options(self) -> dict:
        """Keyword arguments of `create_model` for this network."""
        options = dict(num_classes=self.num_classes, in_channels=self.in_channels)
        return options if self.depth is None else {**options, "stem": self.stem}

    def input_shape(self, resolution: int) -> tuple[int, int, int]:
        """One image `(c, h, w)`."""
        size = self.size or resolution
        return (self.in_channels, size, size)


def _at_224(depth: int) -> ModelSpec:
    """A ResNet of `depth` at the settings' resolution, with its description's published multiply-adds."""
    name = f"resnet{depth}"
    return ModelSpec(name, name, depth, macs_224=describe(name).macs)


# The benchmarked networks: the ResNets of each depth, and three at their natural inputs.
MODELS = {
    spec.name: spec
    for spec in (
        *(_at_224(depth) for depth in DEPTHS),
        ModelSpec("resnet18_cifar", "resnet18", 18, stem="cifar", num_classes=10, size=32),
        ModelSpec("preact_resnet", "preact_resnet", in_channels=1, num_classes=10, size=28),
        ModelSpec("alexnet", "alexnet", in_channels=1, num_classes=10, size=96),
    )
}
NATURAL_INPUT_MODELS = ("resnet18_cifar", "preact_resnet", "alexnet")


def model_spec(name: str) -> ModelSpec:
    """The benchmarked network `name`: one of `MODELS`, or any registered architecture with its
    default options at the settings' resolution (`"resnet50d"`); a `ValueError` for another name."""
    if name in MODELS:
        return MODELS[name]
    if unknown_models([name]):
        raise ValueError(f"unknown model {name!r}: choose a name of eqx_resnet.list_models() or of MODELS")
    return ModelSpec(name, name, macs_224=describe(name).macs)


def unknown_models(names: Sequence[str]) -> list[str]:
    """Those of `names` that are neither registered (`list_models()`) nor benchmarked networks of their own (`MODELS`)."""
    return [name for name in names if name not in MODELS and name not in list_models()]


@dataclass(frozen=True)
class Settings:
    """What every framework of a row shares. `rounds` are timed, after `warmup` untimed ones."""

    platform: str
    batch: int
    resolution: int
    precision: str
    models: tuple[str, ...]
    rounds: int
    warmup: int
    optimizer: str = "sgd"
    learning_rate: float = 0.01  # small, so random labels never diverge; speed does not depend on it
    xla_options: bool = True  # eqx-resnet's steps compiled with `compiler_options()`; False: a plain jit

    def optax_optimizer(self) -> optax.GradientTransformation:
        """SGD with momentum 0.9 (as the anchors) or Adam, in optax."""
        if self.optimizer == "sgd":
            return optax.sgd(self.learning_rate, momentum=0.9)
        if self.optimizer == "adam":
            return optax.adam(self.learning_rate)
        raise ValueError(f"unknown optimizer {self.optimizer!r}: choose sgd or adam")


# GPU: the standard batch and resolution. CPU: small enough that the default run takes minutes,
# but at least 96x96: XLA:CPU runs 3x3 convs on the 2x2 maps of a 64x64 input at ~1 GFLOP/s.
_DEFAULTS = {
    "gpu": dict(
        batch=256, resolution=224, precision="bf16", depths=DEPTHS, extra=NATURAL_INPUT_MODELS, rounds=20, warmup=3
    ),
    "cpu": dict(
        batch=8, resolution=128, precision="fp32", depths=(18, 50), extra=NATURAL_INPUT_MODELS, rounds=5, warmup=1
    ),
    "smoke": dict(batch=2, resolution=32, precision="fp32", depths=(18,), extra=("preact_resnet",), rounds=1, warmup=1),
}


def default_settings(
    platform: str,
    *,
    smoke: bool = False,
    batch: int | None = None,
    resolution: int | None = None,
    depths: tuple[int, ...] | None = None,
    models: Sequence[str] | None = None,
    precision: str | None = None,
    rounds: int | None = None,
) -> Settings:
    """The settings for `platform` ("cpu" or "gpu"), or the tiny smoke ones; arguments override them.

    **Arguments:**

    - `platform`: `"cpu"` or `"gpu"`.
    - `smoke`: the tiny settings CI runs (batch 2, resnet18 at 32x32 and preact_resnet, one round).
    - `batch`, `resolution`, `precision`, `rounds`: override the platform's defaults.
    - `depths`: the ResNet depths to run (`(18, 50)`), with the three models at their natural inputs.
    - `models`: instead of `depths`, exactly the models to run, by name: registered architectures
      (`("resnet50d", "seresnext26t_32x4d")`) or `MODELS`' own (`"resnet18_cifar"`).
    """
    if platform not in ("cpu", "gpu"):
        raise ValueError(f"platform must be 'cpu' or 'gpu', got {platform!r}")
    if platform == "gpu" and jax_platform() != "gpu":
        raise ValueError(
            "JAX sees no GPU here: install jax with CUDA support (pip install 'jax[cuda12]') or use the CPU"
        )
    d = _DEFAULTS["smoke" if smoke else platform]
    if depths is not None and models is not None:
        raise ValueError("models names every model of the run: give depths or models, not both")
    depths = d["depths"] if depths is None else tuple(depths)
    if unknown := sorted(set(depths) - set(DEPTHS)):
        raise ValueError(f"unknown ResNet depth(s) {unknown}: choose from {', '.join(map(str, DEPTHS))}")
    if models is not None and not models:
        raise ValueError("models is empty: name at least one model, or leave it out for the default set")
    if models is not None and (unknown := unknown_models(models)):
        raise ValueError(
            f"unknown model {unknown[0]!r} in models: choose names of eqx_resnet.list_models() or of "
            "eqx_resnet.benchmarking.MODELS"
        )
    precision = precision or d["precision"]
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    settings = Settings(
        platform=platform,
        batch=d["batch"] if batch is None else batch,
        resolution=d["resolution"] if resolution is None else resolution,
        precision=precision,
        models=tuple(models) if models is not None else tuple(f"resnet{n}" for n in depths) + d["extra"],
        rounds=d["rounds"] if rounds is None else rounds,
        warmup=d["warmup"],
    )
    if settings.batch < 1 or settings.rounds < 1 or settings.resolution < 32:
        raise ValueError(
            f"need batch >= 1, rounds >= 1 and resolution >= 32 (the ResNets downsample 32x), got {settings}"
        )
    return settings


def jax_platform() -> str:
    """The benchmark settings' platform: `"cpu"`, or `"gpu"` for any accelerator (as training's `device_kind`)."""
    return "cpu" if device_kind() == "cpu" else "gpu"


def peer_missing(framework: str, platform: str, model: str | None = None) -> str | None:
    """Why `framework` cannot run here (not installed, no GPU build), or cannot run `model` (a package
    its peer is built with missing, no peer of it); None when it can."""
    if framework == "eqx-resnet":
        return None
    package = {"flax": "flax.linen", "torch": "torch"}[framework]
    try:
        module = importlib.import_module(package)
    except Exception as e:  # a broken install (missing CUDA libraries, ...) counts as missing
        return (
            f"{framework} is not usable ({type(e).__name__}: {e}); install the peers: pip install 'eqx-resnet[peers]'"
        )
    if framework == "torch" and platform == "gpu" and not module.cuda.is_available():
        return "this torch build has no CUDA: install a CUDA build of torch to compare on the GPU"
    if model is None:
        return None
    spec = model_spec(model)
    peer = importlib.import_module(f".peers_{framework}", __package__)
    if framework == "flax":
        try:
            peer.build_module(spec)  # a linen module's definition: nothing is initialised
        except ValueError as e:
            return str(e)
    elif spec.zoo not in peer.WRITTEN_OUT:
        try:
            peer.timm_and_torchvision()
        except Exception as e:  # as above: a broken install counts as missing
            missing = getattr(e, "name", None) or "timm or torchvision"
            return (
                f"torch's {model} is timm's or torchvision's module, and {missing} is not usable "
                f"({type(e).__name__}: {e}); install the peers: pip install 'eqx-resnet[peers]'"
            )
    return None


@dataclass
class Workload:
    """A built, compiled step of one framework, with what a report says about it."""

    framework: str
    model: str
    step: str
    settings: Settings
    input_shape: tuple[int, int, int]
    device: str
    runner: Runner
    flops_vs_published: float | None = None

    @property
    def label(self) -> str:
        return f"{self.framework} {self.model}/{self.step}/{self.settings.precision}"


def init_key() -> jax.Array:
    """The key models are initialised with. XLA's RngBitGenerator ("rbg") compiles in half
    the time of the default threefry on CPU; initial values do not change a step's speed."""
    return jax.random.key(0, impl="rbg")


def synthetic_batch(spec: ModelSpec, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """The same random images `(n, c, h, w)` and labels for every framework."""
    rng = np.random.default_rng(0)
    images = rng.standard_normal((settings.batch, *spec.input_shape(settings.resolution)), np.float32)
    return images, rng.integers(0, spec.num_classes, settings.batch).astype(np.int32)


@functools.cache  # one trace per model, not one per framework and step
def model_parameters(name: str) -> int:
    """eqx-resnet's parameter count of a benchmarked model (from shapes, nothing allocated)."""
    spec = model_spec(name)
    model, _ = eqx.filter_eval_shape(create_model, spec.zoo, key=jax.random.key(0), **spec.options)
    return count_parameters(model)


def check_parameters(name: str, framework: str, parameters: int) -> None:
    """Raise `BenchmarkError` unless `framework`'s model has as many parameters as eqx-resnet's."""
    expected = model_parameters(name)
    if parameters != expected:
        raise BenchmarkError(
            f"{framework}'s {name} has {parameters:,} parameters but eqx-resnet's has {expected:,}: "
            "the frameworks would not run the same network, so their times are not comparable"
        )


def _eqx_inference(static, precision: str):
    def infer(carry, images):
        params, state = carry
        return forward(eqx.combine(params, static), state, images, precision=precision)[0]

    return infer


def check_flops(name: str) -> float:
    """eqx-resnet's inference FLOPs of one 224x224 image over 2x the published multiply-adds.

    Lowers the forward pass on abstract inputs (nothing is computed) and reads XLA's
    cost analysis; raises `BenchmarkError` if the ratio is off by more than 10%.
    """
    spec = model_spec(name)
    if spec.macs_224 is None:
        raise ValueError(f"{name} has no published multiply-add count")
    model, state = eqx.filter_eval_shape(create_model, spec.zoo, key=jax.random.key(0), **spec.options)
    params, static = eqx.partition(eqx.nn.inference_mode(model), lambda x: isinstance(x, jax.ShapeDtypeStruct))
    images = jax.ShapeDtypeStruct((1, *spec.input_shape(224)), jnp.float32)
    flops = xla_flops(jax.jit(_eqx_inference(static, "fp32")).lower((params, state), images))
    ratio = flops / (2 * spec.macs_224)
    if abs(ratio - 1) > FLOPS_TOLERANCE:
        raise BenchmarkError(
            f"eqx-resnet's {name} costs {flops / 1e9:.2f} GFLOP per 224x224 image, {ratio:.2f}x the published "
            f"2 x {spec.macs_224 / 1e9:.2f} G multiply-adds: the model or the FLOP count is wrong"
        )
    return ratio


def _eqx_runner(spec: ModelSpec, step: str, settings: Settings, images: np.ndarray, labels: np.ndarray) -> Runner:
    device = jax.devices(settings.platform)[0]
    model, state = create_model(spec.zoo, key=init_key(), **spec.options)
    parameters = count_parameters(model)
    options = compiler_options(settings.platform) if settings.xla_options else {}
    x = jax.device_put(images, device)
    if step == "inference":
        params, static = eqx.partition(eqx.nn.inference_mode(model), eqx.is_array)
        infer = _eqx_inference(static, settings.precision)
        return jax_runner(
            infer,
            jax.device_put((params, state), device),
            (x,),
            train=False,
            parameters=parameters,
            compiler_options=options,
        )

    train, carry = eqx_training(model, state, settings)
    carry, inputs = jax.device_put((carry, (x, labels, jax.random.key(1))), device)
    return jax_runner(train, carry, inputs, train=True, parameters=parameters, compiler_options=options)


def eqx_training(
    model: eqx.Module, state: eqx.nn.State, settings: Settings, wrap: Callable[[Callable], Callable] | None = None
) -> tuple[Callable, tuple]:
    """eqx-resnet's training step of `model` for `jax_runner`: `train(carry, images, labels, key)
    -> (carry, loss)` and its first `carry` (parameters, BatchNorm state, optimiser state), on the
    host. `wrap` makes the step data-parallel (`training.shard_train_step`)."""
    optimizer = settings.optax_optimizer()
    train_step = make_train_step(optimizer, precision=settings.precision)
    if wrap is not None:
        train_step = wrap(train_step)
    params, static = eqx.partition(model, eqx.is_array)

    def train(carry, images, labels, key):
        params, state, opt_state = carry
        model, state, opt_state, metrics = train_step(
            eqx.combine(params, static), state, opt_state, images, labels, key
        )
        return (eqx.filter(model, eqx.is_array), state, opt_state), metrics["loss"]

    return train, (params, state, optimizer.init(eqx.filter(model, eqx.is_inexact_array)))


def build_workload(framework: str, model: str, step: str, settings: Settings) -> Workload:
    """Build, compile and check one framework's step; raise `BenchmarkError` on a mismatched model."""
    if framework not in FRAMEWORKS or step not in STEPS:
        raise ValueError(f"unknown workload {framework}/{model}/{step}: frameworks {FRAMEWORKS}, steps {STEPS}")
    spec = model_spec(model)
    if reason := peer_missing(framework, settings.platform, model):
        raise BenchmarkError(reason)
    images, labels = synthetic_batch(spec, settings)
    if framework == "eqx-resnet":
        runner = _eqx_runner(spec, step, settings, images, labels)
    else:
        peer = importlib.import_module(f".peers_{framework}", __package__)
        runner = peer.build(spec, step, settings, images, labels)
    check_parameters(model, framework, runner.parameters)
    published = check_flops(model) if framework == "eqx-resnet" and step == "inference" and spec.macs_224 else None
    return Workload(
        framework,
        model,
        step,
        settings,
        spec.input_shape(settings.resolution),
        describe_device(settings.platform),
        runner,
        published,
    )
