"""The XLA options every eqx-resnet step is compiled with.

On CPU, jaxlib 0.10 hands convolutions to YNNPACK fusions by default. On the project's
2-core machine a YNNPACK convolution used one core, and ran slower than XLA's Eigen
convolution on both. Restricting YNNPACK to single dot products gives every convolution,
weight gradients included, back to Eigen, and keeps YNNPACK where it was faster: AlexNet's
large dense layers. Other platforms get no options. The timings are in benchmarks/README.md.

Use them in your own jitted functions too:
`jax.jit(step, compiler_options=compiler_options())`, or the same keyword to `eqx.filter_jit`.
"""

import jax

_CPU = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


def compiler_options(platform: str | None = None) -> dict[str, str]:
    """Options for `jax.jit(..., compiler_options=...)` on `platform` (default: JAX's default backend)."""
    return dict(_CPU) if (platform or jax.default_backend()) == "cpu" else {}
