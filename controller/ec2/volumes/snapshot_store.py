"""Where snapshot data lives: a blob store of the kind S3 uses (local files or the S3 cluster), so any host
of the region can restore a snapshot, kept apart from S3's own blobs (S3 removes blobs its objects do not
name at start; these are named by the snapshots table instead).

Local: ``<s3 data dir>/ebs-snapshots``; cluster: the S3 prefix with ``-ebs-snapshots/``. The store is
made on first use and kept in the cloud's ``ebs_snapshot_store`` slot; :func:`remove_orphans` (EC2's
start hook) drops blobs of snapshots deleted while the controller was down or half-written uploads.
Only the primary process recovers the store (drops the temporary files of interrupted writes): an API
worker's first use must not drop the files that other processes are writing (CopySnapshot, volume reports).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from controller.ec2.volumes.state import migrate_legacy, snapshots
from controller.s3.runtime import make_blob_store
from controller.s3.storage import BlobStore, Readable

if TYPE_CHECKING:
    from controller.cloud import Cloud

_create_lock = threading.Lock()


def store(cloud: Cloud) -> BlobStore:
    """The cloud's snapshot blob store, made on first use (and in the primary, its interrupted writes dropped)."""
    if cloud.ebs_snapshot_store is None:
        with _create_lock:
            if cloud.ebs_snapshot_store is None:
                config = cloud.config
                base = Path(config.s3_data_dir) if config.s3_data_dir else config.data_dir / "s3"
                own = dataclasses.replace(config, s3_data_dir=str(base / "ebs-snapshots"),
                                          s3_cluster_prefix=config.s3_cluster_prefix.rstrip("/") + "-ebs-snapshots/")
                blobs = make_blob_store(own)
                if cloud.primary:  # whose start hook ran first: the layout exists before any worker serves
                    blobs.recover()
                cloud.ebs_snapshot_store = blobs
    return cloud.ebs_snapshot_store


def put(cloud: Cloud, source: Readable) -> tuple[str, int]:
    return store(cloud).put(source)


def read(cloud: Cloud, blob_id: str) -> Iterator[bytes]:
    return store(cloud).read(blob_id)


def clone(cloud: Cloud, blob_id: str) -> str:
    return store(cloud).clone(blob_id)


def discard(cloud: Cloud, blob_ids: list[str]) -> None:
    if blob_ids:
        store(cloud).delete(blob_ids)


def remove_orphans(cloud: Cloud) -> int:
    """Delete stored blobs no snapshot names; returns how many."""
    with cloud.db.read() as conn:
        named = {r[0] for r in conn.execute(select(snapshots.c.blob_id).where(snapshots.c.blob_id.is_not(None)))}
    orphans = [b for b in store(cloud).list_ids() if b not in named]
    discard(cloud, orphans)
    return len(orphans)


def start(cloud: Cloud) -> None:
    """EC2's start hook for EBS: carry over a pre-EBS data dir's volume rows, then drop orphaned snapshot
    blobs."""
    with cloud.db.begin() as conn:
        migrate_legacy(conn)
    remove_orphans(cloud)
