"""timm and torchvision, imported for tests that take timm's modules as the oracle: `from _timm import timm`;
and the oracle's plumbing: timm's weights into a zoo layer, and both layers run on the same batch.

They are imported as the benchmarks' PyTorch peer imports them (`peers_torch.timm_and_torchvision`), which
also copes with a torchvision wheel built for CUDA beside PyTorch's CPU build.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import torch

from eqx_resnet.benchmarking.peers_torch import timm_and_torchvision
from eqx_resnet.weights import load_state_dict

timm, torchvision = timm_and_torchvision()

__all__ = ["load_timm", "run_ours", "run_timm", "timm", "torchvision"]


def load_timm(layer: eqx.Module, module: torch.nn.Module) -> tuple[eqx.Module, eqx.nn.State]:
    """`layer` holding `module`'s state dict, loaded strictly (every name must match), and its state."""
    return load_state_dict(layer, eqx.nn.State(layer), module.state_dict())


def run_timm(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """timm's module in evaluation mode on the channels-first batch `x`, `(n, c, h, w)`."""
    with torch.no_grad():
        return module.eval()(torch.from_numpy(x)).numpy()


def run_ours(layer, x: np.ndarray) -> np.ndarray:
    """The per-example, channels-last `layer` (a callable of one example) vmapped over the channels-first
    batch `x`, `(n, c, h, w)`; the result channels-first, as timm's."""
    return np.asarray(jnp.moveaxis(jax.vmap(layer)(jnp.moveaxis(jnp.asarray(x), 1, -1)), -1, 1))
