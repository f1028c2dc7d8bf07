"""Two processes on localhost joined by `jax.distributed` (gloo collectives on CPU), through the CLI:
they train as one process does, only process 0 writes, a peer that dies ends the run with one
line, and the run resumes; each reads only its own rows of every batch; a missing coordinator
is one line within the join timeout.

Each process runs this file as a script, which wraps the CLI: the wrapper refuses a checkpoint
written by any process but 0, and `--die-at N` kills the process (SIGKILL) at its N-th step;
or, with `--sources FOLDER`, reads an epoch of each kind of source and prints its rows.
Every child has a timeout, so nothing here can hang.
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from _folders import make_folder
from _runs import TINY_TRAIN_ARGS, cpu_devices_env
from _trees import arrays, relative

from eqx_resnet.training import ConfigError, TrainConfig, TrainingError, initialize_distributed, load_checkpoint, train

TINY = [*TINY_TRAIN_ARGS, "--max-train-samples", "512"]
DEVICES_PER_PROCESS = 2  # two processes of two CPU devices: a mesh of four
HEARTBEAT_S = 5
CHILD_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(process_id: int, port: int, args: list[str], die_at: int | None = None) -> subprocess.Popen:
    command = [
        sys.executable,
        __file__,
        *(["--die-at", str(die_at)] if die_at else []),
        "--",
        "train",
        "mnist",
        *TINY,
        *args,
        "--coordinator",
        f"localhost:{port}",
        "--num-processes",
        "2",
        "--process-id",
        str(process_id),
        "--join-timeout",
        "120",
        "--heartbeat-timeout",
        str(HEARTBEAT_S),
    ]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cpu_devices_env(DEVICES_PER_PROCESS)
    )


def finish(processes: list[subprocess.Popen]) -> list[tuple[int, str, str, float]]:
    """Each process's (status, stdout, stderr, time it ended), all killed past the timeout."""
    deadline, ended = time.monotonic() + CHILD_TIMEOUT_S, {}
    while len(ended) < len(processes) and time.monotonic() < deadline:
        for i, p in enumerate(processes):
            if i not in ended and p.poll() is not None:
                ended[i] = time.monotonic()
        time.sleep(0.05)
    results = []
    for i, p in enumerate(processes):
        if i not in ended:
            p.kill()
        out, err = p.communicate(timeout=30)
        results.append((p.returncode, out, err, ended.get(i, float("inf"))))
    return results


def test_two_processes_train_as_one_and_resume_after_a_peer_dies(tmp_path):
    run_dir = tmp_path / "two"
    # Process 1 dies at its 3rd step; process 0 wrote last/ at step 2 and must end with one line.
    port = free_port()
    first = finish(
        [
            launch(0, port, ["--epochs", "1", "--checkpoint-every", "2", "--out", str(run_dir)]),
            launch(1, port, ["--epochs", "1", "--checkpoint-every", "2", "--out", str(run_dir)], die_at=3),
        ]
    )
    (status0, _, err0, ended0), (status1, _, _, ended1) = first
    assert status1 == -signal.SIGKILL, first[1][2][-3000:]
    assert status0 == 1, err0[-3000:]
    message = [line for line in err0.splitlines() if line.startswith("error:")]
    assert len(message) == 1 and "lost contact with the others" in message[0] and "--resume" in message[0], err0[-3000:]
    assert ended0 - ended1 < HEARTBEAT_S + 20, (ended0 - ended1, err0[-3000:])
    saved = load_checkpoint(run_dir / "last")[2]
    assert saved["epoch"] == 0 and saved["partial_epoch"]["steps"] == 2

    port = free_port()
    resumed = finish([launch(i, port, ["--resume", "--out", str(run_dir), "--json"]) for i in (0, 1)])
    for status, _, err, _ in resumed:
        assert status == 0, err[-3000:]
    # Gloo prints its connections on stdout, its lines sometimes split ("... Expected number of connected
    # peer ranks is : 3" alone): keep only what eqx-resnet prints, JSON with --json.
    reported = [[line for line in out.splitlines() if line.startswith("{")] for _, out, _, _ in resumed]
    assert reported[1] == []  # process 1 reports nothing
    final = json.loads(reported[0][-1])

    config = TrainConfig(
        model="preact_resnet",
        model_options={"widths": [4, 8, 8], "blocks_per_stage": 1},
        epochs=1,
        max_train_samples=512,
        batch_size=64,
        lr=0.01,
        schedule="constant",
        augment=False,
    )
    reference = train(config, tmp_path / "one")
    assert abs(final["train_loss"] - reference.final["train_loss"]) < 1e-5 * reference.final["train_loss"]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1]
    two, one = load_checkpoint(run_dir / "last")[:2], load_checkpoint(tmp_path / "one" / "last")[:2]
    for a, b in zip(arrays(two), arrays(one), strict=True):  # parameters and BatchNorm statistics
        assert relative(a, b) < 1e-5


def test_each_process_reads_only_its_own_rows_of_every_batch(tmp_path):
    folder = make_folder(tmp_path / "images")
    port = free_port()
    command = lambda i: [sys.executable, __file__, "--sources", str(folder), f"localhost:{port}", str(i)]
    results = finish(
        [
            subprocess.Popen(
                command(i),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=cpu_devices_env(DEVICES_PER_PROCESS),
            )
            for i in (0, 1)
        ]
    )
    read = []
    for status, out, err, _ in results:
        assert status == 0, err[-3000:]
        read.append(json.loads(next(line for line in out.splitlines() if line.startswith("ROWS "))[5:]))
    one = read_sources(folder, sharding=None)  # one process, one device: whole batches
    for kind in ("train", "eval", "memory"):
        for p in (0, 1):
            rows = [batch[p * len(batch) // 2 : (p + 1) * len(batch) // 2] for batch in one[kind]]
            assert read[p][kind] == rows, kind
    assert len(one["eval"][0]) == 8  # a batch of 6 was rounded up to split over the 4 devices, as here
    decoded = [set(r["decoded"]) for r in read]
    assert not decoded[0] & decoded[1] and decoded[0] | decoded[1] == set(one["decoded"])


class Recording:
    """A transform that records each file it decodes (`workers=0`: in this process)."""

    def __init__(self, transform, decoded: list[str]):
        self.transform, self.size, self.decoded = transform, transform.size, decoded

    def __call__(self, path, rng=None):
        self.decoded.append(str(path))
        return self.transform(path, rng)


def local_rows(x: jax.Array) -> np.ndarray:
    """This process's part of a chunk split along its batch axis (1)."""
    return np.concatenate([s.data for s in sorted(x.addressable_shards, key=lambda s: s.index[1].start or 0)], axis=1)


def read_sources(folder, sharding) -> dict:
    """An epoch of a training and an evaluation image-folder source and of an in-memory source, as
    `[[(label, image hash) of each of this process's rows] of each step]`, and the files decoded."""
    from eqx_resnet.data import Dataset, dataset_info
    from eqx_resnet.data.source import InMemorySource
    from eqx_resnet.data.stream import folder_sources

    train, val = folder_sources(
        "imagefolder",
        folder,
        batch_size=8,
        eval_batch_size=6 if sharding is not None else 8,
        image_size=16,
        augment=True,
        workers=0,
        sharding=sharding,
    )
    decoded = []
    train.transform, val.transform = Recording(train.transform, decoded), Recording(val.transform, decoded)
    images = np.random.default_rng(0).integers(0, 256, (40, 1, 28, 28), np.uint8)
    dataset = Dataset(images, np.arange(40, dtype=np.int32) % 10, dataset_info("mnist"))
    memory = InMemorySource(dataset, 8, sharding=sharding)
    key = jax.random.key(0, impl="rbg")
    read = {}
    for kind, source, k in (("train", train, key), ("eval", val, None), ("memory", memory, key)):
        read[kind] = []
        for first, chunk in source.chunks(k, 0, 1):
            x, y = map(local_rows, chunk)
            j = first if kind == "memory" else 0  # an in-memory chunk is the whole epoch
            read[kind].append([[int(label), hashlib.sha1(row.tobytes()).hexdigest()] for row, label in zip(x[j], y[j])])
    return read | {"decoded": decoded}


def test_a_missing_coordinator_or_peer_is_one_line_within_the_join_timeout(tmp_path):
    port = free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    common = [
        "eqx-resnet",
        "train",
        "mnist",
        "--out",
        str(tmp_path),
        "--coordinator",
        f"localhost:{port}",
        "--num-processes",
        "2",
        "--join-timeout",
        "2",
    ]
    start = lambda i: subprocess.Popen(
        [*common, "--process-id", str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    started = time.monotonic()
    no_coordinator = finish([start(1)])[0]
    assert no_coordinator[0] == 1
    assert (
        no_coordinator[2].startswith("error: cannot reach the coordinator at localhost:")
        and "start process 0 with the same coordinator" in no_coordinator[2]
    )
    assert no_coordinator[3] - started < 2 + 30
    no_peer = finish([start(0)])[0]
    assert no_peer[0] == 1
    assert (
        no_peer[2].startswith("error: the processes of the run did not all join the coordinator")
        and "(the join timeout)" in no_peer[2]
    )


def test_bad_coordinator_settings_are_refused_before_jax_starts():
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        with pytest.raises(
            TrainingError,
            match=rf"process 0 cannot serve on port {taken.getsockname()[1]} .*another port for `coordinator`",
        ):
            initialize_distributed(f"localhost:{taken.getsockname()[1]}", 2, 0)
    for args, message in [
        (("10.0.0.1", 2, 0), "`coordinator` takes HOST:PORT"),
        (("h:1", None, 0), "needs `num_processes` and `process_id`"),
        (("h:1", 2, 2), "`process_id` must be 0 to 1"),
        ((None, 2, 0), '`num_processes` and `process_id` go with `coordinator="HOST:PORT"`'),
    ]:
        with pytest.raises(ConfigError, match=message):
            initialize_distributed(*args)
    jax.devices()  # JAX has started in this process
    with pytest.raises(ConfigError, match="must come before anything uses JAX"):
        initialize_distributed("localhost:1234", 2, 1)


def _worker(argv: list[str]) -> None:
    """Run the CLI with `argv` (after `--`): a checkpoint from a process other than 0 fails it;
    `--die-at N` SIGKILLs this process at its N-th step."""
    split = argv.index("--")
    options, cli_args = argv[:split], argv[split + 1 :]
    die_at = int(options[options.index("--die-at") + 1]) if "--die-at" in options else None
    from eqx_resnet.cli import app
    from eqx_resnet.training import engine

    real_save, real_stop, steps = engine.save_checkpoint, engine.stop_anywhere, []

    def save_on_process_zero(*args, **kwargs):
        assert jax.process_index() == 0, f"process {jax.process_index()} wrote a checkpoint"
        return real_save(*args, **kwargs)

    def stop_or_die(requested):  # the engine calls it at every read point within an epoch: here every step
        steps.append(1)
        if len(steps) == die_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_stop(requested)

    engine.save_checkpoint, engine.stop_anywhere = save_on_process_zero, stop_or_die
    app(cli_args)


def _read_sources(folder: str, coordinator: str, process_id: str) -> None:
    """Join a run of two processes and print this process's rows of an epoch of each source."""
    initialize_distributed(coordinator, 2, int(process_id), join_timeout=60, heartbeat_timeout=HEARTBEAT_S)
    from eqx_resnet.training.sharding import batch_sharding, data_mesh

    print("ROWS " + json.dumps(read_sources(folder, batch_sharding(data_mesh(), 1))), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--sources":
        _read_sources(*sys.argv[2:])
    else:
        _worker(sys.argv[1:])
