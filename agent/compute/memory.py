"""InMemoryComputeDriver: a ComputeDriver that runs no VMs, for scheduler, reconciler and agent-loop tests.

It keeps the same contracts as the libvirt driver (errors, idempotence, taps and disks appearing and
disappearing at the same moments) so code tested against it behaves the same on real hosts. Guests
"boot" instantly; :meth:`guest_poweroff` and :meth:`lose_host` simulate events a real host produces.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from agent.compute.domain_xml import ROOT_TARGET, next_target_dev
from agent.compute.driver import (
    AttachedVolume,
    ComputeDriver,
    ComputeError,
    InstanceExists,
    InstanceNotFound,
    InvalidInstanceState,
    NicBusy,
    VolumeNotAttached,
)
from agent.compute.spec import (
    Accelerator,
    InstanceInfo,
    InstanceSpec,
    Inventory,
    IoTune,
    NicSpec,
    PowerState,
    VolumeSpec,
)
from agent.contract.naming import tap_name


@dataclass
class _Instance:
    spec: InstanceSpec
    state: PowerState = PowerState.SHUTOFF
    stopped_by_guest: bool = False
    volumes: dict[str, str] = field(default_factory=dict)  # volume id -> target
    specs: dict[str, VolumeSpec] = field(default_factory=dict)  # volume id -> how it was attached
    console: bytearray = field(default_factory=bytearray)
    boots: int = 0
    #: NICs whose hot-unplug the guest has not finished (see :meth:`InMemoryComputeDriver.hold_nics`).
    held: list[NicSpec] = field(default_factory=list)


class InMemoryComputeDriver(ComputeDriver):
    """Instances as Python objects (see the module docstring). Not for production use."""

    def __init__(self, accelerator: Accelerator = Accelerator.TCG) -> None:
        self.accelerator = accelerator
        self.instances: dict[str, _Instance] = {}
        self.disks: set[str] = set()
        self.root_taps: set[str] = set()
        self.plugged: set[str] = set()
        self.resized: dict[str, int] = {}
        self.secrets: dict[str, str] = {}
        #: Instances whose guests ignore NIC unplug requests for now.
        self.holding_nics: set[str] = set()

    def _get(self, instance_id: str) -> _Instance:
        if instance_id not in self.instances:
            raise InstanceNotFound(f"instance {instance_id} has no domain on this host")
        return self.instances[instance_id]

    def _taps(self, spec: InstanceSpec) -> list[str]:
        return [tap_name(spec.instance_id, nic.device_index) for nic in spec.nics]

    def _boot(self, instance: _Instance) -> None:
        for tap in self._taps(instance.spec):
            if tap in self.root_taps or tap in self.plugged:
                raise ComputeError(f"cannot boot {instance.spec.instance_id}: tap {tap} already exists")
        self.plugged.update(self._taps(instance.spec))
        instance.state, instance.stopped_by_guest = PowerState.RUNNING, False
        instance.boots += 1
        instance.console += f"boot {instance.boots} of {instance.spec.instance_id}\n".encode()

    def _halt(self, instance: _Instance, *, by_guest: bool = False) -> None:
        instance.state, instance.stopped_by_guest = PowerState.SHUTOFF, by_guest
        gone = [tap_name(instance.spec.instance_id, nic.device_index) for nic in instance.held]
        instance.held.clear()
        for tap in self._taps(instance.spec) + gone:
            self.plugged.discard(tap)
            self.root_taps.discard(tap)

    def spawn(self, spec: InstanceSpec, *, start: bool = True) -> None:
        if spec.instance_id in self.instances:
            raise InstanceExists(f"instance {spec.instance_id} already has a domain on this host")
        instance = _Instance(spec, volumes={v.volume_id: "" for v in spec.volumes},
                             specs={v.volume_id: v for v in spec.volumes})
        if start:
            self._boot(instance)
        self.instances[spec.instance_id] = instance
        self.disks.add(spec.instance_id)

    def destroy(self, instance_id: str) -> None:
        instance = self.instances.pop(instance_id, None)
        if instance is not None:
            self._halt(instance)
        self.disks.discard(instance_id)

    def power_on(self, instance_id: str) -> None:
        instance = self._get(instance_id)
        if instance.state is not PowerState.RUNNING:
            self._boot(instance)

    def power_off(self, instance_id: str, *, timeout: float = 30.0, force: bool = False) -> bool:
        self._halt(self._get(instance_id))
        return not force

    def reboot(self, instance_id: str, *, hard: bool = False) -> None:
        instance = self._get(instance_id)
        if instance.state is not PowerState.RUNNING:
            raise InvalidInstanceState(f"instance {instance_id} is not running")
        instance.boots += 1

    def update_instance(self, spec: InstanceSpec) -> None:
        instance = self._get(spec.instance_id)
        if instance.state is PowerState.RUNNING:
            raise InvalidInstanceState(f"instance {spec.instance_id} must be stopped to change its definition")
        instance.spec = spec

    def get_info(self, instance_id: str) -> InstanceInfo:
        instance = self._get(instance_id)
        return InstanceInfo(instance_id, instance.state, instance.spec.vcpus, instance.spec.memory_mib,
                            stopped_by_guest=instance.stopped_by_guest)

    def list_instances(self) -> list[str]:
        return sorted(self.instances)

    def inventory(self) -> Inventory:
        return Inventory(
            domains={i: self.get_info(i) for i in self.instances},
            domain_taps={i: tuple(self._taps(inst.spec)) for i, inst in self.instances.items()},
            disks=frozenset(self.disks), unplugged_taps=frozenset(self.root_taps), plugged_taps=frozenset(self.plugged),
            domain_nics={i: tuple(sorted((*inst.spec.nics, *inst.held), key=lambda n: n.device_index))
                         for i, inst in self.instances.items()},
            defined_nics={i: inst.spec.nics for i, inst in self.instances.items() if inst.held})

    def remove_leftovers(self, instance_id: str | None = None, *, taps: tuple[str, ...] = ()) -> None:
        if instance_id is not None:
            if instance_id in self.instances:
                raise InvalidInstanceState(f"instance {instance_id} still has a domain: destroy it instead")
            self.disks.discard(instance_id)
        for tap in taps:
            self.root_taps.discard(tap)
            self.plugged.discard(tap)

    def plug_vifs(self, instance_id: str) -> None:
        instance = self._get(instance_id)
        if instance.state is not PowerState.RUNNING:
            raise InvalidInstanceState(f"instance {instance_id} is not running")
        for tap in self._taps(instance.spec):
            if tap in self.root_taps:
                self.root_taps.discard(tap)
                self.plugged.add(tap)

    def attach_nic(self, instance_id: str, nic: NicSpec) -> None:
        instance = self._get(instance_id)
        if any(n.device_index == nic.device_index and n.mac != nic.mac for n in (*instance.spec.nics, *instance.held)):
            raise ComputeError(f"device {nic.device_index} of {instance_id} still carries another NIC")
        if nic in instance.spec.nics:
            return
        instance.spec = replace(instance.spec, nics=(*instance.spec.nics, nic))
        if nic in instance.held:  # the guest never let go: only the definition gets it back
            instance.held.remove(nic)
        elif instance.state is PowerState.RUNNING:
            self.plugged.add(tap_name(instance_id, nic.device_index))

    def detach_nic(self, instance_id: str, nic: NicSpec, *, timeout: float = 30.0) -> None:
        instance = self._get(instance_id)
        keep = tuple(n for n in instance.spec.nics if (n.device_index, n.mac) != (nic.device_index, nic.mac))
        leaving = len(keep) != len(instance.spec.nics)
        instance.spec = replace(instance.spec, nics=keep)
        if instance.state is not PowerState.RUNNING:
            instance.held.clear()
            return
        if instance_id in self.holding_nics:
            if leaving:
                instance.held.append(nic)
            raise NicBusy(f"instance {instance_id} did not release {nic.mac} within {timeout:.0f} s")
        instance.held = [n for n in instance.held if n != nic]
        self.plugged.discard(tap_name(instance_id, nic.device_index))

    def hold_nics(self, instance_id: str, hold: bool = True) -> None:
        """Simulate a guest that does not (or again does) answer NIC unplug requests."""
        (self.holding_nics.add if hold else self.holding_nics.discard)(instance_id)

    def attach_volume(self, instance_id: str, volume: VolumeSpec) -> str:
        instance = self._get(instance_id)
        if volume.volume_id not in instance.volumes or not instance.volumes[volume.volume_id]:
            instance.volumes[volume.volume_id] = next_target_dev({ROOT_TARGET, *instance.volumes.values()})
            instance.specs[volume.volume_id] = volume
        return instance.volumes[volume.volume_id]

    def detach_volume(self, instance_id: str, volume_id: str, *, timeout: float = 30.0) -> None:
        instance = self._get(instance_id)
        if instance.volumes.pop(volume_id, None) is None:
            raise VolumeNotAttached(f"volume {volume_id} is not attached to {instance_id}")
        instance.specs.pop(volume_id, None)

    def attached_volumes(self, instance_id: str | None = None) -> list[AttachedVolume]:
        ids = [instance_id] if instance_id is not None else sorted(self.instances)
        found = []
        for iid in ids:
            instance = self._get(iid)
            root = instance.spec.root_disk
            found.append(AttachedVolume(root.volume_id, iid, Path(f"/memory/{iid}/root.qcow2"), ROOT_TARGET,
                                        instance.state is PowerState.RUNNING))
            found += [AttachedVolume(v, iid, instance.specs[v].path, target, instance.state is PowerState.RUNNING,
                                     instance.specs[v].iotune) for v, target in instance.volumes.items()]
        return found

    def set_volume_iotune(self, instance_id: str, volume_id: str, iotune: IoTune) -> None:
        instance = self._get(instance_id)
        if volume_id not in instance.specs:
            raise VolumeNotAttached(f"volume {volume_id} is not attached to {instance_id}")
        instance.specs[volume_id] = replace(instance.specs[volume_id], iotune=iotune)

    def resize_volume(self, instance_id: str, volume_id: str, size_bytes: int) -> None:
        instance = self._get(instance_id)
        if instance.state is not PowerState.RUNNING:
            raise InvalidInstanceState(f"instance {instance_id} is not running")
        if volume_id not in instance.volumes:
            raise VolumeNotAttached(f"volume {volume_id} is not attached to {instance_id}")
        self.resized[volume_id] = size_bytes

    def copy_volume(self, instance_id: str, volume_id: str, copy: Path, *, secret_uuid: str | None = None,
                    timeout: float = 600.0) -> None:
        raise ComputeError("the in-memory driver holds no volume data to copy")

    def ensure_volume_secret(self, path: Path, passphrase: str) -> str:
        self.secrets[str(path)] = passphrase
        return str(path)

    def prune_volume_secrets(self, directory: Path, keep: set[str]) -> None:
        for path in [p for p in self.secrets if Path(p).parent == directory and p not in keep]:
            del self.secrets[path]

    def get_console_output(self, instance_id: str, *, max_bytes: int = 64 * 1024) -> bytes:
        return bytes(self._get(instance_id).console[-max_bytes:])

    # -- simulated host events -----------------------------------------------------------------------

    def guest_poweroff(self, instance_id: str) -> None:
        """The guest ran ``poweroff`` itself."""
        self._halt(self._get(instance_id), by_guest=True)

    def lose_host(self) -> None:
        """A host reboot: every domain is off (not by its guest), taps are gone, disks and definitions stay."""
        for instance in self.instances.values():
            self._halt(instance)
        self.root_taps.clear()
        self.plugged.clear()
