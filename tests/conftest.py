"""Runtime shape and dtype checking of every annotated function, as users can turn on.

The hook must be installed before `eqx_resnet` is first imported.
"""

from jaxtyping import install_import_hook

with install_import_hook("eqx_resnet", "beartype.beartype"):
    import eqx_resnet  # noqa: F401
