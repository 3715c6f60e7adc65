"""What a training tab does with the issued model, for tests that play the tab in Python."""
from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np

from trainer import browser as engine


def issued_weights(model_url: str, get: Callable[[str], bytes]) -> bytes:
    """The issued model's own weights (model.json's manifest order), bundled the way a tab
    uploads them; `get(url)` returns a file's bytes."""
    model = json.loads(get(model_url))
    base = model_url.rsplit("/", 1)[0]
    tensors = []
    for group in model["weightsManifest"]:
        raw = b"".join(get(f"{base}/{path}") for path in group["paths"])
        offset = 0
        for spec in group["weights"]:
            count = math.prod(spec["shape"])
            tensors.append((spec["name"], np.frombuffer(raw, "<f4", count, offset).reshape(spec["shape"])))
            offset += 4 * count
    return engine.encode_bundle(tensors)
