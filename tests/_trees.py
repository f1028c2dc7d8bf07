"""Comparing what runs produce: the arrays of a model or checkpoint, their relative difference,
and history rows without their timings. Imported by test files run as scripts too
(`python tests/test_x.py` puts tests/ on sys.path)."""

import equinox as eqx
import jax
import numpy as np


def arrays(tree) -> list[np.ndarray]:
    """The arrays of a pytree (a model, a state, a checkpoint's `(model, state)`), as NumPy arrays in leaf order."""
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def relative(a, b) -> float:
    """‖a - b‖ / ‖b‖ in float64 (of arrays or numbers, any shape); ‖b‖ = 0 counts as 1e-30."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def untimed(row: dict) -> dict:
    """A history row without what the clock decides (`images_per_s`, `epoch_time_s`), to compare runs."""
    return {k: v for k, v in row.items() if k not in ("images_per_s", "epoch_time_s")}
