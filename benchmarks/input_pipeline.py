"""Input-pipeline throughput: ImageNet-sized JPEGs decoded and augmented, per worker and end to end.

    python benchmarks/input_pipeline.py                              # 256 images; 0 and 1 worker
    python benchmarks/input_pipeline.py --images 2048 --workers 0 4 8 15 --json

Writes JPEGs like ImageNet's (500x375 or 375x500, about 110 KB at quality 90: smooth shapes
under fine grain, which a photograph's entropy coding costs like) into --dir (default: a
temporary folder), reads them all once so that they come from the page cache, then measures:

- per image on one core, in this process: the training transform (RandomResizedCrop 224 and a
  flip) with and without reduced JPEG decoding (draft mode), and the evaluation transform
  (resize 256, centre crop 224);
- the whole pipeline for each --workers: `StreamingSource` (grain, worker processes, batches of
  --batch-size stacked and put on the default device), one epoch read as fast as it comes, its
  start (the workers' start-up and first batch) apart from the steady rate after it.

Then how many workers feed a training step at --target images/s: resnet50 in bf16 trains at
about 5,650 images/s on one H100 (Flax, torch.compile) and 7,000 in MLPerf's hand-fused runs
(benchmarks/README.md, "Peers' reference figures"). The entry point is guarded, as grain's worker processes need.

`write_folder` writes a large image folder of such JPEGs quickly, for the GPU check's engine stage.
"""

import argparse
import io
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

IMAGENET_RATE = 5_650  # resnet50 bf16 training, one H100: Flax 5,662 and torch.compile 5,646 images/s


def photo(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth colour fields under fine grain: `(height, width, 3)` uint8, ~110 KB as a quality-90 JPEG at 500x375."""
    y, x = np.mgrid[:height, :width] / max(width, height)
    freq, phase = rng.uniform(2, 12, (3, 2)), rng.uniform(0, 6, 3)
    rgb = np.stack([np.sin(freq[c, 0] * x + freq[c, 1] * y + phase[c]) for c in range(3)], -1)
    rgb += rng.normal(0, 0.26, rgb.shape)
    return np.clip(127.5 + 110 * rgb, 0, 255).astype(np.uint8)


def jpeg(rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    """A `photo` of `size` (width, height) as a quality-90 JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(photo(rng, *size)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_images(root: Path, count: int, size: tuple[int, int] = (500, 375)) -> list[Path]:
    """`count` JPEGs of `size` in `root/train/photos/` (and one in `root/val/photos/`), one in four portrait."""
    rng = np.random.default_rng(0)
    paths = []
    for split, n in (("train", count), ("val", 1)):
        folder = root / split / "photos"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = folder / f"{i:05d}.jpg"
            if not path.exists():
                path.write_bytes(jpeg(rng, size if i % 4 else size[::-1]))
            paths.append(path)
    return paths[:count]


def write_folder(
    root: Path, classes: int, per_class: int, size: tuple[int, int] = (500, 375), distinct: int = 16
) -> None:
    """An ImageNet-like image folder in the time of writing its bytes: `classes` class folders of `per_class`
    JPEGs in `root/train/` and of one in `root/val/`, copies of `distinct` photos of `size`, one in four
    portrait. Copies, not links: an image folder counts a file once per class, however many links lead to it."""
    rng = np.random.default_rng(0)
    photos = [jpeg(rng, size if i % 4 else size[::-1]) for i in range(distinct)]
    for split, n in (("train", per_class), ("val", 1)):
        for c in range(classes):
            folder = root / split / f"class{c:03d}"
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i:05d}.jpg").write_bytes(photos[(c * n + i) % distinct])


def per_image(paths: list[Path]) -> dict[str, float]:
    """Images/s of each transform on one core, in this process."""
    from eqx_resnet.data.transforms import EvalTransform, TrainTransform

    transforms = {
        "train (RandomResizedCrop 224 + flip), reduced decoding": TrainTransform(224),
        "train, full decoding": TrainTransform(224, draft=False),
        "eval (resize 256, centre crop 224), reduced decoding": EvalTransform(224),
    }
    rates = {}
    for name, transform in transforms.items():
        rng = np.random.default_rng(0)
        start = time.perf_counter()
        for path in paths:
            transform(path, rng)
        rates[name] = len(paths) / (time.perf_counter() - start)
    return rates


def pipeline(root: Path, workers: int, batch_size: int) -> dict[str, float]:
    """One epoch of the training source with `workers` processes: start-up seconds and steady images/s."""
    import jax

    from eqx_resnet.data.stream import folder_sources

    source, _ = folder_sources(
        "imagefolder", root, batch_size=batch_size, eval_batch_size=1, image_size=224, augment=True, workers=workers
    )
    start = time.perf_counter()
    chunks = source.chunks(jax.random.key(0), 0, 1)
    jax.block_until_ready(next(chunks)[1])
    first = time.perf_counter()
    steps = 0
    for _, chunk in chunks:
        jax.block_until_ready(chunk)
        steps += 1
    end = time.perf_counter()
    # The source puts the next batch on the device before handing over this one: the second batch was
    # read before the first came out, so `steps - 1` were read after it.
    rate = (steps - 1) * batch_size / (end - first) if steps > 1 else None  # None: too few batches to tell
    return {
        "workers": workers,
        "start_s": first - start,
        "images_per_s": rate,
        "loader_estimate": source.throughput.get("loader_images_per_s"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256, help="JPEGs to write and read (default 256)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1], help="worker counts for the pipeline")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--target", type=float, default=IMAGENET_RATE, help="images/s the workers must feed")
    parser.add_argument(
        "--size", default="500x375", help="the JPEGs' width x height (default ImageNet's typical 500x375)"
    )
    parser.add_argument(
        "--dir", type=Path, help="where the JPEGs are written, in a folder per size (kept for the next run)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        root = (args.dir or Path(scratch)) / args.size
        paths = write_images(root, args.images, tuple(int(n) for n in args.size.split("x")))
        sizes = [p.stat().st_size for p in paths]
        for p in paths:
            p.read_bytes()  # into the page cache: the disk is not what is measured
        single = per_image(paths)
        runs = [pipeline(root, w, args.batch_size) for w in args.workers]
    per_core = single["train (RandomResizedCrop 224 + flip), reduced decoding"]
    result = {
        "cpus": os.cpu_count(),
        "images": len(paths),
        "size": args.size,
        "mean_kb": sum(sizes) / len(sizes) / 1024,
        "per_image": single,
        "pipeline": runs,
        "target": args.target,
        "workers_for_target": math.ceil(args.target / per_core),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{len(paths)} JPEGs of {args.size}, mean {result['mean_kb']:.0f} KB, {result['cpus']} CPUs")
    for name, rate in single.items():
        print(f"  one core, {name}: {rate:,.0f} images/s")
    for run in runs:
        rate = "too few batches to measure" if run["images_per_s"] is None else f"{run['images_per_s']:,.0f} images/s"
        print(
            f"  pipeline, {run['workers']} workers, batch {args.batch_size}: {rate} after a start of {run['start_s']:.1f} s"
        )
    print(
        f"feeding {args.target:,.0f} images/s takes about {result['workers_for_target']} workers "
        f"(one core each, at {per_core:,.0f} images/s per core)"
    )


if __name__ == "__main__":
    main()
