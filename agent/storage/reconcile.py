"""The pure plan for the ``volumes`` section: from what the controller wants and what the host has, the
actions that make every listed volume exist at its size, and remove the data of volumes no longer listed.

Where a volume's data lives:
- a volume attached to a domain whose disk file is outside the pool is an instance's root volume: its
  file is the instance's root disk (the controller lists root volumes too, so they can grow and be
  snapshotted);
- otherwise its file is ``<pool>/<volume id>.qcow2``.

Rules, per listed volume:
- no file: created blank, or restored from ``snapshot_id`` (unless it is the root volume of an instance
  about to be spawned: the compute reconciler makes that one);
- a file smaller than ``size_bytes``: grown, through the hypervisor when a running guest has it attached
  (the guest must be told), else in the file; never shrunk;
- a root volume whose disk has other I/O caps than its type's: retuned (other volumes get their caps with
  their attachment, from the ``instances`` section);
- a pool file whose volume is not listed, and that no domain uses: deleted with its data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from agent.compute.spec import IoTune
from agent.contract.volumes import DesiredVolume


@dataclass(frozen=True)
class Placement:
    """Where a volume is attached on this host now."""

    instance_id: str
    source: Path
    running: bool
    iotune: IoTune = IoTune()


class Step(StrEnum):
    #: In the order :func:`plan` emits them.
    DELETE = "delete"
    CREATE = "create"
    RESTORE = "restore"
    GROW_FILE = "grow-file"
    GROW_LIVE = "grow-live"
    RETUNE_ROOT = "retune-root"


@dataclass(frozen=True)
class Action:
    step: Step
    volume_id: str
    path: Path | None = None
    size_bytes: int = 0
    instance_id: str = ""


@dataclass(frozen=True)
class HostVolumes:
    """What the host has: pool files (id -> virtual size), attachments, and sizes of files outside the pool."""

    pool: dict[str, int]
    placements: dict[str, Placement]
    outside_sizes: dict[str, int]
    #: Root volumes of instances the compute reconciler will spawn (their files are not the pool's to make).
    pending_roots: frozenset[str] = frozenset()


def volume_file(volume_id: str, pool_dir: Path, host: HostVolumes) -> Path:
    """Where ``volume_id``'s data lives on this host (see the module docstring)."""
    placement = host.placements.get(volume_id)
    if placement is not None and placement.source.parent != pool_dir:
        return placement.source
    return pool_dir / f"{volume_id}.qcow2"


def plan(wanted: Iterable[DesiredVolume], host: HostVolumes, pool_dir: Path) -> list[Action]:
    """The actions that bring the host to ``wanted`` (see the module docstring), in execution order."""
    actions: list[Action] = []
    listed = {w.volume_id: w for w in wanted}
    for volume_id in sorted(host.pool):
        if volume_id not in listed and volume_id not in host.placements:
            actions.append(Action(Step.DELETE, volume_id, pool_dir / f"{volume_id}.qcow2"))
    for volume_id, want in sorted(listed.items()):
        path = volume_file(volume_id, pool_dir, host)
        placement = host.placements.get(volume_id)
        outside = path.parent != pool_dir
        size = host.outside_sizes.get(volume_id) if outside else host.pool.get(volume_id)
        if size is None:
            if outside or volume_id in host.pending_roots:
                continue  # a root disk is compute's to make (and one whose size cannot be read is left alone)
            step = Step.RESTORE if want.snapshot_id else Step.CREATE
            actions.append(Action(step, volume_id, path, want.size_bytes))
        elif size < want.size_bytes:
            if placement is not None and placement.running:
                actions.append(Action(Step.GROW_LIVE, volume_id, path, want.size_bytes, placement.instance_id))
            else:
                actions.append(Action(Step.GROW_FILE, volume_id, path, want.size_bytes))
        if outside and placement is not None and placement.iotune != IoTune.of(want):
            actions.append(Action(Step.RETUNE_ROOT, volume_id, path, instance_id=placement.instance_id))
    order = list(Step)
    return sorted(actions, key=lambda action: order.index(action.step))
