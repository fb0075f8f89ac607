"""S3 served by several processes over one data dir (``cloudlet up --workers``), as two Clouds in one test.

The primary and an API worker are two :class:`Cloud` objects on the same data dir, each joined to the
announcement bus (the worker's socket under a name of its own), which is what two processes share: the state
store, the blob store, the lease files and ``run/s3.lock``. Every lock is an ``flock`` on a descriptor of
its own, so the kernel treats the two Clouds exactly as it would two processes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pytest

from controller.cloud import Cloud
from controller.config import Config
from controller.s3 import catalog, lifecycle
from controller.s3.runtime import runtime
from controller.s3.storage import Lease
from controller.s3.storage.local import LocalBlobStore
from tests.unit.harness import Clouds, S3Harness

#: Bigger than the inline limit: stored as a blob file.
BIG = 200 * 1024


@pytest.fixture
def primary(clouds: Clouds) -> S3Harness:
    harness = clouds.s3()
    harness.cloud.db.join_bus(harness.config.data_dir / "run" / "bus")
    return harness


@pytest.fixture
def worker(primary: S3Harness) -> Iterator[S3Harness]:
    harness = _worker(primary, "worker-1")
    yield harness
    harness.close()


def _worker(primary: S3Harness, name: str) -> S3Harness:
    """An API worker of ``primary``'s cloud: ``primary=False``, its bus socket named ``name``."""
    cloud = Cloud(Config(data_dir=primary.config.data_dir), primary=False)
    cloud.db.join_bus(primary.config.data_dir / "run" / "bus", name=name)
    return S3Harness(cloud, primary.account, primary.other_account)


def _segments(harness: S3Harness, bucket: str, key: str) -> list[dict]:
    with harness.db.read() as conn:
        return catalog.readable_version(conn, bucket, key, None)["segments"]


def _store(harness: S3Harness) -> LocalBlobStore:
    store = runtime(harness.cloud).blobs
    assert isinstance(store, LocalBlobStore)
    return store


def test_a_bucket_write_reaches_the_other_process_cache(primary: S3Harness, worker: S3Harness) -> None:
    primary.call("CreateBucket", {"Bucket": "shared"})
    worker.cloud.db.sync()
    assert worker.call("GetBucketVersioning", {"Bucket": "shared"}).get("Status") is None  # now cached there

    primary.call("PutBucketVersioning", {"Bucket": "shared",
                                         "VersioningConfiguration": {"Status": "Enabled"}})
    worker.cloud.db.sync()  # what each request does first
    assert worker.call("GetBucketVersioning", {"Bucket": "shared"})["Status"] == "Enabled"

    worker.call("PutBucketCors", {"Bucket": "shared", "CORSConfiguration": {"CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["https://example.com"]}]}})
    primary.cloud.db.sync()
    assert primary.call("GetBucketCors", {"Bucket": "shared"})["CORSRules"][0]["AllowedMethods"] == ["GET"]

    primary.call("DeleteBucket", {"Bucket": "shared"})
    worker.cloud.db.sync()
    worker.refused("HeadBucket", {"Bucket": "shared"}, "NoSuchBucket")


def test_a_worker_neither_recovers_nor_sweeps(primary: S3Harness) -> None:
    lifecycle.start(primary.cloud)
    assert runtime(primary.cloud).lifecycle is not None
    store = _store(primary)
    # what a put in flight in the primary looks like: a temporary file, and a blob not yet committed
    (store.tmp_dir / "in-flight").write_bytes(b"half")
    uncommitted, _ = store.put(io.BytesIO(b"not committed yet"))

    worker = _worker(primary, "worker-2")
    lifecycle.start(worker.cloud)  # workers do not run start hooks; if one did, still no sweeper
    assert runtime(worker.cloud).lifecycle is None
    assert uncommitted in set(store.list_ids()) and (store.tmp_dir / "in-flight").exists()

    # a primary restarted while a worker of the previous one still serves skips the recovery too
    primary.close()
    restarted = Cloud(Config(data_dir=primary.config.data_dir))
    try:
        runtime(restarted)
        assert uncommitted in set(store.list_ids()) and (store.tmp_dir / "in-flight").exists()
    finally:
        restarted.close()
        worker.close()
    # alone again, the next start recovers
    alone = Cloud(Config(data_dir=primary.config.data_dir))
    try:
        runtime(alone)
        assert uncommitted not in set(store.list_ids()) and not (store.tmp_dir / "in-flight").exists()
    finally:
        alone.close()


def test_an_overwrite_in_one_process_waits_for_a_get_streaming_in_another(primary: S3Harness,
                                                                          worker: S3Harness) -> None:
    primary.call("CreateBucket", {"Bucket": "guarded"})
    old, new = os.urandom(BIG), os.urandom(BIG)
    # SSE-S3: the body decrypts as it streams, opening the blob file only when it is first read
    primary.put("guarded", "k", old, ServerSideEncryption="AES256")
    blob = _segments(primary, "guarded", "k")[0]["blob"]
    path = _store(primary).disk_path(blob)

    worker.cloud.db.sync()
    body = worker.call("GetObject", {"Bucket": "guarded", "Key": "k"})["Body"]
    primary.put("guarded", "k", new)  # discards the old blob: the worker's lease keeps it
    assert path.exists()
    assert b"".join(body) == old  # the stream's end releases the lease: the last reader deletes the blob
    assert not path.exists()
    assert worker.read("guarded", "k") == new

    # the other way round, and a delete rather than an overwrite
    body = primary.call("GetObject", {"Bucket": "guarded", "Key": "k"})["Body"]
    blob = _segments(primary, "guarded", "k")[0]["blob"]
    worker.call("DeleteObject", {"Bucket": "guarded", "Key": "k"})
    assert _store(primary).disk_path(blob).exists()
    body.close()  # a client gone mid-stream releases too
    assert not _store(primary).disk_path(blob).exists()


def test_a_get_whose_blobs_went_before_its_lease_reads_again(primary: S3Harness, worker: S3Harness,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    primary.call("CreateBucket", {"Bucket": "racing"})
    primary.put("racing", "k", os.urandom(BIG), ServerSideEncryption="AES256")
    new = os.urandom(BIG)
    guard = runtime(worker.cloud).guard
    snapshot = guard.snapshot
    raced: list[bool] = []

    @contextmanager
    def overwritten_before_the_lease() -> Iterator[Callable[[Iterable[str]], Lease]]:
        with snapshot() as lease:
            def late(blob_ids: Iterable[str]) -> Lease:
                if not raced:  # the metadata is read; the other process commits and deletes before the lease
                    raced.append(True)
                    primary.put("racing", "k", new)
                return lease(blob_ids)

            yield late

    monkeypatch.setattr(guard, "snapshot", overwritten_before_the_lease)
    worker.cloud.db.sync()
    assert worker.read("racing", "k") == new and raced

