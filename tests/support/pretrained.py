"""Pre-trained weights without the network: a MobileNetV2 with seeded random weights saved as
Keras would ship them, an ImageNet-shaped class index, and a manifest pointing the loader at a
local HTTP server (or at nothing) with their real hashes."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import numpy as np

from trainer import pretrained

MODEL = "mobilenet_v2"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_mirror(folder: Path, seed: int = 7) -> dict[str, str]:
    """Writes MobileNetV2's weights file and the class index into `folder`; returns their
    sha256 by file name."""
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    import tf_keras as keras

    tf.keras.utils.set_random_seed(seed)
    model = pretrained.build(MODEL)
    # Freshly initialised batch norms shrink the features to ~1e-12, so every class would get
    # 0.001: set their moving statistics to those of a batch of noise (momentum 0, one step
    # at learning rate 0), so that different photos get different, well-spread top classes.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    noise = np.random.default_rng(seed).uniform(-1, 1, (16, 224, 224, 3)).astype("float32")
    model.fit(noise, np.zeros(16), batch_size=16, epochs=1, verbose=0)
    head = model.layers[-1]
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 10, bias])  # confident enough that the top 5 are far apart
    weights = folder / pretrained.ARCHITECTURES[MODEL].weights.file
    model.save_weights(str(weights))
    index = folder / pretrained.CLASS_INDEX.file
    index.write_text(json.dumps({str(i): [f"n{i:08d}", f"class_{i}"] for i in range(1000)}))
    return {path.name: sha256(path) for path in (weights, index)}


def write_manifest(data_dir: Path, origin: str, hashes: dict[str, str]) -> Path:
    """Points the loader at `origin` + file name for each file, with `hashes`."""
    manifest = pretrained.cache_dir(data_dir) / pretrained.MANIFEST
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({file: {"origin": f"{origin}/{file}", "file_hash": digest}
                                    for file, digest in hashes.items()}))
    return manifest


@contextlib.contextmanager
def served(folder: Path):
    """A local HTTP server for `folder`'s files; yields its base URL and counts requests."""
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
