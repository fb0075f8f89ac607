"""EBS attachments: the per-instance ``volumes`` of the ``instances`` section made real on the domains.

Each instance entry lists the pool volumes that should be attached to it (contract C: volume id, device
name, IOPS and throughput caps, the data key of an encrypted volume). The planner here is pure: it compares
that with the pool disks the domains have (found by serial, the volume id without its dash: the guest
finds its volumes the same way) and returns detaches first (a volume moving between two instances of this
host must leave one before joining the other), then attaches, then I/O cap changes. The driver carries
them out: hot-plug on a running domain and the persistent definition in any case, so a stopped instance
boots with its volumes; a detach waits for the guest to release the disk (libvirt's DEVICE_REMOVED) and
is retried on the next pass while the guest holds on. Caps are libvirt's ``<iotune>``, changed live with
``setBlockIoTune``. Encrypted volumes need their passphrase as an ephemeral libvirt secret, defined
before any domain that uses one starts and forgotten when no instance here wants the volume any more.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from agent.compute.driver import ComputeDriver, ComputeError
from agent.compute.spec import IoTune, VolumeSpec
from agent.contract.instances import VolumeAttachment

log = logging.getLogger("cloudlet.agent.compute")

#: How long one pass waits for a guest to release a volume (under TCG it takes about a second). The request
#: stays with QEMU: a guest that takes longer releases the disk later, seen on a later pass and reported
#: then (the volume stays "detaching" meanwhile, as on EC2), without holding up the other instances' work.
DETACH_WAIT_SECONDS = 5.0


class Step(StrEnum):
    #: In the order :func:`plan` emits them.
    DETACH = "detach"
    ATTACH = "attach"
    RETUNE = "retune"


@dataclass(frozen=True)
class Action:
    step: Step
    instance_id: str
    volume_id: str
    want: VolumeAttachment | None = None


def plan(wanted: dict[str, tuple[VolumeAttachment, ...]], attached: dict[str, dict[str, IoTune]],
         available: set[str]) -> list[Action]:
    """The attach/detach/retune actions for the instances that have a domain (``attached``: instance id ->
    pool volume id -> its current caps). ``wanted`` holds every non-terminated instance placed here;
    ``available`` the volumes whose files exist in the pool. A volume another domain still holds is
    attached once it is free."""
    actions: list[Action] = []
    holder: dict[str, str] = {}
    for instance_id, volumes in sorted(attached.items()):
        keep = {w.volume_id for w in wanted.get(instance_id, ())}
        for volume_id in sorted(volumes):
            if volume_id in keep:
                holder[volume_id] = instance_id
            else:
                actions.append(Action(Step.DETACH, instance_id, volume_id))
    for instance_id, volumes in sorted(attached.items()):
        for want in wanted.get(instance_id, ()):
            if want.volume_id in volumes:
                if volumes[want.volume_id] != IoTune.of(want):
                    actions.append(Action(Step.RETUNE, instance_id, want.volume_id, want))
            elif want.volume_id in available and holder.get(want.volume_id, instance_id) == instance_id:
                holder[want.volume_id] = instance_id
                actions.append(Action(Step.ATTACH, instance_id, want.volume_id, want))
    order = list(Step)
    return sorted(actions, key=lambda action: order.index(action.step))


class Attachments:
    """Attachments of this host's pool volumes (see the module docstring)."""

    def __init__(self, pool_dir: Path) -> None:
        self.pool_dir = pool_dir

    def path(self, volume_id: str) -> Path:
        return self.pool_dir / f"{volume_id}.qcow2"

    def _available(self, wanted: dict[str, tuple[VolumeAttachment, ...]]) -> set[str]:
        return {w.volume_id for volumes in wanted.values() for w in volumes if self.path(w.volume_id).is_file()}

    def attached(self, driver: ComputeDriver, instance_ids: Iterable[str] | None = None) -> dict[str, dict[str, IoTune]]:
        """Pool volumes on each domain (of ``instance_ids``, or all), with their caps."""
        wanted = None if instance_ids is None else set(instance_ids)
        found: dict[str, dict[str, IoTune]] = {}
        for volume in driver.attached_volumes():
            if wanted is not None and volume.instance_id not in wanted:
                continue
            found.setdefault(volume.instance_id, {})
            if volume.source.parent == self.pool_dir:
                found[volume.instance_id][volume.volume_id] = volume.iotune
        return found

    def secrets(self, driver: ComputeDriver, wanted: dict[str, tuple[VolumeAttachment, ...]]) -> dict[str, str]:
        """The libvirt secrets of the wanted encrypted volumes (volume id -> UUID), defined now; the secrets
        of volumes no instance here wants are forgotten."""
        uuids = {}
        for volumes in wanted.values():
            for want in volumes:
                if want.encryption_key is not None and want.volume_id not in uuids:
                    uuids[want.volume_id] = driver.ensure_volume_secret(self.path(want.volume_id), want.encryption_key)
        driver.prune_volume_secrets(self.pool_dir, set(uuids.values()))
        return uuids

    def spec(self, want: VolumeAttachment, secrets: dict[str, str]) -> VolumeSpec:
        return VolumeSpec(want.volume_id, self.path(want.volume_id), iotune=IoTune.of(want),
                          secret_uuid=secrets.get(want.volume_id))

    def boot_volumes(self, driver: ComputeDriver, wanted: dict[str, tuple[VolumeAttachment, ...]],
                     secrets: dict[str, str]) -> dict[str, tuple[VolumeSpec, ...]]:
        """For a domain about to be (re)defined: the wanted volumes whose files exist and that no other
        domain holds (those follow by hot-plug once released)."""
        holders = {volume.volume_id: volume.instance_id for volume in driver.attached_volumes()}
        available = self._available(wanted)
        return {instance_id: tuple(self.spec(w, secrets) for w in volumes
                                   if w.volume_id in available and holders.get(w.volume_id, instance_id) == instance_id)
                for instance_id, volumes in wanted.items()}

    def converge(self, driver: ComputeDriver, wanted: dict[str, tuple[VolumeAttachment, ...]],
                 secrets: dict[str, str]) -> bool:
        """Carry out :func:`plan` on the domains; False if something must be tried again. (A volume whose
        file does not exist yet is attached on the pass after the storage reconciler made it.)"""
        actions = plan(wanted, self.attached(driver), self._available(wanted))
        done = True
        for action in actions:
            try:
                if action.step is Step.DETACH:
                    driver.detach_volume(action.instance_id, action.volume_id, timeout=DETACH_WAIT_SECONDS)
                elif action.step is Step.ATTACH:
                    assert action.want is not None
                    driver.attach_volume(action.instance_id, self.spec(action.want, secrets))
                else:
                    assert action.want is not None
                    driver.set_volume_iotune(action.instance_id, action.volume_id, IoTune.of(action.want))
            except ComputeError as exc:
                log.warning("%s of %s on %s: %s", action.step.value, action.volume_id, action.instance_id, exc)
                done = False
        return done

    def report(self, driver: ComputeDriver, instance_ids: Iterable[str]) -> dict[str, list[str]]:
        """The instance report's ``volumes``: pool volumes attached to each instance (a running domain's live
        view: a volume the guest has not released yet is still attached)."""
        return {instance_id: sorted(volumes) for instance_id, volumes in self.attached(driver, instance_ids).items()}
