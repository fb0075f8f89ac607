"""The per-cloud S3 machinery: the blob store, the blob guard, the SSE master key, the lifecycle worker.

One :class:`S3Runtime` exists per :class:`~controller.cloud.Cloud`, in its ``s3_runtime``
slot: made by S3's start hook, or by the first S3 call of a cloud that was not started (tests). Making it runs the crash recovery before any
S3 request is served: temporary files of interrupted uploads are dropped and blobs
that no committed metadata refers to (written but never committed, or discarded but
not yet deleted when the process died) are removed.

Once serving, the lifecycle worker (``controller.s3.lifecycle.start``) runs beside it. Settings (``controller/config.py``,
``DATA_DIR/cloudlet.json``): ``s3_backend`` (``local`` or ``cluster``), ``s3_data_dir``,
``s3_cluster_*`` and ``s3_lifecycle_*``; see ``controller/s3/README.md``.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from controller.s3.catalog import BucketCache, is_inline
from controller.s3.state import objects, parts
from controller.s3.storage import BlobGuard, BlobStore
from controller.s3.storage.cluster import ClusterBlobStore, ClusterSettings
from controller.s3.storage.local import LocalBlobStore

if TYPE_CHECKING:
    from controller.cloud import Cloud
    from controller.config import Config

log = logging.getLogger(__name__)

#: Serializes making a cloud's runtime (the slot itself is on the cloud).
_create_lock = threading.Lock()


@dataclass
class S3Runtime:
    cloud: Cloud
    blobs: BlobStore
    guard: BlobGuard
    master_key: bytes
    buckets: BucketCache
    lifecycle: threading.Thread | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def bucket(self, name: str) -> dict[str, Any] | None:
        """A bucket's row, from the cache (shared: never change it)."""
        return self.buckets.get(self.cloud.db.read, name)

    def close(self) -> None:
        self.stopping.set()
        if self.lifecycle is not None:
            self.lifecycle.join(timeout=10)


def runtime(cloud: Cloud) -> S3Runtime:
    """The cloud's S3 runtime, created (with crash recovery) on first use."""
    existing = cloud.s3_runtime
    if existing is not None:
        return existing
    with _create_lock:
        if cloud.s3_runtime is None:
            cloud.s3_runtime = _create(cloud)
        return cloud.s3_runtime


def stop(cloud: Cloud) -> None:
    """Shutdown hook: stop the lifecycle worker."""
    rt, cloud.s3_runtime = cloud.s3_runtime, None
    if rt is not None:
        rt.close()


def make_blob_store(config: Config) -> BlobStore:
    """The backend the configuration selects."""
    if config.s3_backend == "local":
        root = Path(config.s3_data_dir) if config.s3_data_dir else config.data_dir / "s3"
        return LocalBlobStore(root)
    if config.s3_backend == "cluster":
        if not config.s3_cluster_endpoint:
            raise ValueError("s3_backend is 'cluster' but s3_cluster_endpoint is not set")
        return ClusterBlobStore(ClusterSettings(
            endpoint=config.s3_cluster_endpoint, access_key=config.s3_cluster_access_key,
            secret_key=config.s3_cluster_secret_key, bucket=config.s3_cluster_bucket,
            secure=config.s3_cluster_secure, region=config.s3_cluster_region, prefix=config.s3_cluster_prefix),
            connections=max(config.threads, 10))
    raise ValueError(f"unknown s3_backend {config.s3_backend!r}: use 'local' or 'cluster'")


def _create(cloud: Cloud) -> S3Runtime:
    blobs = make_blob_store(cloud.config)
    blobs.recover()
    removed = remove_orphans(cloud, blobs)
    if removed:
        log.info("s3: removed %d orphaned blobs left by an interrupted write", removed)
    rt = S3Runtime(cloud=cloud, blobs=blobs, guard=BlobGuard(blobs.delete), master_key=_master_key(cloud),
                   buckets=BucketCache())
    return rt


def referenced_blobs(cloud: Cloud) -> set[str]:
    """Every backend blob some committed object version or uploaded part refers to."""
    referenced: set[str] = set()
    with cloud.db.read() as conn:
        for (segments,) in conn.execute(select(objects.c.segments)):
            referenced.update(segment["blob"] for segment in segments if not is_inline(segment["blob"]))
        referenced.update(blob for (blob,) in conn.execute(select(parts.c.blob)))
    return referenced


def remove_orphans(cloud: Cloud, blobs: BlobStore) -> int:
    """Delete stored blobs that no metadata refers to; returns how many."""
    referenced = referenced_blobs(cloud)
    orphans = [blob_id for blob_id in blobs.list_ids() if blob_id not in referenced]
    for start_index in range(0, len(orphans), 1000):
        blobs.delete(orphans[start_index:start_index + 1000])
    return len(orphans)


def _master_key(cloud: Cloud) -> bytes:
    """The SSE-S3 master key: random once, kept sealed by the cloud's SecretBox next to the state."""
    path = cloud.config.data_dir / "s3-master.key"
    if not path.exists():
        sealed = cloud.secrets.encrypt(base64.b64encode(os.urandom(32)).decode())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(sealed)
                handle.flush()
                os.fsync(handle.fileno())
    return base64.b64decode(cloud.secrets.decrypt(path.read_text().strip()))
