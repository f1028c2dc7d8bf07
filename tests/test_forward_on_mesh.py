"""`models.forward` on a 4-device CPU mesh: with explicit axes (JAX's default), with auto axes, and
under `shard_map`, the loss, gradients and new BatchNorm statistics equal one device's.

The mesh needs `XLA_FLAGS` before JAX starts, so the test runs this file in a child process.
"""

import json
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _runs import cpu_devices_env
from _trees import arrays, relative
from jax import lax
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import eqx_resnet

DEVICES = 4
OPTIONS = dict(widths=(4, 8, 8), blocks_per_stage=1, key=jax.random.key(0, impl="rbg"))  # small, quick to compile


def random_model():
    """The small model with random arrays: traced, not initialised, which compiles nothing."""
    model, state = eqx.filter_eval_shape(eqx_resnet.preact_resnet, **OPTIONS)
    rng = np.random.default_rng(0)
    model = jax.tree.map(
        lambda x: (
            jnp.asarray(0.3 * rng.standard_normal(x.shape, np.float32)) if isinstance(x, jax.ShapeDtypeStruct) else x
        ),
        model,
    )
    return model, jax.tree.map(lambda x: jnp.full(x.shape, 1.0, x.dtype), state)


def with_axis_name(model, axis_name):
    """`model` as built with another BatchNorm `axis_name` (a static field), with the same arrays."""
    abstract, _ = eqx.filter_eval_shape(eqx_resnet.preact_resnet, **OPTIONS, axis_name=axis_name)
    return jax.tree.unflatten(jax.tree.structure(abstract), jax.tree.leaves(model))


def loss_fn(model, state, images, labels, key=None):
    logits, state = eqx_resnet.forward(model, state, images, key=key)
    return eqx_resnet.cross_entropy(logits, labels), state


def on_mesh(mesh, *arrays):
    return [jax.device_put(a, NamedSharding(mesh, P("data"))) for a in arrays]


def replicated(mesh, tree):
    """`tree`'s arrays copied onto every device of `mesh`: explicit axes want every input on the mesh."""
    arrays, rest = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.device_put(arrays, NamedSharding(mesh, P())), rest)


def shard_map_step(mesh, model, state, images, labels):
    """The same step under `shard_map`: BatchNorm takes its statistics over the devices and the examples."""
    params, static = eqx.partition(with_axis_name(model, ("data", "batch")), eqx.is_array)

    def local(params, state, images, labels):
        def loss(params):  # this device's share of the mean loss
            value, new_state = loss_fn(eqx.combine(params, static), state, images, labels)
            return value / lax.psum(1, "data"), new_state

        (value, new_state), grads = eqx.filter_value_and_grad(loss, has_aux=True)(params)
        return (lax.psum(value, "data"), new_state), lax.psum(grads, "data")

    # check_vma=False: in JAX 0.10 a vmap's collective inside shard_map fails the varying-axes check.
    step = jax.shard_map(local, in_specs=(P(), P(), P("data"), P("data")), out_specs=((P(), P()), P()), check_vma=False)
    return jax.jit(step)(params, state, *on_mesh(mesh, images, labels))


def compare(result, reference):
    (loss, state), grads = result
    (ref_loss, ref_state), ref_grads = reference
    return {
        "loss": relative(loss, ref_loss),
        "grads": max(relative(a, b) for a, b in zip(arrays(grads), arrays(ref_grads), strict=True)),
        "state": max(relative(a, b) for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(ref_state), strict=True)),
    }


def traces(mesh):
    """Errors, if any, tracing the other families' training steps on the mesh (no compiling)."""
    families = {
        "resnet": (
            lambda: eqx.nn.make_with_state(eqx_resnet.ResNet)(
                eqx_resnet.BasicBlock, (1, 1, 1, 1), key=jax.random.key(0)
            ),
            (8, 3, 32, 32),
        ),
        "alexnet": (lambda: eqx_resnet.alexnet(key=jax.random.key(0)), (8, 1, 96, 96)),  # dropout: per-example keys
    }
    errors = {}
    for name, (make, shape) in families.items():
        model, state = eqx.filter_eval_shape(make)
        images, labels = on_mesh(mesh, jnp.zeros(shape), jnp.zeros(shape[0], jnp.int32))
        try:
            step = eqx.filter_value_and_grad(loss_fn, has_aux=True)
            eqx.filter_eval_shape(step, model, state, images, labels, jax.random.key(1))
        except Exception as err:  # reported to the test, which shows it
            errors[name] = f"{type(err).__name__}: {err}"
    return errors


def main():
    assert len(jax.devices()) == DEVICES, jax.devices()
    images = jax.random.normal(jax.random.key(1), (8, 1, 8, 8))
    labels = jnp.arange(8) % 10
    step = eqx.filter_jit(eqx.filter_value_and_grad(loss_fn, has_aux=True))
    model, state = random_model()  # made before any mesh
    reference = step(model, state, images, labels, jax.random.key(2))
    report = {"errors": {}}
    for axis_type in (AxisType.Explicit, AxisType.Auto):
        mesh = jax.make_mesh((DEVICES,), ("data",), axis_types=(axis_type,))
        with jax.set_mesh(mesh):
            result = step(*replicated(mesh, (model, state)), *on_mesh(mesh, images, labels), jax.random.key(2))
            report[axis_type.name] = compare(result, reference)
            if axis_type == AxisType.Explicit:  # auto axes keep shardings out of the types
                report["errors"].update(traces(mesh))
    mesh = jax.make_mesh((DEVICES,), ("data",))
    with jax.set_mesh(mesh):
        report["shard_map"] = compare(
            shard_map_step(mesh, *replicated(mesh, (model, state)), images, labels), reference
        )
        try:  # the state as made, off the mesh
            step(replicated(mesh, model), state, *on_mesh(mesh, images, labels))
            report["outside"] = "no error"
        except ValueError as err:
            report["outside"] = str(err)
    print(json.dumps(report))


def test_a_mesh_gives_one_devices_loss_gradients_and_statistics():
    result = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, timeout=600, env=cpu_devices_env(DEVICES)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report.pop("errors") == {}
    outside = report.pop("outside")
    assert "not on the mesh" in outside and "jax.set_mesh(mesh)" in outside, outside
    assert set(report) == {"Explicit", "Auto", "shard_map"}
    for layout, errors in report.items():
        for what, error in errors.items():
            assert error < 1e-5, (layout, what, error)


if __name__ == "__main__":
    main()
