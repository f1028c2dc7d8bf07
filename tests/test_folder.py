"""Image folders as files and labels (data/folder.py): torchvision's layout, ImageNet's, links (followed
once, within their class), and every folder that cannot be read, refused with a message naming it and the fix."""

import csv
import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from _folders import CLASSES, make_folder, photo, write_image
from _runs import TINY_TRAIN_ARGS
from scipy.io import savemat

from eqx_resnet.data import DatasetError
from eqx_resnet.data.folder import folder_info, info_for, open_splits
from eqx_resnet.data.imagenet import IMAGENET_CLASSES, IMAGENET_SYNSETS


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("folder"), train=4, val=2)


def test_classes_are_the_sorted_folders_and_labels_their_index(folder):
    train, val = open_splits("imagefolder", folder)
    assert train.classes == val.classes == CLASSES and (len(train), len(val)) == (12, 6)
    assert train.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert [train.path(i).relative_to(folder).as_posix() for i in (0, 11)] == ["train/cat/000.jpg", "train/owl/003.png"]
    info = info_for("imagefolder", folder, 32)
    assert info == folder_info("imagefolder", CLASSES, 32)
    assert (info.num_classes, info.classes, info.image_shape, info.crop_pct) == (3, CLASSES, (3, 32, 32), 0.875)


def test_images_below_a_class_folder_count_and_other_files_do_not(tmp_path):
    root = make_folder(tmp_path, train=2, val=1)
    (root / "train/cat/more/deeper").mkdir(parents=True)
    write_image(root / "train/cat/more/deeper/x.png", "RGB", photo(np.random.default_rng(0), 0, (20, 20)))
    (root / "train/cat/notes.txt").write_text("not an image")
    train, _ = open_splits("imagefolder", root)
    assert len(train) == 7 and train.path(2).relative_to(root).as_posix() == "train/cat/more/deeper/x.png"


def test_default_data_dir_holds_the_dataset_in_its_own_folder(tmp_path):
    make_folder(tmp_path / "imagefolder", train=1, val=1)
    assert len(open_splits("imagefolder", tmp_path)[0]) == 3


@pytest.mark.parametrize(
    "case, message",
    [
        (
            "missing",
            r"imagefolder: .* does not exist: pass a `data_dir` laid out as DIR/train/<class>/\*.jpg",
        ),
        ("no train", "has no train/ folder"),
        ("flat", "holds no class folders: its images lie directly in it; move them into one folder per class"),
        ("empty class", r"train/dog/ holds no images \(.jpg, .jpeg, .png.*add images or remove the empty class folder"),
        ("no images", r"train/cat/, .*train/dog/, .*train/owl/ hold no images"),
        (
            "other val classes",
            "val has classes train/ lacks: bird; .*val lacks classes of train/: owl: the validation split",
        ),
        (
            "no val",
            r"has no validation folder \(val/, validation/, test/\): add val/.*or hold out part of train/ with `val_fraction=0.1`",
        ),
    ],
)
def test_unusable_folders_are_refused_naming_the_fix(tmp_path, case, message):
    root = tmp_path / "data"
    if case != "missing":
        make_folder(root, train=1, val=1)
    if case == "no train":
        (root / "train").rename(root / "training")
    elif case == "flat":
        for image in (root / "train").glob("*/*"):
            image.rename(root / "train" / f"{image.parent.name}-{image.name}")
        for name in CLASSES:
            (root / "train" / name).rmdir()
    elif case == "empty class":
        (root / "train/dog/000.jpg").unlink()
    elif case == "no images":
        for image in (root / "train").glob("*/*"):
            image.rename(image.with_suffix(".txt"))
    elif case == "other val classes":
        (root / "val/owl").rename(root / "val/bird")
    elif case == "no val":
        for image in (root / "val").glob("*/*"):
            image.unlink()
        for name in CLASSES:
            (root / "val" / name).rmdir()
        (root / "val").rmdir()
    with pytest.raises(DatasetError, match=message):
        open_splits("imagefolder", root)


def test_val_fraction_holds_out_each_class_whatever_the_seed(folder):
    train, val = open_splits("imagefolder", folder, val_fraction=0.25)
    assert (len(train), len(val)) == (9, 3) and np.bincount(val.labels).tolist() == [1, 1, 1]
    assert not set(train.paths) & set(val.paths)
    again = open_splits("imagefolder", folder, val_fraction=0.25)[1]
    assert again.paths.tolist() == val.paths.tolist()
    small = open_splits("imagefolder", folder, val_fraction=0.01)[1]  # at least one image of each class
    assert np.bincount(small.labels).tolist() == [1, 1, 1]


SYNSETS = IMAGENET_SYNSETS[:3]


def make_imagenet(root, *, flat_val: bool):
    """ImageNet's layout with three of its classes and two images of each."""
    rng = np.random.default_rng(0)
    for i, synset in enumerate(SYNSETS):
        (root / "train" / synset).mkdir(parents=True)
        for k in range(2):
            write_image(root / "train" / synset / f"{synset}_{k}.JPEG", "RGB", photo(rng, i, (30, 30)))
    (root / "val").mkdir()
    labels = [2, 0, 1, 2, 0, 1, 2]  # the class of ILSVRC2012_val_00000001.JPEG, ...
    for number, label in enumerate(labels, start=1):
        folder = root / "val" if flat_val else root / "val" / SYNSETS[label]
        folder.mkdir(exist_ok=True)
        write_image(folder / f"ILSVRC2012_val_{number:08d}.JPEG", "RGB", photo(rng, label, (30, 30)))
    return labels


def devkit(labels):
    """The devkit's meta.mat (ILSVRC2012_IDs that are not the sorted order, a non-leaf synset) and ground truth."""
    ids = {SYNSETS[0]: 3, SYNSETS[1]: 1, SYNSETS[2]: 2}
    fields = (
        "ILSVRC2012_ID",
        "WNID",
        "words",
        "gloss",
        "num_children",
        "children",
        "wordnet_height",
        "num_train_images",
    )
    rows = [(ids[s], s, "w", "g", 0, np.zeros(0), 0, 2) for s in SYNSETS] + [
        (1001, "n00001740", "entity", "g", 3, np.ones(3), 9, 0)
    ]
    synsets = np.array(rows, dtype=[(f, object) for f in fields])
    meta = io.BytesIO()
    savemat(meta, {"synsets": synsets})
    truth = "".join(f"{ids[SYNSETS[label]]}\n" for label in labels)
    return meta.getvalue(), truth.encode()


def test_imagenet_class_folders_are_named_by_their_lemmas(tmp_path):
    make_imagenet(tmp_path, flat_val=False)
    train, val = open_splits("imagenet", tmp_path)
    assert train.classes == SYNSETS and val.labels.tolist() == [0, 0, 1, 1, 2, 2, 2]
    info = info_for("imagenet", tmp_path, None)
    assert (
        info.classes
        == IMAGENET_CLASSES[:3]
        == (
            "tench, Tinca tinca",
            "goldfish, Carassius auratus",
            "great white shark, white shark, man-eater, man-eating shark, Carcharodon carcharias",
        )
    )
    assert info.num_classes == 3 and info.image_shape == (3, 224, 224)
    (tmp_path / "train" / "cats").mkdir()
    with pytest.raises(DatasetError, match="not ImageNet synset ids .*: cats; train on other classes as imagefolder"):
        open_splits("imagenet", tmp_path)


@pytest.mark.parametrize("labelled_by", ["devkit folder", "devkit archive", "kaggle"])
def test_ilsvrc_flat_validation_folder(tmp_path, labelled_by):
    labels = make_imagenet(tmp_path, flat_val=True)
    with pytest.raises(DatasetError, match="flat validation folder, without its labels: put ILSVRC2012_devkit_t12/"):
        open_splits("imagenet", tmp_path)
    meta, truth = devkit(labels)
    if labelled_by == "devkit folder":
        (tmp_path / "ILSVRC2012_devkit_t12/data").mkdir(parents=True)
        (tmp_path / "ILSVRC2012_devkit_t12/data/meta.mat").write_bytes(meta)
        (tmp_path / "ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt").write_bytes(truth)
    elif labelled_by == "devkit archive":
        with tarfile.open(tmp_path / "ILSVRC2012_devkit_t12.tar.gz", "w:gz") as tar:
            for name, content in (("meta.mat", meta), ("ILSVRC2012_validation_ground_truth.txt", truth)):
                member = tarfile.TarInfo(f"ILSVRC2012_devkit_t12/data/{name}")
                member.size = len(content)
                tar.addfile(member, io.BytesIO(content))
    else:
        with (tmp_path / "LOC_val_solution.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["ImageId", "PredictionString"])
            for number, label in enumerate(labels, start=1):
                writer.writerow([f"ILSVRC2012_val_{number:08d}", f"{SYNSETS[label]} 1 2 3 4"])
    _, val = open_splits("imagenet", tmp_path)
    assert val.labels.tolist() == labels
    assert val.path(0).name == "ILSVRC2012_val_00000001.JPEG"


# open_splits of each folder given, in a child process: a listing that never ends cannot be stopped in this one.
LIST_IN_A_CHILD = """
import json, sys, warnings
from jaxtyping import install_import_hook
with install_import_hook("eqx_resnet", "beartype.beartype"):
    from eqx_resnet.data import DatasetError
    from eqx_resnet.data.folder import open_splits
listed = []
for root in sys.argv[1:]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            splits = [[[s.path(i).relative_to(root).as_posix(), int(s.labels[i])] for i in range(len(s))]
                      for s in open_splits("imagefolder", root)]
        except DatasetError as e:
            splits = str(e)
    listed.append({"splits": splits, "warnings": [str(w.message) for w in caught]})
print(json.dumps(listed))
"""


def listed(*roots, timeout=60):
    """For each folder: its splits as `[[relative path, label], ...]` (or the `DatasetError`'s message) and
    the messages of the warnings its listing gave."""
    child = subprocess.run(
        [sys.executable, "-c", LIST_IN_A_CHILD, *map(str, roots)], capture_output=True, text=True, timeout=timeout
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout)


def link(path, target):
    os.symlink(target, path)


def test_directory_links_that_loop_or_lead_into_another_class_are_skipped_in_one_warning(tmp_path):
    plain = make_folder(tmp_path / "plain", train=4, val=2)
    root = make_folder(tmp_path / "linked", train=4, val=2)
    link(root / "train/cat/loop", ".")  # followed ~40 levels deep, as 160 images instead of 4
    link(root / "train/owl/todog", "../dog")  # dog's images labelled owl
    link(root / "train/dog/up", "../..")  # with val's, a listing that doubles at every level: it never ended
    link(root / "val/dog/up", "../..")
    expected, got = listed(plain, root)
    assert got["splits"] == expected["splits"]  # the same files, labels and order as without the links
    assert expected["warnings"] == [] and len(got["warnings"]) == 1
    assert got["warnings"][0].startswith(f"{root}: not following 4 directory links: ")
    for shown in ("train/cat/loop -> . (a loop)", "train/dog/up -> ../.. (a loop)", "train/owl/todog -> ../dog (into"):
        assert shown in got["warnings"][0]


def test_links_out_of_the_dataset_are_followed_and_a_file_counts_once_per_class(tmp_path):
    root = make_folder(tmp_path / "data", train=4, val=2)
    outside = tmp_path / "other-disk"
    (outside / "more").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in ("a.png", "b.png"):
        write_image(outside / "more" / name, "RGB", photo(rng, 0, (20, 20)))
    write_image(outside / "x.png", "RGB", photo(rng, 1, (20, 20)))
    link(root / "train/cat/more", outside / "more")  # a folder of images on another disk
    (root / "train/cat/sub").mkdir()
    write_image(root / "train/cat/sub/s.png", "RGB", photo(rng, 0, (20, 20)))
    link(root / "train/cat/alias", "sub")  # the same folder by two paths: listed once
    link(root / "train/dog/x.png", outside / "x.png")  # files on another disk
    link(root / "train/dog/x2.png", outside / "x.png")  # the same file twice in a class: once
    link(root / "train/owl/x.png", outside / "x.png")  # and in another class: there too
    [result] = listed(root)
    assert result["warnings"] == []
    train = result["splits"][0]
    files = {label: sorted(p for p, of in train if of == label) for label in range(3)}
    assert [len(f) for f in files.values()] == [4 + 2 + 1, 4 + 1, 4 + 1]
    assert {"train/cat/more/a.png", "train/cat/more/b.png", "train/cat/alias/s.png"} <= set(files[0])
    assert "train/dog/x.png" in files[1] and "train/owl/x.png" in files[2]


def test_a_class_folder_linked_to_a_folder_holding_its_split_or_another_class_is_refused(tmp_path):
    up = make_folder(tmp_path / "up", train=2, val=1)
    across = make_folder(tmp_path / "across", train=2, val=1)
    for split in ("train", "val"):  # the whole dataset under cat, twice at every level: it never ended
        for image in (up / split / "cat").iterdir():
            image.unlink()
        (up / split / "cat").rmdir()
        link(up / split / "cat", "..")
    for image in (across / "train/owl").iterdir():
        image.unlink()
    (across / "train/owl").rmdir()
    link(across / "train/owl", "dog")
    up_result, across_result = listed(up, across)
    assert up_result["splits"] == (
        f"{up / 'train/cat'} is a link to .., a folder that holds {up / 'train'}: a class folder holds (or links "
        "to) its own class's images; point the link at them"
    )
    assert across_result["splits"].startswith(f"{across / 'train/owl'} is a link to dog, another class folder")


def test_train_lists_a_folder_with_a_loop_once_from_the_cli(tmp_path):
    root = make_folder(tmp_path / "data", train=8, val=2)
    link(root / "train/cat/loop", ".")
    cli = "from eqx_resnet.cli import main; main()"
    args = ["train", "imagefolder", "--data-dir", str(root), *TINY_TRAIN_ARGS, "--batch-size", "8"]
    args += ["--image-size", "8", "--epochs", "1", "--workers", "0", "--out", str(tmp_path / "run")]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", cli, *args], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    about = [line for line in result.stderr.splitlines() if "directory link" in line]
    assert about == [
        f"warning: {root}: not following 1 directory link: train/cat/loop -> . (a loop); each image "
        "is listed once, under the class folder it lies in"
    ], result.stderr
