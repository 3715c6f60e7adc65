"""One member of a multi_worker job: `python -m trainer.multi_worker`, in a fresh process.

TensorFlow reads `TF_CONFIG` and sets up collective ops only before its runtime starts, and a
Celery worker may have started TensorFlow already (an earlier job, a prediction), so every
member of a job's cluster trains in a new process that the worker starts with `TF_CONFIG` in
its environment (playground/jobs/gang.py). The parent writes the job on stdin as one JSON
object and reads the child's messages from stdout, one JSON object per line:

* `{"event": type, "data": {...}}`: a training event (only when `report` is true: the chief);
* `{"result": {...}}`: `train()`'s result, the last line of a run that finished;
* `{"failed": reason}`: the run failed in a way users can act on (e.g. the loss became NaN);
* `{"error": "Type: message"}`: anything else went wrong (the traceback is on stderr).

Anything the libraries print goes to stderr (the worker's log), never into the channel.
Every rank runs the same code path, so every collective operation (gradient all-reduce,
evaluation, prediction) has all its participants; only the chief's events and files count,
the others train into a scratch folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from typing import IO, Any

logger = logging.getLogger(__name__)


class ChannelReporter:
    """A reporter that writes each event as a JSON line for the parent process."""

    def __init__(self, channel: IO[str]) -> None:
        self.channel = channel

    def on_event(self, type: str, data: dict) -> None:
        send(self.channel, {"event": type, "data": data})

    def should_stop(self) -> bool:
        # Ranks must stop at the same step or the others block in an all-reduce, so a
        # cancel is the parent's business: it ends every member's process.
        return False


def send(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=_json_default) + "\n")
    channel.flush()


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _readable(exc: Exception) -> str:
    # TensorFlow prefixes op errors with the node, e.g. "{{function_node __wrapped__Collective
    # ReduceV2_...}} Collective ops is aborted by: Connection reset by peer".
    lines = str(getattr(exc, "message", None) or exc).strip().splitlines()
    return re.sub(r"\{\{.*?\}\}\s*", "", lines[0]) if lines else ""


def cluster_config(addresses: list[str], rank: int) -> dict[str, Any]:
    """Returns the `TF_CONFIG` of member `rank` of a cluster of `addresses` ("host:port" by
    rank); rank 0 is the chief, which TensorFlow makes of worker 0 when no task is "chief"."""
    return {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": rank}}


def main() -> int:
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    logging.basicConfig(level=logging.INFO, format="[rank %(process)d] %(levelname)s %(name)s: %(message)s")
    config = json.load(sys.stdin)

    from trainer.checkpoint import Retention
    from trainer.devices import make_strategy
    from trainer.errors import TrainingFailed
    from trainer.reporter import NullReporter
    from trainer.run import train
    from trainer.spec import gang_size, validate_spec

    try:
        spec = validate_spec(config["spec"])
        # First, before any other TensorFlow call: it sets up the collective ops.
        make_strategy("multi_worker", gang_size(spec.strategy))
        reporter = ChannelReporter(channel) if config["report"] else NullReporter()
        options = dict(config.get("options", {}))
        if options.get("retention") is not None:
            options["retention"] = Retention(**options["retention"])
        result = train(spec, reporter, config["workdir"], batch_interval=config.get("batch_interval", 0.25),
                       resume=False, tensorboard=config["report"], **options)
    except TrainingFailed as exc:
        send(channel, {"failed": str(exc)})
        return 1
    except Exception as exc:
        logger.exception("multi_worker member failed")
        send(channel, {"error": f"{type(exc).__name__}: {_readable(exc)}"})
        return 1
    send(channel, {"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
