"""What a job exports: one typed record per exported file set, written by every exporter
through `Artifact.written` and read back on the web side with `Artifact.from_dict`.

An artifact travels as an `artifact` event whose data is `Artifact.to_dict()` (the job's
`artifacts` field holds those dicts, plus the `url` the web side adds), so the event and the
API field keep their shape: `{"kind", "variant", "path", "files", "bytes", ["model"], [url],
**metrics}`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("keras", "tfjs", "json")
_FIELDS = ("kind", "variant", "path", "files", "bytes", "model", "url")


@dataclass(frozen=True)
class Artifact:
    """One exported model variant or data file of a job.

    Attributes:
        kind: "keras" (an .h5), "tfjs" (a layers-model folder) or "json" (a data file a page
            or serving hook reads).
        variant: "h5"; a TF.js quantization ("float32", "float16", "uint8"); or a json
            file's role ("factors", "latent_space", "source", ...).
        path: the main file, relative to the job's workdir (model.json for TF.js).
        files: every file of the artifact, relative to the workdir (model.json + shards).
        bytes: their total size.
        model: which of a job's models ("encoder", "decoder", "generator"); None for one.
        url: where the web serves `path` (set by the web side, never by the trainer).
        metrics: what the export measured on the reloaded files ("accuracy", "bleu", ...).
    """

    kind: str
    variant: str
    path: str
    files: tuple[str, ...]
    bytes: int
    model: str | None = None
    url: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def written(cls, workdir: str | os.PathLike, kind: str, variant: str, path: str | os.PathLike,
                files: list[str | os.PathLike] | None = None, *, model: str | None = None,
                **metrics: Any) -> Artifact:
        """Returns the record of files just written under `workdir` (paths absolute or
        relative to it; `files` defaults to `[path]`), their sizes read from disk."""
        if kind not in KINDS:
            raise ValueError(f"Unknown artifact kind {kind!r}; one of {', '.join(KINDS)}.")
        workdir = Path(workdir)
        absolute = [workdir / file for file in (files if files is not None else [path])]
        return cls(kind=kind, variant=variant, path=_relative(workdir, workdir / path),
                   files=tuple(_relative(workdir, file) for file in absolute),
                   bytes=sum(file.stat().st_size for file in absolute), model=model, metrics=metrics)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Artifact:
        """Reads one entry of a job's `artifacts` (or an `artifact` event's data); rows
        stored before a field existed read it as empty."""
        path = data.get("path", "")
        return cls(kind=data["kind"], variant=data.get("variant", ""), path=path,
                   files=tuple(data.get("files") or [path]), bytes=int(data.get("bytes", 0)),
                   model=data.get("model"), url=data.get("url"),
                   metrics={k: v for k, v in data.items() if k not in _FIELDS})

    def to_dict(self) -> dict[str, Any]:
        """The event / API shape: flat, metrics beside the fields, no None model or url."""
        data: dict[str, Any] = {"kind": self.kind, "variant": self.variant, "path": self.path,
                                "files": list(self.files), "bytes": self.bytes}
        if self.model is not None:
            data["model"] = self.model
        if self.url is not None:
            data["url"] = self.url
        return {**data, **self.metrics}

    def metric(self, name: str) -> Any:
        """A measured figure, e.g. `artifact.metric("accuracy")`; None when not measured."""
        return self.metrics.get(name)


def find(artifacts: list[dict[str, Any]] | list[Artifact], kind: str, variant: str | None = None,
         *, model: str | None = None) -> list[Artifact]:
    """Returns the artifacts of `kind` (and `variant`, `model` when given), in export order."""
    records = [a if isinstance(a, Artifact) else Artifact.from_dict(a) for a in artifacts]
    return [a for a in records if a.kind == kind and variant in (None, a.variant)
            and model in (None, a.model)]


def _relative(workdir: Path, path: Path) -> str:
    return path.relative_to(workdir).as_posix()
