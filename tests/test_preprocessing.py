"""`data.preprocessing.Preprocessing`: both kinds prepare an image file as training does, its checks,
its JSON form, and a run's metadata of format 2 (either layout of the old dict) read as the type."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from eqx_resnet.data import DatasetError, Preprocessing, dataset_info, load_image, prepare
from eqx_resnet.data.imagenet import IMAGENET_PREPROCESSING
from eqx_resnet.data.imagenet import Preprocessing as ImagenetPreprocessing
from eqx_resnet.training import CheckpointError, RunMetadata

MNIST = Preprocessing(32, None, mean=(0.1307,), std=(0.3081,), source_size=28)


@pytest.mark.parametrize("image_size", [None, 32])
def test_a_fixed_size_datasets_image_file_is_prepared_as_the_training_step_prepares_it(tmp_path, image_size):
    info = dataset_info("mnist")
    digit = np.random.default_rng(0).integers(0, 256, (28, 28), np.uint8)
    Image.fromarray(digit).save(tmp_path / "digit.png")
    x = load_image(tmp_path / "digit.png", info.preprocessing(image_size))
    expected = np.asarray(prepare(jnp.asarray(digit[None, None]), info, image_size))[0]
    assert x.shape == expected.shape == (1, image_size or 28, image_size or 28) and x.dtype == np.float32
    np.testing.assert_allclose(x, expected, atol=1e-5)
    # An RGB photograph of another size becomes a grayscale image of the dataset's size first.
    Image.new("RGB", (50, 40), (255, 255, 255)).save(tmp_path / "white.png")
    np.testing.assert_allclose(load_image(tmp_path / "white.png", MNIST), (1 - 0.1307) / 0.3081, rtol=1e-5)


def test_a_photograph_is_resized_centre_cropped_and_standardised(tmp_path):
    info = dataset_info("imagefolder")
    assert info.preprocessing(48) == Preprocessing(48, 0.875, "bilinear") and info.preprocessing().crop_size == 224
    Image.new("RGB", (90, 60), (200, 100, 50)).save(tmp_path / "photo.png")
    x = load_image(tmp_path / "photo.png", info.preprocessing(48))
    assert x.shape == (3, 48, 48) and x.dtype == np.float32
    expected = (np.array([200, 100, 50]) / 255 - np.array(info.mean)) / np.array(info.std)
    np.testing.assert_allclose(x[:, 5, 7], expected, rtol=1e-5)


def test_weight_sets_build_it_as_before():
    # weights/ builds its sets positionally, by data.imagenet's name, and reads these properties.
    assert ImagenetPreprocessing is Preprocessing and IMAGENET_PREPROCESSING == Preprocessing()
    ra4 = ImagenetPreprocessing(288, 1.0, "bicubic", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    assert (ra4.crop_size, ra4.crop_pct, ra4.resize_size, ra4.source_size) == (288, 1.0, 288, None)
    assert Preprocessing(224, 0.965).resize_size == 232 and MNIST.resize_size == 28


@pytest.mark.parametrize("pre", [IMAGENET_PREPROCESSING, MNIST])
def test_survives_a_json_round_trip(pre):
    assert Preprocessing.from_dict(json.loads(json.dumps(pre.to_dict()))) == pre
    with pytest.raises(ValueError, match=r"unknown preprocessing keys \['image_size'\]"):
        Preprocessing.from_dict({**pre.to_dict(), "image_size": 28})


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"source_size": 28}, r"got crop_pct=0\.875 and source_size=28: give crop_pct .* or source_size with crop_pct"),
        ({"crop_pct": None}, "got crop_pct=None and source_size=None"),
        ({"crop_pct": 1.5}, r"crop_pct must be in \(0, 1\], got 1\.5"),
        ({"mean": (0.5,), "std": (0.5,)}, r"mean must have one value per RGB channel, got \(0\.5,\)"),
        (
            {"crop_pct": None, "source_size": 28, "mean": (0.5, 0.5), "std": (0.5, 0.5)},
            r"one value per channel \(1 for grayscale, 3 for RGB\)",
        ),
        ({"crop_pct": None, "source_size": 28, "mean": (0.5,)}, "mean and std must have one value per channel each"),
        ({"crop_size": 0}, "crop_size must be a positive number of pixels, got 0"),
    ],
)
def test_refuses_what_is_not_one_of_the_two_kinds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Preprocessing(**kwargs)


def test_an_unreadable_image_names_its_file(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    for path in (tmp_path / "notes.png", tmp_path / "missing.png"):
        with pytest.raises(DatasetError, match=f"cannot read image {path}"):
            load_image(path, MNIST)
    Image.fromarray(np.zeros((4, 4, 3), np.float32)[..., 0], "F").save(tmp_path / "float.tiff")
    with pytest.raises(DatasetError, match=r"float\.tiff: its mode F has no RGB conversion"):
        load_image(tmp_path / "float.tiff", IMAGENET_PREPROCESSING)


FORMAT_2 = {
    "model": "preact_resnet",
    "model_options": {"num_classes": 10},
    "dataset": "mnist",
    "data_dir": "/data",
    "class_names": [str(d) for d in range(10)],
    "precision": "fp32",
    "config": {},
    "format": 2,
}


@pytest.mark.parametrize(
    "old, new",
    [
        ({"image_size": 32, "source_size": 28, "channels": 1, "mean": [0.1307], "std": [0.3081]}, MNIST),
        (
            {"crop_size": 224, "crop_pct": 0.875, "interpolation": "bilinear", "mean": [0.485, 0.456, 0.406]}
            | {"std": [0.229, 0.224, 0.225]},
            IMAGENET_PREPROCESSING,
        ),
    ],
)
def test_metadata_of_format_2_reads_either_old_layout(old, new):
    meta = RunMetadata.from_dict({**FORMAT_2, "preprocessing": old})
    assert meta.preprocessing == new
    assert RunMetadata.from_dict(meta.to_dict()).preprocessing == new  # and is saved in today's form
    assert meta.to_dict()["preprocessing"] == new.to_dict()


def test_metadata_with_a_bad_preprocessing_says_so():
    with pytest.raises(CheckpointError, match=r"metadata has a bad 'preprocessing' \(got crop_pct=None"):
        RunMetadata.from_dict({**FORMAT_2, "format": 3, "preprocessing": {**MNIST.to_dict(), "source_size": None}})
