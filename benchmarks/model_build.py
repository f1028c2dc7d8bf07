"""Time to a model: `create_model(NAME)` against PyTorch's builder of the same model, each in fresh processes.

    python benchmarks/model_build.py                                  # resnet18, resnet50, the zoo's largest; 5 repeats
    python benchmarks/model_build.py --models resnet18 resnet152 --repeats 7

Each measurement is a new Python process: eqx-resnet's is timed from after `import eqx_resnet`,
with JAX's backend started by one `jax.random.key(0)`, to `jax.block_until_ready` of the model and
its state; the peer's from after importing timm and torchvision to the return of the builder that
`eqx-resnet bench`'s PyTorch peer uses (`peers_torch.build_module`: torchvision's, timm's for a
model torchvision lacks). The two take turns, model by model and repeat by repeat, the first of
each pair alternating, so a busy spell slows both. Prints each side's median seconds and
eqx-resnet's time over the peer's, against the goal of at most 3x; and the 1-minute
load average before and after, since other jobs on the machine slow these figures.

Not a test: CI does not run it (pytest collects `tests/`, and in `benchmarks/` only `test_*.py`).
"""

import argparse
import datetime
import importlib.metadata
import statistics
import subprocess
import sys

GOAL = 3.0  # eqx-resnet's build at most 3x the peer's

EQX = """
import sys, time
import jax
import eqx_resnet

jax.random.key(0)  # the backend started, as in any script that has made a key
start = time.perf_counter()
jax.block_until_ready(eqx_resnet.create_model(sys.argv[1], key=jax.random.key(0)))
print(time.perf_counter() - start)
"""

PEER = """
import sys, time
from eqx_resnet.benchmarking import model_spec
from eqx_resnet.benchmarking.peers_torch import build_module, timm_and_torchvision

spec = model_spec(sys.argv[1])
timm_and_torchvision()  # imported before the clock starts, as eqx_resnet is
start = time.perf_counter()
build_module(spec)
print(time.perf_counter() - start)
"""


def largest_model() -> str:
    """The model of `list_models()` with the most parameters at its defaults (shapes only, nothing drawn)."""
    import equinox as eqx
    import jax

    import eqx_resnet

    def parameters(name: str) -> int:
        model, _ = eqx.filter_eval_shape(eqx_resnet.get_builder(name), key=jax.random.key(0))
        return eqx_resnet.count_parameters(model)

    return max(eqx_resnet.list_models(), key=parameters)


def seconds(code: str, name: str) -> float:
    """The seconds a fresh process running `code` for model `name` prints."""
    result = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"building {name} failed:\n{result.stderr[-2000:]}")
    return float(result.stdout.split()[-1])


def load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def versions() -> str:
    packages = ("jax", "jaxlib", "equinox", "numpy", "torch", "torchvision", "timm")
    found = []
    for package in packages:
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", help="zoo names (default: resnet18, resnet50 and the largest model)")
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per model and side (default: 5)")
    args = parser.parse_args()
    models = args.models or list(dict.fromkeys(["resnet18", "resnet50", largest_model()]))

    print(f"{datetime.date.today()}; {versions()}; 1-minute load {load()} at the start", flush=True)
    times = {(m, side): [] for m in models for side in ("eqx", "peer")}
    for repeat in range(args.repeats):
        for model in models:
            sides = [("eqx", EQX), ("peer", PEER)]
            for side, code in sides if repeat % 2 == 0 else sides[::-1]:
                times[model, side].append(seconds(code, model))
        print(f"repeat {repeat + 1}/{args.repeats} done, load {load()}", flush=True)

    print(f"\nmedian of {args.repeats} fresh processes, seconds; 1-minute load {load()} at the end")
    print(f"{'model':<18}{'eqx-resnet':>12}{'peer':>10}{'ratio':>8}  goal <= {GOAL:g}x")
    for model in models:
        eqx_s, peer_s = (statistics.median(times[model, side]) for side in ("eqx", "peer"))
        verdict = "met" if eqx_s <= GOAL * peer_s else "MISSED"
        print(f"{model:<18}{eqx_s:>12.3f}{peer_s:>10.3f}{eqx_s / peer_s:>8.2f}  {verdict}")
    for model in models:
        for side in ("eqx", "peer"):
            print(f"  {model} {side}: " + ", ".join(f"{t:.3f}" for t in times[model, side]))


if __name__ == "__main__":
    main()
