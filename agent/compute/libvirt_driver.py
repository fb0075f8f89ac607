"""The ComputeDriver on libvirt/QEMU: one persistent domain per instance, named after the instance id.

Files of an instance live in ``<state_dir>/instances/<instance id>/`` (root.qcow2 overlay, console.log).
Every path component must be traversable by the libvirt-qemu user: the directories are created 0755.
Taps follow :mod:`agent.compute.vif` (created here, wired by the plugger, deleted after the domain stops).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import libvirt

from agent.compute import vif
from agent.compute.domain_xml import (
    NAMESPACE_PREFIX,
    NAMESPACE_URI,
    InstancePaths,
    backup_disk_xml,
    disk_xml,
    domain_xml,
    interface_match_xml,
    interface_xml,
    next_target_dev,
    nic_metadata_xml,
)
from agent.compute.driver import (
    AttachedVolume,
    ComputeDriver,
    ComputeError,
    InstanceExists,
    InstanceNotFound,
    InvalidInstanceState,
    NicBusy,
    VolumeBusy,
    VolumeNotAttached,
)
from agent.compute.images import create_overlay
from agent.compute.libvirt_conn import Domain, LibvirtConnection, is_no_domain
from agent.compute.metrics import Usage, usage_from_stats
from agent.compute.migration import MigrationRefused, migrate_domain
from agent.compute.spec import (
    INSTANCE_ID,
    Accelerator,
    InstanceInfo,
    InstanceSpec,
    Inventory,
    IoTune,
    NicSpec,
    VolumeSpec,
)
from agent.contract.instances import MigrationTarget
from agent.contract.naming import (
    owner_tag,
    tap_alias,
    tap_name,
    volume_of_serial,
    volume_secret_uuid,
    volume_serial,
)

log = logging.getLogger("cloudlet.agent.compute")


class LibvirtDriver(ComputeDriver):
    """Instances as libvirt domains (see the module docstring)."""

    def __init__(self, state_dir: Path, accelerator: Accelerator, *, connection: LibvirtConnection | None = None,
                 plugger: vif.VifPlugger | None = None) -> None:
        self.accelerator = accelerator
        self.instances_dir = state_dir / "instances"
        self.instances_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.instances_dir, 0o755)
        self.connection = connection or LibvirtConnection()
        self.plugger: vif.VifPlugger = plugger or vif.NullPlugger()
        #: Domains and taps carrying another tag (other agents, test runs) are never touched.
        self.owner = owner_tag(state_dir)

    # -- lookups -------------------------------------------------------------------------------------

    def paths(self, instance_id: str) -> InstancePaths:
        if not INSTANCE_ID.match(instance_id):
            raise InstanceNotFound(f"not an instance id: {instance_id!r}")
        return InstancePaths.under(self.instances_dir, instance_id)

    def _domain(self, instance_id: str) -> Domain:
        domain = self.connection.lookup(instance_id) if INSTANCE_ID.match(instance_id) else None
        if domain is None or domain.description(inactive=True).owner != self.owner:
            raise InstanceNotFound(f"instance {instance_id} has no domain on this host")
        return domain

    def _owned_domains(self) -> list[Domain]:
        return [d for d in self.connection.domains() if INSTANCE_ID.match(d.name) and self._owns(d)]

    def _owns(self, domain: Domain) -> bool:
        """Whether this driver owns ``domain``; False for one that vanished since it was listed (another agent
        sharing the host's libvirtd removed it)."""
        try:
            return domain.description(inactive=True).owner == self.owner
        except libvirt.libvirtError as exc:
            if is_no_domain(exc):
                return False
            raise

    def _root_taps(self) -> set[str]:
        """This driver's taps still in the root namespace."""
        return vif.root_taps(tap_alias(self.owner, ""))

    # -- lifecycle -----------------------------------------------------------------------------------

    def spawn(self, spec: InstanceSpec, *, start: bool = True) -> None:
        if self.connection.lookup(spec.instance_id) is not None:
            raise InstanceExists(f"instance {spec.instance_id} already has a domain on this host")
        paths = self.paths(spec.instance_id)
        created_dir = not paths.directory.exists()
        domain: Domain | None = None
        try:
            paths.directory.mkdir(parents=True, exist_ok=True)
            os.chmod(paths.directory, 0o755)
            if not paths.root_disk.exists():
                create_overlay(spec.root_disk.base_image, paths.root_disk, spec.root_disk.size_bytes)
            domain = self.connection.define(domain_xml(spec, self.accelerator, paths, self.owner))
            if start:
                self._start(domain, spec.instance_id, spec.nics)
        except Exception as exc:
            try:
                self._undo_spawn(domain, paths, created_dir)
            except Exception:  # the original failure is the one to report
                log.exception("%s: cleaning up after a failed spawn failed too", spec.instance_id)
            if isinstance(exc, ComputeError):
                raise
            raise ComputeError(f"cannot spawn {spec.instance_id}: {exc}") from exc
        log.info("spawned %s (%d vCPU, %d MiB, %s)%s", spec.instance_id, spec.vcpus, spec.memory_mib,
                 self.accelerator.value, "" if start else " stopped")

    def _undo_spawn(self, domain: Domain | None, paths: InstancePaths, created_dir: bool) -> None:
        """Remove what a failed spawn made (its taps are already gone: :meth:`_start` cleans up its own)."""
        if domain is not None:
            domain.hard_stop()
            domain.undefine()
        if created_dir:
            shutil.rmtree(paths.directory, ignore_errors=True)

    def _start(self, domain: Domain, instance_id: str, nics: tuple[NicSpec, ...]) -> None:
        """Taps in the root namespace, boot, then hand the taps to the plugger. On failure the domain is
        stopped and the taps this call created are deleted (never a same-named tap that already existed)."""
        created: list[str] = []
        try:
            for nic in nics:
                tap = tap_name(instance_id, nic.device_index)
                vif.create_root_tap(tap, tap_alias(self.owner, instance_id))
                created.append(tap)
            domain.start()
            for nic, tap in zip(nics, created, strict=True):
                self.plugger.plug(instance_id, nic, tap)
        except Exception:
            domain.hard_stop()
            for tap in created:
                self._unplug(tap)
            raise

    def _unplug(self, tap: str) -> None:
        try:
            self.plugger.unplug(tap)
        finally:
            vif.delete_root_tap(tap, tap_alias(self.owner, ""))

    def _nics(self, domain: Domain) -> tuple[NicSpec, ...]:
        """The NICs of a defined domain, as its spec gave them (kept in the domain's metadata)."""
        return domain.description(inactive=True).nics

    def destroy(self, instance_id: str) -> None:
        paths = self.paths(instance_id)
        try:
            domain = self._domain(instance_id)
        except InstanceNotFound:
            domain = None
        taps: list[str] = []
        if domain is not None:
            taps = list(domain.description(inactive=True).taps)
            domain.hard_stop()
            domain.undefine()
        for tap in taps:
            self._unplug(tap)
        shutil.rmtree(paths.directory, ignore_errors=True)
        log.info("destroyed %s", instance_id)

    def power_on(self, instance_id: str) -> None:
        domain = self._domain(instance_id)
        if domain.is_running():
            return
        try:
            self._start(domain, instance_id, self._nics(domain))
        except (libvirt.libvirtError, OSError) as exc:
            raise ComputeError(f"cannot start {instance_id}: {exc}") from exc

    def power_off(self, instance_id: str, *, timeout: float = 30.0, force: bool = False) -> bool:
        domain = self._domain(instance_id)
        graceful = True
        if domain.is_running():
            if not force:
                try:
                    domain.press_power_button()
                except libvirt.libvirtError as exc:
                    log.warning("%s: ACPI shutdown refused (%s), stopping hard", instance_id, exc)
            graceful = not force and domain.wait_until_off(timeout)
            if not graceful:
                domain.hard_stop()
        for tap in domain.description(inactive=True).taps:
            self._unplug(tap)
        log.info("%s powered off (%s)", instance_id, "graceful" if graceful else "forced")
        return graceful

    def reboot(self, instance_id: str, *, hard: bool = False) -> None:
        domain = self._domain(instance_id)
        if not domain.is_running():
            raise InvalidInstanceState(f"instance {instance_id} is not running")
        domain.reboot(hard=hard)

    def update_instance(self, spec: InstanceSpec) -> None:
        domain = self._domain(spec.instance_id)
        if domain.is_running():
            raise InvalidInstanceState(f"instance {spec.instance_id} must be stopped to change its definition")
        self.connection.define(domain_xml(spec, self.accelerator, self.paths(spec.instance_id), self.owner))

    def plug_vifs(self, instance_id: str) -> None:
        domain = self._domain(instance_id)
        if not domain.is_running():
            raise InvalidInstanceState(f"instance {instance_id} is not running")
        in_root = self._root_taps()
        for nic in self._nics(domain):
            tap = tap_name(instance_id, nic.device_index)
            if tap in in_root:
                self.plugger.plug(instance_id, nic, tap)

    # -- live migration (agent.compute.migration) ----------------------------------------------------

    def prepare_incoming(self, spec: InstanceSpec) -> None:
        """Ready this host for ``spec``'s guest arriving by live migration, starting nothing: its root overlay
        on this host's copy of the base image (the block copy fills it) and its taps in the root namespace
        (the incoming QEMU opens them there; the REPLUG step moves them once the guest runs here)."""
        paths = self.paths(spec.instance_id)
        paths.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(paths.directory, 0o755)
        if not paths.root_disk.exists():
            create_overlay(spec.root_disk.base_image, paths.root_disk, spec.root_disk.size_bytes)
        present = self._root_taps()
        for nic in spec.nics:
            tap = tap_name(spec.instance_id, nic.device_index)
            if tap not in present:
                vif.create_root_tap(tap, tap_alias(self.owner, spec.instance_id))

    def migrate_out(self, instance_id: str, target: MigrationTarget) -> float:
        """Live-migrate the running guest to ``target`` (see :mod:`agent.compute.migration`), then drop what
        it left here (its taps, its directory); the seconds the migration took. A failure leaves it running
        here."""
        domain = self._domain(instance_id)
        taps = domain.description(inactive=True).taps
        try:
            seconds = migrate_domain(domain.handle, self.instances_dir.parent, target)
        except (libvirt.libvirtError, MigrationRefused) as exc:
            raise ComputeError(f"cannot migrate {instance_id} to {target.host_id}: {exc}") from exc
        for tap in taps:
            self._unplug(tap)
        shutil.rmtree(self.paths(instance_id).directory, ignore_errors=True)
        log.info("%s live-migrated to %s in %.1f s", instance_id, target.host_id, seconds)
        return seconds

    # -- network interfaces (AttachNetworkInterface / DetachNetworkInterface) ------------------------

    def attach_nic(self, instance_id: str, nic: NicSpec) -> None:
        domain = self._domain(instance_id)
        tap = tap_name(instance_id, nic.device_index)
        config = domain.description(inactive=True)
        running = domain.is_running()
        live = domain.description().interface(tap) if running else None
        defined = config.interface(tap)
        for present in (live, defined):
            if present is not None and present.mac.lower() != nic.mac:
                raise ComputeError(f"{tap} of {instance_id} still carries {present.mac}: it must be detached first")
        created = False
        try:
            if running and live is None:
                # Pattern A, as at boot: the tap in the root namespace (libvirt opens it there), then the device.
                vif.create_root_tap(tap, tap_alias(self.owner, instance_id))
                created = True
                domain.attach_device(interface_xml(instance_id, nic), live=True, config=defined is None)
            elif defined is None:
                domain.attach_device(interface_xml(instance_id, nic), live=False, config=True)
            nics = tuple(n for n in config.nics if n.device_index != nic.device_index) + (nic,)
            domain.set_metadata(nic_metadata_xml(config, instance_id, nics), NAMESPACE_PREFIX, NAMESPACE_URI)
        except (libvirt.libvirtError, OSError) as exc:
            if created:
                vif.delete_root_tap(tap)
            raise ComputeError(f"cannot attach {nic.interface_id or nic.mac} to {instance_id}: {exc}") from exc
        if created:
            self.plugger.plug(instance_id, nic, tap)  # a failure leaves the tap up in the root namespace: REPLUG
        log.info("attached %s (%s) to %s as device %d%s", nic.interface_id, nic.mac, instance_id, nic.device_index,
                 " (hot-plug)" if created else "")

    def detach_nic(self, instance_id: str, nic: NicSpec, *, timeout: float = 30.0) -> None:
        domain = self._domain(instance_id)
        tap = tap_name(instance_id, nic.device_index)
        running = domain.is_running()
        config = domain.description(inactive=True)
        live = domain.description().interface(tap) if running else None
        defined = config.interface(tap)
        live = live if live is not None and live.mac.lower() == nic.mac else None
        defined = defined if defined is not None and defined.mac.lower() == nic.mac else None
        try:
            released = domain.detach(interface_match_xml(nic.mac), live.alias if live else "", timeout,
                                     live=live is not None, config=defined is not None)
            remaining = tuple(n for n in config.nics if (n.device_index, n.mac) != (nic.device_index, nic.mac))
            if remaining != config.nics:
                domain.set_metadata(nic_metadata_xml(config, instance_id, remaining), NAMESPACE_PREFIX,
                                    NAMESPACE_URI)
        except libvirt.libvirtError as exc:
            raise ComputeError(f"cannot detach {nic.mac} from {instance_id}: {exc}") from exc
        if not released:
            raise NicBusy(f"instance {instance_id} did not release {nic.mac} within {timeout:.0f} s")
        if live is not None:
            self._unplug(tap)
        log.info("detached %s (%s) from %s", nic.interface_id or "NIC", nic.mac, instance_id)

    # -- inspection ----------------------------------------------------------------------------------

    def get_info(self, instance_id: str) -> InstanceInfo:
        domain = self._domain(instance_id)
        description = domain.description()
        return InstanceInfo(instance_id, domain.state(), description.vcpus, description.memory_mib,
                            domain.cpu_time_ns(), domain.stopped_by_guest())

    def list_instances(self) -> list[str]:
        return sorted(domain.name for domain in self._owned_domains())

    def usage(self) -> dict[str, Usage]:
        at = time.monotonic()
        domains = {domain.name: domain for domain in self._owned_domains()}
        taps = self.plugger.tap_counters()
        return {name: usage_from_stats(stats, at, [taps[t] for t in domains[name].description().taps if t in taps]
                                       or None)
                for name, stats in self.connection.running_stats(list(domains.values())).items()}

    def inventory(self) -> Inventory:
        domains: dict[str, InstanceInfo] = {}
        domain_taps: dict[str, tuple[str, ...]] = {}
        domain_nics: dict[str, tuple[NicSpec, ...]] = {}
        defined_nics: dict[str, tuple[NicSpec, ...]] = {}
        for domain in self._owned_domains():
            description = domain.description(inactive=True)
            domains[domain.name] = InstanceInfo(domain.name, domain.state(), description.vcpus,
                                                description.memory_mib, stopped_by_guest=domain.stopped_by_guest())
            # A running guest's NICs are the live ones: a NIC whose unplug it has not finished keeps its tap.
            live = domain.description() if domain.is_running() else None
            domain_taps[domain.name] = tuple(dict.fromkeys(description.taps + (live.taps if live else ())))
            domain_nics[domain.name] = (live or description).nics_present()
            if live is not None and description.nics_present() != domain_nics[domain.name]:
                defined_nics[domain.name] = description.nics_present()
        disks = frozenset(p.name for p in self.instances_dir.iterdir() if p.is_dir() and INSTANCE_ID.match(p.name))
        return Inventory(domains, domain_taps, disks, frozenset(self._root_taps()),
                         frozenset(self.plugger.plugged_taps()), domain_nics, defined_nics)

    def remove_leftovers(self, instance_id: str | None = None, *, taps: tuple[str, ...] = ()) -> None:
        if instance_id is not None:
            if self.connection.lookup(instance_id) is not None:
                raise InvalidInstanceState(f"instance {instance_id} still has a domain: destroy it instead")
            shutil.rmtree(self.paths(instance_id).directory, ignore_errors=True)
        for tap in taps:
            self._unplug(tap)

    # -- volumes and console -------------------------------------------------------------------------

    def attach_volume(self, instance_id: str, volume: VolumeSpec) -> str:
        domain = self._domain(instance_id)
        description = domain.description(inactive=True)
        existing = description.disk_by_serial(volume_serial(volume.volume_id))
        if existing is not None:
            return existing.target
        target = next_target_dev({disk.target for disk in description.disks}
                                 | {disk.target for disk in domain.description().disks})
        try:
            domain.attach(disk_xml(volume, target))
        except libvirt.libvirtError as exc:
            raise ComputeError(f"cannot attach {volume.volume_id} to {instance_id}: {exc}") from exc
        log.info("attached %s to %s as %s", volume.volume_id, instance_id, target)
        return target

    def detach_volume(self, instance_id: str, volume_id: str, *, timeout: float = 30.0) -> None:
        domain = self._domain(instance_id)
        serial = volume_serial(volume_id)
        live = domain.description().disk_by_serial(serial) if domain.is_running() else None
        config = domain.description(inactive=True).disk_by_serial(serial)
        disk = live or config
        if disk is None:
            raise VolumeNotAttached(f"volume {volume_id} is not attached to {instance_id}")
        try:
            released = domain.detach(disk.xml, disk.alias, timeout, live=live is not None, config=config is not None)
        except libvirt.libvirtError as exc:
            raise ComputeError(f"cannot detach {volume_id} from {instance_id}: {exc}") from exc
        if not released:
            raise VolumeBusy(f"instance {instance_id} did not release {volume_id} within {timeout:.0f} s")
        log.info("detached %s from %s", volume_id, instance_id)

    def attached_volumes(self, instance_id: str | None = None) -> list[AttachedVolume]:
        domains = [self._domain(instance_id)] if instance_id is not None else self._owned_domains()
        volumes = []
        for domain in domains:
            running = domain.is_running()
            for disk in domain.description(inactive=not running).disks:
                volume_id = volume_of_serial(disk.serial)
                if volume_id is not None:
                    volumes.append(AttachedVolume(volume_id, domain.name, Path(disk.source), disk.target, running,
                                                  disk.iotune))
        return volumes

    def _attached(self, instance_id: str, volume_id: str) -> tuple[Domain, AttachedVolume]:
        domain = self._domain(instance_id)
        found = next((v for v in self.attached_volumes(instance_id) if v.volume_id == volume_id), None)
        if found is None:
            raise VolumeNotAttached(f"volume {volume_id} is not attached to {instance_id}")
        return domain, found

    def set_volume_iotune(self, instance_id: str, volume_id: str, iotune: IoTune) -> None:
        domain, volume = self._attached(instance_id, volume_id)
        try:
            domain.set_block_iotune(volume.target, iotune.as_libvirt())
        except libvirt.libvirtError as exc:
            raise ComputeError(f"cannot change the I/O caps of {volume_id} on {instance_id}: {exc}") from exc
        log.info("%s on %s: iotune %s", volume_id, instance_id, iotune)

    def resize_volume(self, instance_id: str, volume_id: str, size_bytes: int) -> None:
        domain, volume = self._attached(instance_id, volume_id)
        if not volume.running:
            raise InvalidInstanceState(f"instance {instance_id} is not running: resize {volume_id}'s file instead")
        try:
            domain.block_resize(volume.target, size_bytes)
        except libvirt.libvirtError as exc:
            raise ComputeError(f"cannot grow {volume_id} on {instance_id}: {exc}") from exc
        log.info("%s on %s grown live to %d bytes", volume_id, instance_id, size_bytes)

    def copy_volume(self, instance_id: str, volume_id: str, copy: Path, *, secret_uuid: str | None = None,
                    timeout: float = 600.0) -> None:
        domain, volume = self._attached(instance_id, volume_id)
        if not volume.running:
            raise InvalidInstanceState(f"instance {instance_id} is not running: copy {volume_id}'s file instead")
        try:
            domain.backup_disk(volume.target, backup_disk_xml(volume.target, copy, secret_uuid), timeout)
        except (libvirt.libvirtError, TimeoutError) as exc:
            raise ComputeError(f"cannot copy {volume_id} of {instance_id}: {exc}") from exc

    def ensure_volume_secret(self, path: Path, passphrase: str) -> str:
        secret_uuid = volume_secret_uuid(path)
        try:
            self.connection.ensure_secret(secret_uuid, str(path), passphrase.encode())
        except libvirt.libvirtError as exc:
            raise ComputeError(f"cannot define the secret of {path.name}: {exc}") from exc
        return secret_uuid

    def prune_volume_secrets(self, directory: Path, keep: set[str]) -> None:
        for secret_uuid, path in self.connection.volume_secrets().items():
            if Path(path).parent == directory and secret_uuid not in keep:
                self.connection.remove_secret(secret_uuid)

    def get_console_output(self, instance_id: str, *, max_bytes: int = 64 * 1024) -> bytes:
        self._domain(instance_id)
        return read_tail(self.paths(instance_id).console_log, max_bytes)


def read_tail(path: Path, max_bytes: int) -> bytes:
    """The last ``max_bytes`` of a file (empty if it does not exist yet: the guest has printed nothing)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            return f.read()
    except FileNotFoundError:
        return b""
