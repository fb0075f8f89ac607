"""EBS snapshots on the host: a crash-consistent point-in-time copy of a volume, uploaded to the controller.

The copy is a standalone qcow2 of the volume's guest-visible content (an instance's root volume has its
AMI base flattened in), so any host can restore it without anything else:
- a volume attached to a running guest is copied live by libvirt's backup API (push mode) into a
  pre-made image of the same size: the guest keeps running, the copy holds the disk as it was when the
  job began (what EBS calls crash-consistent);
- any other volume (detached, or its instance stopped) is copied by ``qemu-img convert``, whose image
  lock keeps QEMU from opening it for writing meanwhile (an attach during the copy fails and is retried).
A snapshot of an encrypted volume stays a LUKS image under the same data key (as on AWS: a snapshot of an
encrypted volume is encrypted); its plaintext never touches the host's disk.

Each snapshot runs on a worker thread; its outcome is kept until the controller stops listing it as
pending (it does once the report said completed or failed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from agent.compute.driver import ComputeDriver, ComputeError
from agent.storage.client import StorageLink
from agent.storage.pool import PoolError, VolumePool

log = logging.getLogger("cloudlet.agent.storage")

#: A snapshot is tried this many times before it is reported failed (a guest being attached or stopped at
#: that moment, a controller busy for a second, must not leave a snapshot in EC2's "error" state for good).
ATTEMPTS = 3
RETRY_DELAY_SECONDS = 2.0


@dataclass(frozen=True)
class SnapshotOutcome:
    state: str  # completed | failed
    error: str = ""
    size_bytes: int = 0

    def as_report(self) -> dict[str, object]:
        return {"state": self.state, "error": self.error, "size_bytes": self.size_bytes}


@dataclass(frozen=True)
class SnapshotJob:
    snapshot_id: str
    volume_id: str
    #: The volume's data file on this host (pool file, or an instance's root disk).
    source: Path
    encryption_key: str | None


def point_in_time_copy(job: SnapshotJob, pool: VolumePool, driver: ComputeDriver,
                       lock: AbstractContextManager[object], copy: Path) -> None:
    """Fill ``copy`` with ``job``'s volume as it is now (see the module docstring)."""
    copy.unlink(missing_ok=True)
    with lock:
        placement = next((v for v in driver.attached_volumes() if v.volume_id == job.volume_id and v.running), None)
        if placement is not None:
            pool.blank_like(job.source, job.encryption_key, copy)
            secret = (driver.ensure_volume_secret(job.source, job.encryption_key)
                      if job.encryption_key is not None else None)
            driver.copy_volume(placement.instance_id, job.volume_id, copy, secret_uuid=secret)
            return
    pool.copy(job.source, job.encryption_key, copy)


class Snapshotter:
    """Runs snapshot jobs on worker threads and keeps their outcomes (see the module docstring)."""

    def __init__(self, pool: VolumePool, link: StorageLink, driver: Callable[[], ComputeDriver],
                 lock: AbstractContextManager[object], on_done: Callable[[], None]) -> None:
        self.pool, self.link, self.driver, self.lock, self.on_done = pool, link, driver, lock, on_done
        self.work_dir = pool.directory / ".snapshots"
        self.outcomes: dict[str, SnapshotOutcome] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._guard = threading.Lock()

    def start(self, job: SnapshotJob) -> None:
        """Begin ``job`` unless it runs or has an outcome already."""
        with self._guard:
            if job.snapshot_id in self.outcomes or job.snapshot_id in self._threads:
                return
            thread = threading.Thread(target=self._run, args=(job,), name=f"snapshot-{job.snapshot_id}", daemon=True)
            self._threads[job.snapshot_id] = thread
        thread.start()

    def fail(self, snapshot_id: str, error: str) -> None:
        with self._guard:
            self.outcomes.setdefault(snapshot_id, SnapshotOutcome("failed", error))

    def forget_except(self, pending: set[str]) -> None:
        """Drop outcomes the controller no longer asks about."""
        with self._guard:
            for snapshot_id in set(self.outcomes) - pending:
                del self.outcomes[snapshot_id]

    def report(self) -> dict[str, dict[str, object]]:
        with self._guard:
            return {snapshot_id: outcome.as_report() for snapshot_id, outcome in sorted(self.outcomes.items())}

    def busy(self) -> bool:
        with self._guard:
            return bool(self._threads)

    def _run(self, job: SnapshotJob) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.chmod(0o755)  # QEMU (libvirt-qemu) writes live copies here
        outcome = SnapshotOutcome("failed")
        for attempt in range(1, ATTEMPTS + 1):
            outcome = self._attempt(job)
            if outcome.state == "completed" or attempt == ATTEMPTS:
                break
            log.warning("snapshot %s of %s: attempt %d failed (%s); trying again", job.snapshot_id, job.volume_id,
                        attempt, outcome.error)
            time.sleep(RETRY_DELAY_SECONDS)
        with self._guard:
            self.outcomes[job.snapshot_id] = outcome
            self._threads.pop(job.snapshot_id, None)
        self.on_done()

    def _attempt(self, job: SnapshotJob) -> SnapshotOutcome:
        copy = self.work_dir / f"{job.snapshot_id}.qcow2"
        try:
            point_in_time_copy(job, self.pool, self.driver(), self.lock, copy)
            size = self.link.upload_snapshot(job.snapshot_id, copy)
            log.info("snapshot %s of %s uploaded (%d bytes)", job.snapshot_id, job.volume_id, size)
            return SnapshotOutcome("completed", size_bytes=size)
        except (OSError, PoolError, ComputeError) as exc:
            log.warning("snapshot %s of %s failed: %s", job.snapshot_id, job.volume_id, exc)
            return SnapshotOutcome("failed", str(exc)[:500])
        finally:
            copy.unlink(missing_ok=True)
