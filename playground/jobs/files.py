"""A job's files (checkpoints, exports, TensorBoard logs, snapshots, GAN samples) in the
configured storage (settings.PLAYGROUND_STORAGE).

Every process works in a local folder per job, `local(job_id)` under PLAYGROUND_MEDIA_ROOT,
because TensorFlow, tensorflowjs and numpy read and write paths. With the default filesystem
storage that folder *is* the storage (Django's FileSystemStorage at MEDIA_ROOT), so nothing here
copies anything. With PLAYGROUND_STORAGE=s3 web and workers share no disk: a process pushes
what it writes to the bucket under `jobs/<id>/...`, and pulls what it needs but did not write.

Nothing half-written is ever served or resumed from: S3 shows an object only once its upload
is complete, pulls write a temporary name and rename it, and pushes go oldest file first, so a
file that names others (snapshot/latest.json, written last) arrives after them.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path, PurePosixPath

from django.conf import settings

log = logging.getLogger(__name__)

ROOT = "jobs"
# Pushed while a job trains (after every epoch), off the training thread; the rest at its end.
LIVE_FOLDERS = ("checkpoints", "snapshot")
RETRIES = 3


class StorageUnavailable(Exception):
    """The storage refused or did not answer, after retries; the message says what failed."""


def remote() -> bool:
    """True when job files live in an S3 bucket rather than on this machine's disk."""
    return settings.PLAYGROUND_STORAGE == "s3"


def local(job_id: int) -> Path:
    """The job's folder on this machine: the storage itself, or this process's working copy."""
    return Path(settings.MEDIA_ROOT) / ROOT / str(job_id)


def key(job_id: int, rel: str | os.PathLike = "") -> str:
    """The storage name of the job's file `rel` (a path relative to its folder)."""
    rel = PurePosixPath(rel)
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"{rel} is not a path inside a job's folder")
    return f"{ROOT}/{job_id}/{rel}".rstrip("/").removesuffix("/.")


def _storage():
    from django.core.files.storage import default_storage

    return default_storage


def _bucket():
    return _storage().bucket


def _retrying(what: str, action):
    """Runs `action()`, retrying transient failures; raises StorageUnavailable naming `what`."""
    from botocore.exceptions import BotoCoreError, ClientError

    for attempt in range(RETRIES):
        try:
            return action()
        except FileNotFoundError:
            raise  # a local file that went away: the caller's to decide
        except (BotoCoreError, ClientError, OSError) as exc:
            if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise
            if attempt == RETRIES - 1:
                raise StorageUnavailable(f"the file storage (bucket {_storage().bucket_name}) failed to {what} "
                                         f"after {RETRIES} tries: {exc}") from exc
            time.sleep(0.5 * 2 ** attempt)


def _stored(job_id: int, rel: str = "") -> dict[str, int]:
    """The job's stored files under `rel` (one file, or a folder's files at any depth): their
    paths relative to the job's folder, with sizes."""
    prefix = key(job_id, rel)
    found = _retrying(f"list {prefix}", lambda: [
        (o.key, o.size) for o in _bucket().objects.filter(Prefix=prefix)])
    start = len(key(job_id)) + 1
    return {name[start:]: size for name, size in found
            if name == prefix or name.startswith(prefix + "/")}


# What this process pushed or pulled, as (size, mtime_ns) of the local file: pushing again only
# sends what changed since.
_synced: dict[tuple[int, str], tuple[int, int]] = {}
_synced_lock = threading.Lock()


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _upload(path: Path, name: str) -> None:
    with open(path, "rb") as stream:  # opened per try: boto3 closes it when an upload fails
        _bucket().upload_fileobj(stream, name)


def _unfinished(path: Path) -> bool:
    # Being written, to be renamed when whole (trainer/checkpoint.py, trainer/snapshot.py, pull).
    return any(".partial" in part for part in path.parts[-2:]) or path.name.endswith(".part")


def push(job_id: int, *folders: str, prune: bool = False) -> int:
    """Uploads the job's local files under `folders` (none: all of them) that changed since this
    process last pushed or pulled them, oldest first; with `prune`, deletes the stored files
    under those folders that are no longer here (pruned checkpoints, old snapshots). Returns the
    bytes sent; 0 and nothing done with filesystem storage.

    Raises StorageUnavailable when the storage keeps failing.
    """
    if not remote():
        return 0
    root = local(job_id)
    roots = [root / folder for folder in folders] if folders else [root]
    here = sorted((path for top in roots if top.exists()
                   for path in ([top] if top.is_file() else top.rglob("*")) if path.is_file() and not _unfinished(path)),
                  key=lambda path: (_stat(path) or (0, 0))[1])
    sent = 0
    for path in here:
        rel = path.relative_to(root).as_posix()
        before = _stat(path)
        if before is None or _synced.get((job_id, rel)) == before:
            continue
        try:
            _retrying(f"store {key(job_id, rel)}", lambda: _upload(path, key(job_id, rel)))
        except FileNotFoundError:
            continue  # pruned while we walked (checkpoint retention, an old snapshot)
        # Rewritten while it went up: send it again next time (the renamed-in file is whole).
        if _stat(path) == before:
            with _synced_lock:
                _synced[(job_id, rel)] = before
        sent += before[0]
    if prune:
        for folder in folders or ("",):
            gone = [rel for rel in _stored(job_id, folder) if not (root / rel).exists()]
            for rel in gone:
                _retrying(f"delete {key(job_id, rel)}", lambda: _bucket().Object(key(job_id, rel)).delete())
                with _synced_lock:
                    _synced.pop((job_id, rel), None)
    return sent


def pull(job_id: int, rel: str, *, refresh: bool = False) -> Path:
    """The local path of the job's file or folder `rel`, downloading it (every file under it,
    for a folder) when this process lacks it; with `refresh`, whatever the local copy holds (a
    file that changes: the latest checkpoint). A name the storage does not have is not created,
    so callers check `.exists()` as on a disk.

    Raises StorageUnavailable when the storage keeps failing.
    """
    path = local(job_id) / rel
    if not remote() or (not refresh and path.is_file()):
        return path
    root = local(job_id)
    for name, size in _stored(job_id, rel).items():
        target = root / name
        if not refresh and target.is_file() and target.stat().st_size == size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        _retrying(f"fetch {key(job_id, name)}", lambda: _bucket().download_file(key(job_id, name), str(partial)))
        os.replace(partial, target)
        with _synced_lock:
            _synced[(job_id, name)] = _stat(target)
    return path


def pull_artifacts(job) -> None:
    """Brings every file of a job's artifacts to this machine (what the serving hooks read);
    files already here are kept (a finished job's exports do not change)."""
    if not remote():
        return
    for artifact in job.artifacts:
        for name in artifact.get("files") or [artifact.get("path")]:
            if name:
                pull(job.pk, name)


def exists(job_id: int, rel: str) -> bool:
    """Whether the job has the file `rel`, here or in the storage."""
    if (local(job_id) / rel).is_file():
        return True
    return remote() and rel in _stored(job_id, rel)


def names(job_id: int, folder: str) -> list[str]:
    """The names of the files directly in the job's `folder`."""
    if not remote():
        path = local(job_id) / folder
        return sorted(p.name for p in path.iterdir() if p.is_file()) if path.is_dir() else []
    return sorted(name.rsplit("/", 1)[-1] for name in _stored(job_id, folder) if "/" not in name[len(folder) + 1:])


def total_bytes(job_id: int) -> int:
    """Bytes of the job's stored files (the disk quota's figure): this machine's copy when the
    storage does not answer (a job failing because of it still gets a figure)."""
    if remote():
        try:
            return sum(_stored(job_id).values())
        except StorageUnavailable as exc:
            log.warning("job %s: counting its stored bytes failed (%s); counting this machine's copy", job_id, exc)
    total = 0
    for path in local(job_id).rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except OSError:
            pass  # renamed or pruned while we walked (a checkpoint write); never fail a finish for it
    return total


def open_stored(job_id: int, rel: str):
    """A readable binary stream of the job's file `rel` and its size, or None when there is no
    such file: the local file, or the object's body streamed from the bucket."""
    path = local(job_id) / rel
    if not remote():
        return (open(path, "rb"), path.stat().st_size) if path.is_file() else None
    from botocore.exceptions import ClientError

    try:
        found = _retrying(f"read {key(job_id, rel)}", lambda: _bucket().Object(key(job_id, rel)).get())
    except ClientError:
        return None
    return found["Body"], found["ContentLength"]


def clear(job_id: int) -> None:
    """Deletes the job's files, here and in the storage (a job starting over)."""
    shutil.rmtree(local(job_id), ignore_errors=True)
    forget(job_id)
    if remote():
        prefix = key(job_id) + "/"
        _retrying(f"delete {prefix}", lambda: _bucket().objects.filter(Prefix=prefix).delete())


def forget(job_id: int) -> None:
    """Drops what this process remembers of the job's pushes (its run here is over)."""
    with _synced_lock:
        for entry in [entry for entry in _synced if entry[0] == job_id]:
            del _synced[entry]


class PushingReporter:
    """Wraps a job's reporter so that every epoch pushes the live folders (the checkpoint the
    callback wrote just before the event, the latest snapshot) on a thread of its own: training
    never waits for the storage, and an epoch whose push is still running is folded into the
    next. `finish()` then pushes everything, raising StorageUnavailable if that fails.

    With filesystem storage it only passes events through.
    """

    def __init__(self, reporter, job_id: int):
        self._reporter, self.job_id = reporter, job_id
        self._wanted = threading.Event()
        self._done = False
        self._thread = None
        if remote():
            self._thread = threading.Thread(target=self._run, name=f"push-job-{job_id}", daemon=True)
            self._thread.start()

    def __getattr__(self, name):
        return getattr(self._reporter, name)

    def on_event(self, type: str, data: dict) -> None:
        self._reporter.on_event(type, data)
        if type == "epoch" and self._thread is not None:
            self._wanted.set()

    def should_stop(self) -> bool:
        return self._reporter.should_stop()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._done:
                return
            try:
                push(self.job_id, *LIVE_FOLDERS, prune=True)
            except Exception as exc:  # the next epoch, or finish(), tries again
                log.warning("job %s: pushing its checkpoint failed (%s); retrying after the next epoch",
                            self.job_id, exc)

    def finish(self) -> None:
        """Waits for the push in flight, then pushes every file of the job (pruning what this
        run deleted); once, however often it is called."""
        if self._done:
            return
        self._done = True
        if self._thread is not None:
            self._wanted.set()
            self._thread.join()
            push(self.job_id, prune=True)
            forget(self.job_id)

    def finish_quietly(self) -> None:
        """`finish()` where the job's outcome is decided already: a failure is only logged."""
        try:
            self.finish()
        except StorageUnavailable as exc:
            log.error("job %s: its files could not all be stored: %s", self.job_id, exc)
