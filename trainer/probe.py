"""Probe outputs: what every Dense layer of a model says about a fixed set of inputs (a dataset's
`probe`), sent in a `sample` event as `{"probe": [{"layer", "units", "values"}]}`. The 2-D
playground draws each neuron's picture and the decision boundary from them; a tab that trains
the job computes the same in TF.js (static/js/browser_engine.js), so both engines draw alike."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

DECIMALS = 2  # a picture needs no more; 441 points × 10 units is then about 20 KB of JSON
MAX_UNITS = 64  # neurons whose pictures a sample carries at most (the 2-D recipe: 6 × 8 + 2)


def probe_sampler(model, x: np.ndarray) -> Callable[[Any], dict[str, Any]]:
    """Returns `sample(model) -> {"probe": [...]}` for `model`'s Dense layers on inputs `x`
    (one sub-model built once; a direct call, as 441 rows do not need `predict`)."""
    import tf_keras as keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if sum(layer.units for layer in dense) > MAX_UNITS:
        raise ValueError(f"A probe sample carries at most {MAX_UNITS} units.")
    outputs = keras.Model(model.inputs, [layer.output for layer in dense])
    inputs = np.asarray(x, dtype=np.float32)

    def sample(_model) -> dict[str, Any]:
        values = outputs(inputs, training=False)
        values = values if isinstance(values, list) else [values]
        return {"probe": [
            {"layer": layer.name, "units": layer.units,
             "values": np.round(np.asarray(value, dtype=np.float64), DECIMALS).ravel().tolist()}
            for layer, value in zip(dense, values)
        ]}

    return sample
