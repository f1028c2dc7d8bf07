"""Compiler hints for XLA:CPU: the one place where eqx-resnet writes its code for one compiler.

Each works around a choice XLA:CPU makes that slowed the models' training steps on a CPU;
on every other platform each is a no-op (no options, the identity, the plain sum).

- `options.py`, `compiler_options`: the options every step is compiled with. jaxlib 0.10
  hands CPU convolutions to YNNPACK, which ran them on one core and slower than XLA's Eigen
  convolutions; the options leave YNNPACK only single dot products, where it was faster.
- `materialize.py`, `materialize`: the identity, whose value XLA:CPU stores instead of
  fusing it into every consumer. `Conv2d` stores its input, so the weight gradient, which
  reads that input transposed, copies a stored tensor instead of recomputing the
  BatchNorm-ReLU that made it, element by element.
- `channel_sums.py`, `channel_sum` and `channel_broadcast`: BatchNorm's per-channel sums
  over batch and space taken in wide rows of pixels, so that XLA:CPU does not merge them
  into one slow, strided `reduce-window`.

The measurements behind each are in `benchmarks/README.md` ("The CPU compiler hints"), with
the scripts that repeat them (`benchmarks/experiments/`). `tests/test_xla_cpu_*.py` check
the compiled structure each relies on, as the jaxlib they name compiles it.
"""

from .channel_sums import channel_broadcast, channel_sum
from .materialize import materialize
from .options import compiler_options

__all__ = ["channel_broadcast", "channel_sum", "compiler_options", "materialize"]
