"""The per-cloud S3 machinery: the blob store, the blob guard, the SSE master key, the lifecycle worker.

One :class:`S3Runtime` exists per :class:`~controller.cloud.Cloud`, in its ``s3_runtime``
slot: made by S3's start hook, or by the first S3 call of a cloud that was not started (tests). Making it runs the crash recovery before any
S3 request is served: temporary files of interrupted uploads are dropped and blobs
that no committed metadata refers to (written but never committed, or discarded but
not yet deleted when the process died) are removed.

Several processes serve S3 over one state store and one blob store (``cloudlet up --workers``): the
primary and its API workers. A blob being written, or renamed into place but not yet committed, looks
exactly like an orphan, so the recovery runs only in the primary and only while no other process has an
S3 runtime: every runtime holds ``LOCK_SH`` on ``DATA_DIR/run/s3.lock`` for its life, and the primary
recovers under ``LOCK_EX | LOCK_NB``. The primary starts before its workers, so it normally gets it;
a worker that asks meanwhile waits for the recovery to end; a primary restarted while workers of the
previous one still serve skips the recovery (the orphans wait for the next start). The bucket cache is
cleared in every process by :data:`~controller.s3.catalog.BUCKETS_TOPIC` announcements.

Once serving, the lifecycle worker (``controller.s3.lifecycle.start``) runs beside it, in the primary only.
Settings (``controller/config.py``, ``DATA_DIR/cloudlet.json``): ``s3_backend`` (``local`` or ``cluster``),
``s3_data_dir``, ``s3_cluster_*`` and ``s3_lifecycle_*``; see ``controller/s3/README.md``.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from controller.s3.catalog import BUCKETS_TOPIC, BucketCache, is_inline
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
    #: This runtime's ``LOCK_SH`` on ``run/s3.lock``: while held, no other process runs S3's crash recovery.
    presence: int
    lifecycle: threading.Thread | None = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def bucket(self, name: str) -> dict[str, Any] | None:
        """A bucket's row, from the cache (shared: never change it)."""
        return self.buckets.get(self.cloud.db.read, name)

    def close(self) -> None:
        self.stopping.set()
        if self.lifecycle is not None:
            self.lifecycle.join(timeout=10)
        os.close(self.presence)


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
    run = cloud.config.data_dir / "run"
    leases = run / "s3-leases"
    leases.mkdir(mode=0o700, parents=True, exist_ok=True)
    presence = os.open(run / "s3.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if cloud.primary and _alone(presence):
            _recover(cloud, blobs, leases)
        elif cloud.primary:
            log.warning("s3: other processes serve S3 from this data dir: crash recovery skipped")
        fcntl.flock(presence, fcntl.LOCK_SH)  # a worker waits here while the primary recovers
        blobs.prepare()
        rt = S3Runtime(cloud=cloud, blobs=blobs, guard=BlobGuard(blobs.delete, leases),
                       master_key=_master_key(cloud), buckets=BucketCache(), presence=presence)
    except BaseException:
        os.close(presence)
        raise
    cloud.db.subscribe(BUCKETS_TOPIC, rt.buckets.invalidate)
    return rt


def _alone(presence: int) -> bool:
    """Whether no other process has an S3 runtime on this data dir (then none can until ours is made)."""
    try:
        fcntl.flock(presence, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _recover(cloud: Cloud, blobs: BlobStore, leases: Path) -> None:
    """The crash recovery, with no other process using the store: interrupted puts, orphans, and the lease
    files of readers that died (nobody holds them now)."""
    blobs.recover()
    removed = remove_orphans(cloud, blobs)
    if removed:
        log.info("s3: removed %d orphaned blobs left by an interrupted write", removed)
    for leftover in leases.iterdir():
        leftover.unlink(missing_ok=True)


def referenced_blobs(cloud: Cloud) -> set[str]:
    """Every backend blob some committed object version or uploaded part refers to."""
    referenced: set[str] = set()
    with cloud.db.read() as conn:
        for (segments,) in conn.execute(select(objects.c.segments)):
            referenced.update(segment["blob"] for segment in segments if not is_inline(segment["blob"]))
        referenced.update(blob for (blob,) in conn.execute(select(parts.c.blob)))
    return referenced


def remove_orphans(cloud: Cloud, blobs: BlobStore) -> int:
    """Delete stored blobs that no metadata refers to; returns how many. Only while no other process writes
    blobs (see the module docstring): a blob put but not yet committed is no orphan."""
    referenced = referenced_blobs(cloud)
    orphans = [blob_id for blob_id in blobs.list_ids() if blob_id not in referenced]
    for start_index in range(0, len(orphans), 1000):
        blobs.delete(orphans[start_index:start_index + 1000])
    return len(orphans)


def _master_key(cloud: Cloud) -> bytes:
    """The SSE-S3 master key: random once, kept sealed by the cloud's SecretBox next to the state.

    Written whole under another name and linked into place, so a process starting beside the one that makes
    it reads either no key or the complete one, and all of them end up with the same."""
    path = cloud.config.data_dir / "s3-master.key"
    if not path.exists():
        sealed = cloud.secrets.encrypt(base64.b64encode(os.urandom(32)).decode())
        draft = path.with_name(f"{path.name}.{uuid.uuid4().hex}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(sealed)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink(missing_ok=True)
    return base64.b64decode(cloud.secrets.decrypt(path.read_text().strip()))
