"""The optimiser's moving average of the weights (training/optim.py: `with_ema`)."""

import jax.numpy as jnp
import numpy as np
import optax

from eqx_resnet.training.optim import ema_params, with_ema


def test_the_average_follows_the_updated_weights_at_the_warmed_up_decay():
    optimizer = with_ema(optax.sgd(1.0), 0.5)
    params = {"w": jnp.zeros(2)}
    state = optimizer.init(params)
    expected = np.zeros(2)
    for t in range(1, 11):  # gradient -1: the weights step up by one each update
        updates, state = optimizer.update({"w": -jnp.ones(2)}, state, params)
        params = optax.apply_updates(params, updates)
        decay = min(0.5, (1 + t) / (10 + t))  # the warm-up's below 0.5 till t = 8, then 0.5
        expected = decay * expected + (1 - decay) * t
        np.testing.assert_allclose(ema_params(state)["w"], expected, rtol=1e-6)
    np.testing.assert_array_equal(params["w"], [10.0, 10.0])  # the updates are the optimiser's own
