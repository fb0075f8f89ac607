"""The storage engine: durable puts, failures that leave nothing, crash recovery, the blob guard."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from controller.s3.engine import INLINE_LIMIT
from controller.s3.runtime import referenced_blobs, runtime
from controller.s3.state import inline_blobs
from controller.s3.storage import BlobGuard
from controller.s3.storage.local import LocalBlobStore
from tests.unit.harness import Clouds, S3Harness


@pytest.fixture
def s3h(clouds: Clouds) -> S3Harness:
    return clouds.s3()


class Exploding(io.RawIOBase):
    """A body that fails after some bytes, like a client that disconnects mid-upload."""

    def __init__(self, good: int) -> None:
        self.left = good

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("client went away")
        chunk = b"x" * min(self.left, size if size and size > 0 else self.left)
        self.left -= len(chunk)
        return chunk


def test_local_store_put_read_clone_delete(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "s3")
    store.recover()
    data = os.urandom(2_500_000)
    blob, size = store.put(io.BytesIO(data))
    assert size == len(data) and b"".join(store.read(blob)) == data
    assert b"".join(store.read(blob, 1_000_000, 10)) == data[1_000_000:1_000_010]
    clone = store.clone(blob)
    store.delete([blob])
    assert b"".join(store.read(clone)) == data
    assert list(store.list_ids()) == [clone]
    assert (store.disk_path(clone).stat().st_mode & 0o777) == 0o600


def test_failed_put_leaves_no_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "s3")
    store.recover()
    with pytest.raises(ConnectionResetError):
        store.put(Exploding(3_000_000))
    assert list(store.list_ids()) == [] and list(store.tmp_dir.iterdir()) == []


def test_recovery_drops_temporaries_and_orphans(clouds: Clouds) -> None:
    harness = clouds.s3()
    harness.call("CreateBucket", {"Bucket": "crash"})
    harness.put("crash", "kept", b"acknowledged")
    store = runtime(harness.cloud).blobs
    assert isinstance(store, LocalBlobStore)
    # what a crash can leave: a half-written temp file, and a renamed blob never committed
    (store.tmp_dir / "deadbeef").write_bytes(b"half")
    orphan, _ = store.put(io.BytesIO(b"never committed"))
    harness.close()

    restarted = clouds.s3(data_dir=harness.config.data_dir)
    assert restarted.read("crash", "kept") == b"acknowledged"
    store = runtime(restarted.cloud).blobs
    assert orphan not in set(store.list_ids())
    assert set(store.list_ids()) == referenced_blobs(restarted.cloud)
    assert list(store.tmp_dir.iterdir()) == []


def test_interrupted_upload_keeps_the_old_object(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "keep"})
    s3h.put("keep", "k", b"old")
    with pytest.raises(ConnectionResetError):
        s3h.call("PutObject", {"Bucket": "keep", "Key": "k", "Body": Exploding(2_000_000)})
    assert s3h.read("keep", "k") == b"old"
    assert set(runtime(s3h.cloud).blobs.list_ids()) == referenced_blobs(s3h.cloud)


def test_put_into_a_bucket_deleted_meanwhile_keeps_nothing(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "racing"})

    class DeletesBucketAtEof(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = False

        def read(self, size: int = -1) -> bytes:
            if self.sent:
                s3h.call("DeleteBucket", {"Bucket": "racing"})
                return b""
            self.sent = True
            return b"data"

    s3h.refused("PutObject", {"Bucket": "racing", "Key": "k", "Body": DeletesBucketAtEof()}, "NoSuchBucket")
    assert list(runtime(s3h.cloud).blobs.list_ids()) == []


def test_guard_defers_deletion_until_readers_finish() -> None:
    deleted: list[str] = []
    guard = BlobGuard(deleted.extend)
    with guard.snapshot() as lease:
        leased = lease(["a", "b"])
    guard.discard(["a", "c"])
    assert deleted == ["c"]
    guard.release(leased)
    assert sorted(deleted) == ["a", "c"]


def inline_rows(s3h: S3Harness) -> int:
    with s3h.cloud.db.read() as conn:
        return conn.execute(select(func.count()).select_from(inline_blobs)).scalar()


def test_small_objects_live_inline_and_leave_with_their_versions(s3h: S3Harness) -> None:
    s3h.call("CreateBucket", {"Bucket": "small"})
    at_limit, over = os.urandom(INLINE_LIMIT), os.urandom(INLINE_LIMIT + 1)
    s3h.put("small", "at-limit", at_limit)
    s3h.put("small", "over", over)
    blobs = runtime(s3h.cloud).blobs
    assert inline_rows(s3h) == 1 and len(list(blobs.list_ids())) == 1
    assert s3h.read("small", "at-limit") == at_limit and s3h.read("small", "over") == over
    ranged = s3h.call("GetObject", {"Bucket": "small", "Key": "at-limit", "Range": "bytes=100-199"})
    assert b"".join(ranged["Body"]) == at_limit[100:200]
    # copies: the same bytes under a new inline id, or re-encrypted into one
    s3h.call("CopyObject", {"Bucket": "small", "Key": "copy", "CopySource": "small/at-limit"})
    s3h.call("CopyObject", {"Bucket": "small", "Key": "sealed", "CopySource": "small/at-limit",
                            "ServerSideEncryption": "AES256"})
    assert inline_rows(s3h) == 3
    assert s3h.read("small", "copy") == at_limit and s3h.read("small", "sealed") == at_limit
    # versions keep their bytes until they are deleted themselves
    s3h.call("PutBucketVersioning", {"Bucket": "small", "VersioningConfiguration": {"Status": "Enabled"}})
    first = s3h.put("small", "doc", b"v1")["VersionId"]
    s3h.put("small", "doc", b"v2")
    assert s3h.read("small", "doc", VersionId=first) == b"v1" and inline_rows(s3h) == 5
    s3h.call("DeleteObject", {"Bucket": "small", "Key": "doc", "VersionId": first})
    assert inline_rows(s3h) == 4
    for key in ("at-limit", "copy", "sealed", "over", "doc"):
        s3h.call("DeleteObjects", {"Bucket": "small", "Delete": {"Objects": [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in s3h.call("ListObjectVersions", {"Bucket": "small", "Prefix": key}).get("Versions", [])]}})
    assert inline_rows(s3h) == 0 and list(blobs.list_ids()) == []
