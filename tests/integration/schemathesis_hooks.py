"""schemathesis hooks for tests/integration/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

A positive generated id becomes one of Alice's jobs (or races), listed in the environment by the
test, so that requests reach past the 404 of a missing job into validation and the views; other
ids (0, negative, strings) stay as generated, so missing and malformed ids are still tried.
"""
from __future__ import annotations

import json
import os

import schemathesis

OBJECTS = json.loads(os.environ["PLAYGROUND_SCHEMATHESIS_OBJECTS"])


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    generated = (path_parameters or {}).get("id")
    if isinstance(generated, int) and not isinstance(generated, bool) and generated > 0:
        ids = OBJECTS["races"] if context.operation.path.startswith("/api/v1/races/") else OBJECTS["jobs"]
        path_parameters["id"] = ids[generated % len(ids)]
        if "path" in path_parameters and generated % 2:
            path_parameters["path"] = OBJECTS["files"][generated % len(OBJECTS["files"])]
    return path_parameters
