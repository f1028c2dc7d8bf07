"""The optional dependencies: the imports of each feature that needs one are made under `needs_extra`,
and a missing package is one line naming the extra that installs it (pyproject.toml's extras)."""

import contextlib
from collections.abc import Iterator

# The top-level module of each optional package -> (its distribution's name, the extra that installs it).
EXTRAS = {
    "PIL": ("Pillow", "data"),
    "grain": ("grain", "data"),
    "huggingface_hub": ("huggingface_hub", "hub"),
    "datasets": ("datasets", "hf"),
}


class MissingExtra(ImportError):
    """A feature's optional dependency is not installed; the message names the extra that installs it."""


@contextlib.contextmanager
def needs_extra(feature: str, extra: str | None = None) -> Iterator[None]:
    """Imports made in this block that find no package of `EXTRAS` raise `MissingExtra`.

    **Arguments:**

    - `feature`: what needs the imports, as the message's subject: `"reading image files"` gives
      "reading image files needs Pillow: pip install 'eqx-resnet[data]'".
    - `extra`: the extra to name where the package's own is not the one to install (huggingface_hub
      for Hugging Face datasets comes with `[hf]`).
    """
    try:
        yield
    except ModuleNotFoundError as e:
        top = (e.name or "").partition(".")[0]
        if top not in EXTRAS:  # not an optional package, or one of its own imports failed: a real error
            raise
        distribution, default = EXTRAS[top]
        raise MissingExtra(
            f"{feature} needs {distribution}: pip install 'eqx-resnet[{extra or default}]'", name=top
        ) from None
