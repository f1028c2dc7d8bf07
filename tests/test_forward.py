"""`forward`'s input contract, the same with jaxtyping's import hook (which conftest.py installs)
as without it (this file run as a script, in a plain interpreter): float arrays of any floating
dtype, JAX or NumPy, run; integer pixels and other inputs are refused in one line.

    python tests/test_forward.py   # prints whether the hook is on, and what forward made of each input
"""

import json
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import TypeCheckError

import eqx_resnet
from eqx_resnet.models.forward import vmap_axis


class Mean(eqx.Module):
    """Your own module, without state or `key`: the channels' means of one image `(c, h, w)`."""

    def __call__(self, x, state):
        return x.mean(axis=(1, 2)), state


INPUTS = {
    "numpy float64": lambda: np.ones((2, 3, 4, 4)),
    "numpy float32": lambda: np.ones((2, 3, 4, 4), np.float32),
    "jax float16": lambda: jnp.ones((2, 3, 4, 4), jnp.float16),
    "jax bfloat16": lambda: jnp.ones((2, 3, 4, 4), jnp.bfloat16),
    "numpy uint8": lambda: np.ones((2, 3, 4, 4), np.uint8),
    "jax int32": lambda: jnp.ones((2, 3, 4, 4), jnp.int32),
    "one image": lambda: np.ones((3, 4, 4), np.float32),
    "a list": lambda: np.ones((2, 3, 4, 4)).tolist(),
}
NORMALISE = "; scale and normalise them first (eqx_resnet.data.normalize turns uint8 images into normalised float32)"
EXPECTED = {
    **dict.fromkeys(["numpy float64", "numpy float32", "jax float16", "jax bfloat16"], "float32[2, 3]"),
    "numpy uint8": "TypeError: forward takes floating-point images, got dtype uint8" + NORMALISE,
    "jax int32": "TypeError: forward takes floating-point images, got dtype int32" + NORMALISE,
    "one image": "ValueError: forward takes a batch of images (n, channels, height, width), got an array of shape "
    "(3, 4, 4); for one image (c, h, w) add the batch axis, image[None]; for one-channel images (n, h, w), images[:, None]",
    "a list": "TypeError: forward takes images as a JAX or NumPy array (n, c, h, w), got a list",
}


def hook_is_on() -> bool:
    try:
        vmap_axis(3)  # not a module: the hook refuses it, plain Python reads its default axis
    except TypeCheckError:
        return True
    return False


def outcomes() -> dict[str, str]:
    """What `forward` makes of each input: its output's dtype and shape, or the error it raises."""
    model, state = eqx.nn.make_with_state(Mean)()
    made = {}
    for name, images in INPUTS.items():
        try:
            out, _ = eqx_resnet.forward(model, state, images())
            made[name] = f"{out.dtype}{list(out.shape)}"
        except Exception as e:
            made[name] = f"{type(e).__name__}: {e}"
    return made


def test_the_input_contract_is_the_same_with_and_without_the_import_hook():
    assert hook_is_on()
    assert outcomes() == EXPECTED
    plain = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(plain.stdout) == {"hook": False, "outcomes": EXPECTED}


WRONG = {
    "integer pixels": (jax.ShapeDtypeStruct((2, 3, 8, 8), jnp.uint8), {}),
    "one image": (jax.ShapeDtypeStruct((3, 8, 8), jnp.float32), {}),
    "channels last": (jax.ShapeDtypeStruct((2, 8, 8, 3), jnp.float32), {}),
    "wrong channels": (jax.ShapeDtypeStruct((2, 1, 8, 8), jnp.float32), {}),
    "unknown precision": (jax.ShapeDtypeStruct((2, 3, 8, 8), jnp.float32), {"precision": "fp16"}),
}


@pytest.mark.parametrize("wrong", WRONG)
def test_under_the_hook_a_wrong_input_reads_as_a_short_message_not_the_model(wrong):
    assert hook_is_on()
    model, state = eqx.filter_eval_shape(
        eqx_resnet.preact_resnet, in_channels=3, widths=(4, 8, 8), blocks_per_stage=1, key=jax.random.key(0)
    )
    images, options = WRONG[wrong]
    with pytest.raises((TypeError, ValueError)) as e:
        eqx.filter_eval_shape(eqx_resnet.forward, model, state, images, **options)
    message = str(e.value)
    # The line itself; under tracing JAX may add its note on filtered frames below it.
    assert len(message) <= 2000 and len(message.splitlines()) <= 20, message
    assert "weight=" not in message and "PreActBlock(" not in message, message  # no model printed


if __name__ == "__main__":
    print(json.dumps({"hook": hook_is_on(), "outcomes": outcomes()}))
