"""Decoding and augmentation in the loader's workers (data/transforms.py): shapes, dtypes, ranges,
the statistics of RandomResizedCrop and the flip, every image mode to RGB, and reduced JPEG decoding."""

import math

import numpy as np
import pytest
from _folders import KINDS, photo, write_image
from PIL import Image

from eqx_resnet.data.imagenet import Preprocessing
from eqx_resnet.data.transforms import BadImage, EvalTransform, TrainTransform, random_resized_crop


@pytest.mark.parametrize("mode, suffix", KINDS)
def test_every_mode_becomes_rgb_uint8_of_the_crop_size(tmp_path, mode, suffix):
    path = write_image(tmp_path / f"image{suffix}", mode, photo(np.random.default_rng(0), 2, (41, 29)))
    for transform in (TrainTransform(24), EvalTransform(24)):
        x = transform(path, np.random.default_rng(1))
        assert x.shape == (3, 24, 24) and x.dtype == np.uint8 and x.flags.c_contiguous


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((32, 32), 40_000, np.uint16)).save(path)  # 40000 / 257 = 155.6 on the 8-bit scale
    assert Image.open(path).mode == "I;16"
    x = EvalTransform(16, crop_pct=1.0)(path)
    assert np.all(x == 40_000 >> 8)  # 156, where a plain convert("RGB") gives 255


def test_palette_transparency_and_alpha_are_dropped_to_their_colour(tmp_path):
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, 0, 200, 0])
    palette.save(tmp_path / "p.png", transparency=1)  # a transparent green index
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 1] = 200  # fully transparent green
    Image.fromarray(rgba).save(tmp_path / "a.png")
    for name in ("p.png", "a.png"):
        x = EvalTransform(16, crop_pct=1.0)(tmp_path / name)
        assert np.all(x[1] == 200) and np.all(x[[0, 2]] == 0), name  # torchvision's convert("RGB")


def test_modes_without_an_rgb_conversion_and_non_images_are_refused(tmp_path):
    Image.fromarray(np.ones((8, 8), np.float32)).save(tmp_path / "float.tiff")
    (tmp_path / "text.jpg").write_text("not a picture")
    jpeg = tmp_path / "whole.jpg"
    Image.fromarray(photo(np.random.default_rng(0), 0, (64, 64))).save(jpeg)
    (tmp_path / "cut.jpg").write_bytes(jpeg.read_bytes()[:300])
    for name, reason in (
        ("float.tiff", "mode F has no RGB conversion"),
        ("text.jpg", "cannot identify image file"),
        ("cut.jpg", "(?i)truncated"),
    ):
        with pytest.raises(BadImage, match=reason):
            TrainTransform(16)(tmp_path / name, np.random.default_rng(0))


def test_random_resized_crop_draws_torchvisions_regions():
    rng = np.random.default_rng(0)
    width, height = 500, 375
    boxes = np.array([random_resized_crop(width, height, rng) for _ in range(4000)])
    left, top, w, h = boxes.T
    assert np.all((left >= 0) & (top >= 0) & (left + w <= width) & (top + h <= height) & (w > 0) & (h > 0))
    area, aspect = w * h / (width * height), w / h
    # Scale uniform in [0.08, 1] and log-aspect uniform in [log 3/4, log 4/3], less the draws that do not fit.
    assert area.min() >= 0.08 * 0.98 and area.max() <= 1.0
    assert np.all((aspect > 0.74) & (aspect < 1.35))
    # Rejection sampling: uniform over the (scale, log-aspect) pairs whose crop fits the image.
    scale, log_ratio = np.meshgrid(np.linspace(0.08, 1, 801), np.linspace(np.log(3 / 4), np.log(4 / 3), 801))
    k = width / height
    fits = scale <= np.minimum(k / np.exp(log_ratio), np.exp(log_ratio) / k)
    assert abs(area.mean() - scale[fits].mean()) < 0.01 and abs(np.log(aspect).mean() - log_ratio[fits].mean()) < 0.02
    # The position is uniform over the places the crop fits.
    slack = (left / np.maximum(width - w, 1))[w < width]
    assert abs(slack.mean() - 0.5) < 0.03
    # A strip of an image no crop fits in 10 draws falls back to its centre at the nearest aspect ratio.
    assert random_resized_crop(1000, 10, np.random.default_rng(0)) == ((1000 - 13) // 2, 0, 13, 10)


def test_flip_and_crop_statistics_over_many_draws(tmp_path):
    rgb = np.zeros((300, 400, 3), np.uint8)
    rgb[:, :200] = 255  # white left half, black right half
    path = tmp_path / "halves.png"
    Image.fromarray(rgb).save(path)
    transform, rng = TrainTransform(16), np.random.default_rng(0)
    outputs = np.stack([transform(path, rng) for _ in range(400)]).astype(np.float32)
    assert outputs.min() >= 0 and outputs.max() <= 255
    left, right = outputs[..., :8].mean(axis=(1, 2, 3)), outputs[..., 8:].mean(axis=(1, 2, 3))
    # A crop straddling the edge is brighter on the side the image's white half is on, unless flipped.
    straddling = np.abs(left - right) > 50
    flipped = (right > left)[straddling]
    assert straddling.sum() > 150 and abs(flipped.mean() - 0.5) < 0.1
    # Crops land everywhere: wholly white, wholly black, and across the edge.
    means = outputs.mean(axis=(1, 2, 3))
    assert (means > 250).any() and (means < 5).any()


def test_a_draw_is_a_function_of_its_generator(tmp_path):
    path = write_image(tmp_path / "x.jpg", "RGB", photo(np.random.default_rng(3), 1, (120, 90)))
    transform = TrainTransform(32)
    a, b = (transform(path, np.random.default_rng(7)) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, transform(path, np.random.default_rng(8)))


def test_evaluation_crop_is_imagenet_preprocessing(tmp_path):
    path = write_image(tmp_path / "x.png", "RGB", photo(np.random.default_rng(0), 0, (131, 97)))
    reference = Preprocessing(crop_size=48)(Image.open(path))
    x = EvalTransform(48, draft=False)(path)
    mean, std = (np.asarray(v, np.float32)[:, None, None] for v in (Preprocessing.mean, Preprocessing.std))
    np.testing.assert_allclose((x / np.float32(255) - mean) / std, reference, atol=1e-5)


@pytest.mark.parametrize("mode, suffix", KINDS)
def test_predict_converts_every_mode_as_evaluation_does(tmp_path, mode, suffix):
    # `predict` prepares an image with Preprocessing, which once clipped 16-bit grayscale where the loader scales it.
    path = write_image(tmp_path / f"x{suffix}", mode, photo(np.random.default_rng(0), 1, (67, 53)))
    reference = Preprocessing(crop_size=32)(Image.open(path))
    x = EvalTransform(32, draft=False)(path)
    mean, std = (np.asarray(v, np.float32)[:, None, None] for v in (Preprocessing.mean, Preprocessing.std))
    np.testing.assert_allclose((x / np.float32(255) - mean) / std, reference, atol=1e-5)


def smooth_photo(width: int, height: int) -> np.ndarray:
    """Shapes and gradients with mild noise, as a photograph has: (h, w, 3) uint8."""
    y, x = np.mgrid[:height, :width] / max(width, height)
    rgb = np.stack([np.sin(9 * x + 3 * y), np.cos(7 * y - 2 * x), np.sin(5 * (x + y)) * np.cos(4 * x)], -1)
    noise = np.random.default_rng(0).normal(0, 0.03, rgb.shape)
    return np.clip(127.5 + 120 * (rgb + noise), 0, 255).astype(np.uint8)


def test_reduced_jpeg_decoding_keeps_the_quality(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(smooth_photo(500, 375)).save(path, quality=90)
    with Image.open(path) as image:
        image.draft("RGB", (500 // 4, 375 // 4))
        assert image.size == (125, 94)  # libjpeg's quarter-scale decode, which the transforms ask for
    for transform in (EvalTransform, TrainTransform):
        rngs = [np.random.default_rng(s) for s in (4, 4)]
        reduced, full = (transform(64, draft=d)(path, r).astype(float) for d, r in zip((True, False), rngs))
        assert np.abs(reduced - full).mean() < 2.0, transform  # levels of 255: the same picture
        assert math.isclose(reduced.std(), full.std(), rel_tol=0.03)  # and as sharp
