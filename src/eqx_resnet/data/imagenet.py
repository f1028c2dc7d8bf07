"""ImageNet-1k: its 1000 classes in the standard index order, and its evaluation preprocessing.

`IMAGENET_SYNSETS[i]` is the WordNet id of class `i` (the folder names of the ImageNet
training set, sorted, which is where the standard order comes from) and
`IMAGENET_CLASSES[i]` its WordNet lemmas, `"tench, Tinca tinca"`, read once, at import, from
the package's `imagenet_synsets.txt` and `imagenet_classes.txt` (one class a line): timm's
`timm/data/_info/imagenet_synsets.txt` and the 1000 classes' lines of `imagenet_synset_to_lemma.txt`
(huggingface/pytorch-image-models @ 0f2803de, Apache-2.0). Two classes share the lemma
"crane" (134, the bird; 517, the machine), as in ImageNet itself.

`IMAGENET_PREPROCESSING` is its classic evaluation preprocessing (resize 256, crop 224,
bilinear, ImageNet mean and std: `data.preprocessing.Preprocessing`, re-exported here with
`IMAGENET_MEAN` and `IMAGENET_STD`); each pretrained weight set carries its own
(`eqx_resnet.weights`).
"""

from importlib import resources

from .preprocessing import IMAGENET_MEAN, IMAGENET_PREPROCESSING, IMAGENET_STD, Preprocessing

__all__ = [
    "IMAGENET_CLASSES",
    "IMAGENET_MEAN",
    "IMAGENET_PREPROCESSING",
    "IMAGENET_STD",
    "IMAGENET_SYNSETS",
    "Preprocessing",
]


def _lines(name: str) -> tuple[str, ...]:
    """The lines of the package's data file `name`."""
    return tuple(resources.files(__package__).joinpath(name).read_text(encoding="utf-8").splitlines())


IMAGENET_SYNSETS = _lines("imagenet_synsets.txt")
IMAGENET_CLASSES = _lines("imagenet_classes.txt")
