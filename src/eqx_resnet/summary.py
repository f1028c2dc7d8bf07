"""A layer-by-layer summary of a model, like Flax's `tabulate`, with shapes from tracing.

    model, state = eqx.filter_eval_shape(eqx_resnet.resnet152, key=jax.random.key(0))
    rows = summarize(model, state)                   # nothing allocated, nothing computed
    rich.print(format_summary(rows, title="resnet152"))   # rich is imported only here

Every submodule is swapped (with a pytree map) for a recorder that calls it and
notes the shapes it saw; the batched model is then traced once under
`eqx.filter_eval_shape`. Shapes are per example, as each module sees them: the model
takes a channels-first image, and the layers inside work channels-last.
"""

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
from rich import box
from rich.table import Table

from ._messages import first_line
from .models.forward import forward
from .parameters import count_parameters, module_path

if TYPE_CHECKING:
    pass

__all__ = ["LayerRow", "format_summary", "summarize"]

Shape = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One call of one module: where it sits, what it is, what it saw and what it holds.

    `path` is the dotted path from the model (`"layer1.0.conv1"`, as `trainable_filter`
    takes it; `""` for the model itself, the first row); `depth` counts its enclosing modules; `group` is
    True for a module made of other modules (a block, or the model). `parameters`
    and `statistics` count the floats under it, BatchNorm statistics in the latter.
    A module called twice (AlexNet's one dropout) has one row per call.
    """

    path: str
    kind: str
    depth: int
    group: bool
    input_shape: Shape
    output_shape: Shape
    parameters: int
    statistics: int


class _Log:
    """The calls seen while tracing: `(path, input shape, output shape)`, in call order.

    A plain object, so a static field holding it hashes by identity.
    """

    def __init__(self):
        self.calls: list[tuple[str, Shape, Shape | None]] = []


class _Recorder(eqx.Module):
    """Calls `inner` unchanged, noting the shape of its first argument and of its output."""

    inner: eqx.Module
    path: str = eqx.field(static=True)
    log: _Log = eqx.field(static=True)

    def __getattr__(self, name: str):
        # Parents read their children's fields (AlexNet: `self.dropout.inference`).
        if name in ("inner", "path", "log"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __call__(self, x, *args, **kwargs):
        # Note the call first and its output after, so a block precedes its layers.
        index = len(self.log.calls)
        self.log.calls.append((self.path, tuple(x.shape), None))
        out = self.inner(x, *args, **kwargs)
        y = out[0] if isinstance(out, tuple) else out
        self.log.calls[index] = (self.path, tuple(x.shape), tuple(y.shape))
        return out


def _shape(shape: Shape) -> str:
    return "x".join(map(str, shape))


def _is_layer(x) -> bool:
    # StateIndex is a Module too, but a handle on the state, never called.
    return isinstance(x, eqx.Module) and not isinstance(x, eqx.nn.StateIndex)


def _outermost(module: eqx.Module):
    """`is_leaf` that stops at `module`'s outermost submodules (state indices included)."""
    return lambda x: x is not module and isinstance(x, eqx.Module)


def _path(parent: str, key_path) -> str:
    return f"{parent}.{module_path(key_path)}" if parent else module_path(key_path)


def _describe(module: eqx.Module, state: eqx.nn.State, path: str, depth: int, table: dict) -> None:
    """Fill `table[path] = (kind, depth, group, parameters, statistics)` for `module` and below."""
    children = [
        (key_path, x)
        for key_path, x in jax.tree_util.tree_leaves_with_path(module, is_leaf=_outermost(module))
        if _is_layer(x)
    ]
    for key_path, child in children:
        _describe(child, state, _path(path, key_path), depth + 1, table)
    indices = jax.tree.leaves(module, is_leaf=lambda x: isinstance(x, eqx.nn.StateIndex))
    statistics = sum(count_parameters(state.get(i)) for i in indices if isinstance(i, eqx.nn.StateIndex))
    table[path] = (type(module).__name__, depth, bool(children), count_parameters(module), statistics)


def _wrap(module: eqx.Module, path: str, log: _Log) -> _Recorder:
    """`module` and every submodule in it, each inside a `_Recorder`."""

    def visit(key_path, x):
        return _wrap(x, _path(path, key_path), log) if _is_layer(x) else x

    return _Recorder(jax.tree_util.tree_map_with_path(visit, module, is_leaf=_outermost(module)), path, log)


def _diagnose(calls: list[tuple[str, Shape, Shape | None]], err: Exception) -> str:
    """Why a trace failed: the innermost layer to turn something into nothing, else the
    innermost unfinished call (a block's calls follow its own)."""
    emptied = [(path, x, y) for path, x, y in calls if y is not None and 0 in y and 0 not in x]
    if emptied:
        path, x_shape, y_shape = emptied[-1]
        return f"{path} turns {_shape(x_shape)} into {_shape(y_shape)} (the input is too small)"
    reason = first_line(err)
    failed = [(path, x_shape) for path, x_shape, y_shape in calls if y_shape is None]
    if failed and failed[-1][0]:
        path, x_shape = failed[-1]
        return f"{path} fails on {_shape(x_shape)}: {reason}"
    return reason


def summarize(model: eqx.Module, state: eqx.nn.State, input_shape: Sequence[int] | None = None) -> list[LayerRow]:
    """One row per module call when `model` (in inference mode) takes an input of `input_shape`.

    `input_shape` is one example's `(c, h, w)`, by default `model.input_shape`.
    `model` and `state` may be abstract (from `eqx.filter_eval_shape`): the trace
    allocates nothing, so this is quick even for ResNet-152. Raises `ValueError`
    naming the shape and the layer if the model cannot take such an input.
    The first row is the model itself: its counts are the totals.
    """
    shape = tuple(model.input_shape if input_shape is None else input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be one example's (channels, height, width), all positive; got {shape}")
    model = eqx.nn.inference_mode(model)
    table: dict[str, tuple] = {}
    _describe(model, state, "", 0, table)
    log = _Log()
    images = jax.ShapeDtypeStruct((2, *shape), jnp.float32)
    try:
        eqx.filter_eval_shape(forward, _wrap(model, "", log), state, images)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{type(model).__name__} cannot take an input of shape {shape}: {_diagnose(log.calls, err)}"
        ) from err
    rows = []
    for path, x_shape, y_shape in log.calls:
        kind, depth, group, parameters, statistics = table[path]
        rows.append(LayerRow(path, kind, depth, group, x_shape, y_shape, parameters, statistics))
    return rows


def format_summary(rows: Sequence[LayerRow], *, title: str | None = None, max_depth: int | None = None) -> Table:
    """A rich table of `rows` (from `summarize`): path, module, input and output shape,
    parameters, BatchNorm statistics, then the totals. `max_depth=1` keeps the top-level rows."""
    model, shown = rows[0], [row for row in rows[1:] if max_depth is None or row.depth <= max_depth]
    cells = [
        (
            row.path,
            row.kind,
            _shape(row.input_shape),
            _shape(row.output_shape),
            f"{row.parameters:,}" if row.parameters else "",
            f"{row.statistics:,}" if row.statistics else "",
        )
        for row in shown
    ]
    footers = ("Total", "", "", "", f"{model.parameters:,}", f"{model.statistics:,}")
    headers = ("path", "module", "input", "output", "params", "BN stats")
    table = Table(title=title or f"{model.kind} summary", box=box.SIMPLE_HEAD, show_footer=True, caption_justify="left")
    for i, (header, footer) in enumerate(zip(headers, footers)):
        # Never cut a path or a number short: rich squeezes columns to the console's width.
        width = max(len(text) for text in [header, footer, *(c[i] for c in cells)])
        table.add_column(header, footer=footer, justify="left" if i < 2 else "right", min_width=width, no_wrap=True)
    for row, texts in zip(shown, cells):
        table.add_row(*texts, style="bold" if row.group else None)
    table.caption = (
        f"Shapes are per example: the model takes {_shape(model.input_shape)} (channels first) to {_shape(model.output_shape)}; "
        "the layers inside work channels-last (height x width x channels).\n"
        f"{model.parameters:,} parameters + {model.statistics:,} BatchNorm statistics "
        f"= {model.parameters + model.statistics:,} in all."
    )
    return table
