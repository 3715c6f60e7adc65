"""playground/jobs/files.py against an S3-speaking server (moto in server mode on loopback):
what goes up, in which order, what is pruned, what comes back, and what a dead storage says."""
from __future__ import annotations

import os
import time

import boto3
import pytest
from moto.server import ThreadedMotoServer

from playground.jobs import files
from tests.support.processes import free_port

BUCKET = "files-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, settings, media_root):
    """S3 storage on a fresh bucket; returns a boto3 client to look inside it."""
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="k",
                          aws_secret_access_key="s")
    client.create_bucket(Bucket=BUCKET)
    settings.PLAYGROUND_STORAGE = "s3"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": BUCKET, "endpoint_url": s3_endpoint, "access_key": "k", "secret_key": "s",
        "region_name": "us-east-1"}}}
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client, prefix: str = "") -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def write(path, data: bytes, age: float = 0.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))


def test_push_sends_what_changed_oldest_first_and_never_a_half_written_file(bucket, monkeypatch):
    folder = files.local(7)
    write(folder / "snapshot" / "3" / "model.json", b"{}", age=30)
    write(folder / "snapshot" / "latest.json", b'{"epoch": 3}', age=10)  # names the one above: last
    write(folder / "checkpoints" / "latest.weights.partial.npz", b"half")
    write(folder / "checkpoints" / "epoch-3.weights.npz.partial", b"half")
    sent = []
    real = files._bucket

    class Recording:
        def __getattr__(self, name):
            return getattr(real(), name)

        def upload_fileobj(self, stream, key):
            sent.append(key)
            return real().upload_fileobj(stream, key)

    monkeypatch.setattr(files, "_bucket", Recording)

    assert files.push(7) == 2 + len(b'{"epoch": 3}')
    assert sent == ["jobs/7/snapshot/3/model.json", "jobs/7/snapshot/latest.json"]
    assert keys(bucket) == sorted(sent) and files.push(7) == 0  # nothing changed: nothing sent

    write(folder / "snapshot" / "latest.json", b'{"epoch": 4}')
    assert files.push(7) == len(b'{"epoch": 4}')
    assert bucket.get_object(Bucket=BUCKET, Key="jobs/7/snapshot/latest.json")["Body"].read() == b'{"epoch": 4}'


def test_a_pruning_push_deletes_what_is_gone_here_and_only_under_its_folders(bucket):
    folder = files.local(8)
    for epoch in (1, 2, 3):
        write(folder / "checkpoints" / f"epoch-{epoch}.weights.npz", bytes([epoch]))
    write(folder / "tensorboard" / "events", b"log")
    files.push(8)
    (folder / "checkpoints" / "epoch-1.weights.npz").unlink()  # retention pruned it
    (folder / "tensorboard" / "events").unlink()

    files.push(8, "checkpoints", prune=True)

    assert keys(bucket, "jobs/8/") == ["jobs/8/checkpoints/epoch-2.weights.npz", "jobs/8/checkpoints/epoch-3.weights.npz",
                                       "jobs/8/tensorboard/events"]
    # Another job whose id starts alike is not touched by job 8's listing.
    write(files.local(81) / "checkpoints" / "latest.weights.npz", b"x")
    files.push(81)
    files.push(8, prune=True)
    assert keys(bucket, "jobs/81/") == ["jobs/81/checkpoints/latest.weights.npz"]


def test_pull_brings_a_folder_to_a_machine_that_never_had_it(bucket):
    bucket.put_object(Bucket=BUCKET, Key="jobs/9/checkpoints/latest.weights.npz", Body=b"new")
    bucket.put_object(Bucket=BUCKET, Key="jobs/9/checkpoints/epoch-1.weights.npz", Body=b"one")
    local = files.local(9)
    write(local / "checkpoints" / "latest.weights.npz", b"old")  # a stale copy of the same size

    assert files.pull(9, "checkpoints/latest.weights.npz").read_bytes() == b"old"  # kept: it is here
    files.pull(9, "checkpoints", refresh=True)

    assert (local / "checkpoints" / "latest.weights.npz").read_bytes() == b"new"
    assert (local / "checkpoints" / "epoch-1.weights.npz").read_bytes() == b"one"
    assert not [p for p in local.rglob("*") if p.name.endswith(".part")]
    assert not files.pull(9, "checkpoints/best.weights.npz").exists()
    assert files.names(9, "checkpoints") == ["epoch-1.weights.npz", "latest.weights.npz"]
    assert files.exists(9, "checkpoints/epoch-1.weights.npz") and not files.exists(9, "checkpoints/epoch-2.weights.npz")
    assert files.total_bytes(9) == 6
    stream, size = files.open_stored(9, "checkpoints/epoch-1.weights.npz")
    assert (stream.read(), size) == (b"one", 3)
    assert files.open_stored(9, "checkpoints/nothing") is None

    files.clear(9)
    assert keys(bucket, "jobs/9/") == [] and not local.exists()


def test_an_epoch_event_pushes_the_checkpoint_on_another_thread_and_finish_pushes_the_rest(bucket):
    from trainer.reporter import ListReporter

    inner = ListReporter()
    reporter = files.PushingReporter(inner, 10)
    folder = files.local(10)
    write(folder / "checkpoints" / "latest.weights.npz", b"epoch 1")
    write(folder / "export" / "model.json", b"{}")

    reporter.on_event("epoch", {"epoch": 1})

    deadline = time.monotonic() + 10
    while "jobs/10/checkpoints/latest.weights.npz" not in keys(bucket) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert keys(bucket, "jobs/10/") == ["jobs/10/checkpoints/latest.weights.npz"]  # exports wait for the end
    assert inner.of_type("epoch") == [{"epoch": 1}] and reporter.should_stop() is False
    reporter.finish()
    assert keys(bucket, "jobs/10/") == ["jobs/10/checkpoints/latest.weights.npz", "jobs/10/export/model.json"]


def test_a_storage_that_is_down_fails_within_seconds_saying_which_bucket(bucket, settings, monkeypatch):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": BUCKET, "endpoint_url": f"http://127.0.0.1:{free_port()}", "access_key": "k",
        "secret_key": "s", "region_name": "us-east-1"}}}
    monkeypatch.setattr(files.time, "sleep", lambda s: None)
    write(files.local(11) / "checkpoints" / "latest.weights.npz", b"x")

    with pytest.raises(files.StorageUnavailable, match=f"bucket {BUCKET}.* failed to store jobs/11/checkpoints/latest"):
        files.push(11)
    assert files.total_bytes(11) == 1  # the quota still gets a figure: this machine's copy
