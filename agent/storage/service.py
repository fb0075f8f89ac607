"""The ``volumes`` reconciler: EBS volume files and snapshots on this host (controller <-> agent contract C).

One pass over the section ``{"volumes": [...], "snapshots": [...]}``:

1. what the host has is read: the pool's files and sizes, which domains have which volume disks (through
   the compute driver, under its lock), and the root volumes of instances the compute reconciler will
   spawn (their files are its to make);
2. ``agent.storage.reconcile.plan`` says what to create, restore (the snapshot image is downloaded from
   the controller), grow (live through libvirt's blockResize when a running guest has the volume, so the
   guest sees the new size; else in the file) and delete; each action is carried out on its own, so one
   failure does not stop the rest, and fails only its own volume;
3. each pending snapshot gets a worker (``agent.storage.snapshots``);
4. the host's view is reported (``POST /hosts/<id>/volumes``): every listed volume ``available`` with its
   size, or ``failed`` with the reason, and the snapshots that finished.

It is registered after the ``instances`` reconciler, so the root volumes of instances placed on this
host by the same document are known (their files are compute's to make). The compute reconciler is told
when files appeared: it attaches them on the next pass, which the agent runs within a second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from agent.compute.driver import ComputeDriver, ComputeError
from agent.compute.spec import IoTune
from agent.contract.codec import from_json
from agent.contract.volumes import DesiredSnapshot, DesiredVolume, VolumesSection
from agent.storage import reconcile
from agent.storage.client import StorageLink
from agent.storage.pool import PoolError, VolumePool, virtual_size
from agent.storage.reconcile import Action, HostVolumes, Placement, Step
from agent.storage.snapshots import SnapshotJob, Snapshotter

log = logging.getLogger("cloudlet.agent.storage")

CAPABILITY_VOLUMES = "ebs-volumes"


class VolumesReconciler:
    """Converges this host's volume files to the ``volumes`` section (see the module docstring)."""

    def __init__(self, pool: VolumePool, link: StorageLink, driver: Callable[[], ComputeDriver],
                 lock: AbstractContextManager[Any], *, pending_roots: Callable[[], set[str]] = set,
                 volumes_changed: Callable[[], None] = lambda: None) -> None:
        self.pool = pool
        self.link = link
        self.driver = driver
        self.lock = lock
        self.pending_roots = pending_roots
        self.volumes_changed = volumes_changed
        self.snapshots = Snapshotter(pool, link, driver, lock, on_done=self._report)
        self.wanted: dict[str, DesiredVolume] = {}
        self.errors: dict[str, str] = {}
        self.sizes: dict[str, int] = {}
        self.retry = False
        self._report_lock = threading.Lock()

    @property
    def wants_retry(self) -> bool:
        return self.retry

    def reconcile(self, section: dict[str, Any]) -> None:
        document = from_json(VolumesSection, section)
        self.wanted = {w.volume_id: w for w in document.volumes}
        pending = document.snapshots
        if not self.wanted and not pending and not self.pool.volumes():
            self.errors, self.sizes, self.retry = {}, {}, False
            self._report()
            return
        with self.lock:
            host = self._host()
        actions = reconcile.plan(self.wanted.values(), host, self.pool.directory)
        self.errors = {}
        for action in actions:
            try:
                self._apply(action)
            except (PoolError, ComputeError, OSError) as exc:
                log.warning("volume %s: %s failed: %s", action.volume_id, action.step.value, exc)
                self.errors[action.volume_id] = str(exc)[:500]
        made = [a for a in actions if a.step in (Step.CREATE, Step.RESTORE) and a.volume_id not in self.errors]
        if made:
            self.volumes_changed()
        self.sizes = self._sizes(host)
        self._start_snapshots(pending, host)
        # Failures are reported (the controller shows the volume failed) and retried at the drift repair.
        self.retry = False
        self._report()

    # --- one pass --------------------------------------------------------------------------------------------

    def _host(self) -> HostVolumes:
        placements = {v.volume_id: Placement(v.instance_id, v.source, v.running, v.iotune)
                      for v in self.driver().attached_volumes() if v.volume_id in self.wanted or
                      v.source.parent == self.pool.directory}
        outside = {}
        for volume_id, placement in placements.items():
            if placement.source.parent != self.pool.directory and volume_id in self.wanted:
                try:
                    outside[volume_id] = virtual_size(placement.source)
                except (OSError, PoolError) as exc:
                    log.warning("cannot read the size of %s: %s", placement.source, exc)
        attached = {v for v, p in placements.items() if p.source.parent != self.pool.directory}
        return HostVolumes(self.pool.volumes(), placements, outside,
                           frozenset(self.pending_roots() - attached))

    def _apply(self, action: Action) -> None:
        want = self.wanted.get(action.volume_id)
        match action.step:
            case Step.DELETE:
                self.pool.delete(action.volume_id)
                log.info("volume %s deleted", action.volume_id)
            case Step.CREATE:
                assert want is not None
                self.pool.create(action.volume_id, action.size_bytes, want.encryption_key)
                log.info("volume %s created (%d bytes%s)", action.volume_id, action.size_bytes,
                         ", encrypted" if want.encryption_key else "")
            case Step.RESTORE:
                assert want is not None and want.snapshot_id is not None
                self.pool.ensure()
                download = self.pool.directory / f".{action.volume_id}.snapshot"
                try:
                    self.link.download_snapshot(want.snapshot_id, download)
                    self.pool.restore(action.volume_id, download, action.size_bytes, want.encryption_key,
                                      want.snapshot_encryption_key)
                finally:
                    download.unlink(missing_ok=True)
                log.info("volume %s restored from %s", action.volume_id, want.snapshot_id)
            case Step.GROW_FILE:
                assert want is not None and action.path is not None
                self.pool.grow(action.path, action.size_bytes, want.encryption_key)
                log.info("volume %s grown to %d bytes", action.volume_id, action.size_bytes)
            case Step.GROW_LIVE:
                with self.lock:
                    self.driver().resize_volume(action.instance_id, action.volume_id, action.size_bytes)
            case Step.RETUNE_ROOT:
                assert want is not None
                with self.lock:
                    self.driver().set_volume_iotune(action.instance_id, action.volume_id, IoTune.of(want))

    def _sizes(self, host: HostVolumes) -> dict[str, int]:
        sizes = {}
        for volume_id in self.wanted:
            path = reconcile.volume_file(volume_id, self.pool.directory, host)
            try:
                sizes[volume_id] = virtual_size(path)
            except (OSError, PoolError):
                continue
        return sizes

    def _start_snapshots(self, pending: list[DesiredSnapshot], host: HostVolumes) -> None:
        self.snapshots.forget_except({s.snapshot_id for s in pending})
        for snapshot in pending:
            want = self.wanted.get(snapshot.volume_id)
            source = reconcile.volume_file(snapshot.volume_id, self.pool.directory, host)
            if want is None or not source.is_file():
                self.snapshots.fail(snapshot.snapshot_id, f"volume {snapshot.volume_id} has no data on this host")
                continue
            self.snapshots.start(SnapshotJob(snapshot.snapshot_id, snapshot.volume_id, source, want.encryption_key))

    # --- reports ---------------------------------------------------------------------------------------------

    def report_body(self) -> dict[str, Any]:
        volumes: dict[str, dict[str, Any]] = {}
        for volume_id in sorted(self.wanted):
            if volume_id in self.errors:
                volumes[volume_id] = {"state": "failed", "size_bytes": 0, "error": self.errors[volume_id]}
            elif volume_id in self.sizes:
                volumes[volume_id] = {"state": "available", "size_bytes": self.sizes[volume_id], "error": ""}
        return {"complete": True, "volumes": volumes, "snapshots": self.snapshots.report()}

    def _report(self) -> None:
        with self._report_lock:
            try:
                self.link.report(self.report_body())
            except OSError as exc:
                log.warning("cannot report volumes: %s", exc)
                self.retry = True


def register(registry: Any, context: Any, pool: VolumePool, *, driver: Callable[[], ComputeDriver],
             lock: AbstractContextManager[Any], pending_roots: Callable[[], set[str]],
             volumes_changed: Callable[[], None]) -> None:
    """Register the ``volumes`` reconciler (after ``instances``: see the module docstring)."""
    client = context.client
    link = StorageLink(client.host, client.port, client.token, context.host_id)
    reconciler = VolumesReconciler(pool, link, driver, lock, pending_roots=pending_roots,
                                   volumes_changed=volumes_changed)
    registry.add("volumes", reconciler, capabilities=[CAPABILITY_VOLUMES])

