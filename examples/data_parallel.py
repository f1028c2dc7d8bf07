"""Data-parallel training in your own loop: one training step sharded over every device.

    python examples/data_parallel.py                    # the devices JAX sees (a CPU is one)
    XLA_FLAGS=--xla_force_host_platform_device_count=4 python examples/data_parallel.py   # four CPU devices

`shard_train_step` makes a step of `make_train_step`'s signature data-parallel: each global
batch is split over the mesh's "data" axis, the model, its BatchNorm state and the optimiser
state are replicated, and GSPMD adds the collectives. BatchNorm takes the statistics of the
global batch, so the losses printed are one device's, whatever the number of devices. On
several hosts, call `eqx_resnet.training.initialize_distributed` first; each process then
passes its own rows of each batch, as below.
"""

import equinox as eqx
import jax
import optax

import eqx_resnet
from eqx_resnet.training import data_mesh, make_train_step, replicate, shard_batch, shard_train_step

mesh = data_mesh()  # every local device of every process, on one axis: "data"
train = eqx_resnet.load_dataset("mnist", "train")
batch, steps = 64, 10
rows = batch // jax.process_count()  # this process's share of each global batch
offset = jax.process_index() * rows

model, state = eqx_resnet.preact_resnet(widths=(8, 16, 16), blocks_per_stage=1, key=jax.random.key(0))
optimizer = optax.adam(1e-2)
opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
model, state, opt_state = replicate((model, state, opt_state), mesh)
train_step = shard_train_step(make_train_step(optimizer), mesh)


# On CPU: XLA's multi-threaded Eigen convolutions rather than YNNPACK's (see eqx_resnet/_xla_cpu/options.py).
@eqx.filter_jit(compiler_options=eqx_resnet.compiler_options())
def step(model, state, opt_state, images, labels, key):
    images = eqx_resnet.normalize(images, train.info)  # uint8 -> normalised float32, on the devices
    return train_step(model, state, opt_state, images, labels, key)


for i in range(steps):
    start = i * batch + offset
    images, labels = shard_batch((train.images[start : start + rows], train.labels[start : start + rows]), mesh)
    model, state, opt_state, metrics = step(model, state, opt_state, images, labels, jax.random.key(i))
    print(f"step {i}: loss {float(metrics['loss']):.5f}")
print(
    f"data-parallel over {mesh.size} device(s); each holds a replica of the model and {batch // mesh.size} images a step"
)
