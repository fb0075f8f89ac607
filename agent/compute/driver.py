"""The compute driver interface: what the agent asks of a hypervisor, in the spirit of Nova's virt driver.

One small interface, implemented by :class:`agent.compute.libvirt_driver.LibvirtDriver` (real VMs) and
:class:`agent.compute.memory.InMemoryComputeDriver` (no VMs: for scheduler and agent-loop tests).

Contracts shared by every method:
- Instances are addressed by instance id; the driver owns only what it created (domains carrying
  Cloudlet's metadata, directories under its state dir, taps named by :mod:`agent.contract.naming`).
- Calls for one instance are serialised by the caller (the agent's worker); the driver is not required
  to make concurrent calls on the same instance safe, only calls on different instances.
- Failures raise :class:`ComputeError` subclasses with a message that names the instance and the cause;
  a failed ``spawn`` leaves nothing behind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from agent.compute.metrics import Usage
from agent.compute.spec import (
    Accelerator,
    InstanceInfo,
    InstanceSpec,
    Inventory,
    IoTune,
    NicSpec,
    VolumeSpec,
)
from agent.contract.instances import MigrationTarget


class ComputeError(RuntimeError):
    """The hypervisor could not do what was asked."""


class InstanceNotFound(ComputeError):
    """No domain for this instance on this host."""


class InstanceExists(ComputeError):
    """``spawn`` of an instance that already has a domain here."""


class InvalidInstanceState(ComputeError):
    """The operation needs another power state (e.g. redefining a running instance)."""


class VolumeNotAttached(ComputeError):
    """``detach_volume`` of a volume the instance does not have."""


class VolumeBusy(ComputeError):
    """The guest did not release a volume in time; it stays attached (EC2: stuck in 'detaching')."""


class NicBusy(ComputeError):
    """The guest did not release a hot-unplugged NIC in time; the request stands and is repeated."""


@dataclass(frozen=True)
class AttachedVolume:
    """A disk of a domain that carries a volume serial (root, instance store or EBS volume)."""

    volume_id: str
    instance_id: str
    source: Path
    target: str
    #: The domain is running (live operations apply) rather than defined and shut off.
    running: bool
    iotune: IoTune = IoTune()


class ComputeDriver(ABC):
    """Runs instances on this host. See the module docstring for the shared contracts."""

    #: How guests execute on this host; reported in the host's registration.
    accelerator: Accelerator

    @abstractmethod
    def spawn(self, spec: InstanceSpec, *, start: bool = True) -> None:
        """Create the instance's root disk (an overlay on ``spec.root_disk.base_image``, kept if it already
        exists: a re-spawn after a host loss keeps the data), define its domain and, if ``start``, boot it
        and plug its network interfaces. Raises InstanceExists if a domain already exists."""

    @abstractmethod
    def destroy(self, instance_id: str) -> None:
        """Hard-stop and undefine the domain, unplug and delete its taps, delete its files. Idempotent: an
        unknown instance is not an error. (A root volume kept at termination is moved into the EBS pool
        before: see ``agent.compute.service``.)"""

    @abstractmethod
    def power_on(self, instance_id: str) -> None:
        """Boot a defined, shut-off instance and plug its interfaces. No-op if it is already running."""

    @abstractmethod
    def power_off(self, instance_id: str, *, timeout: float = 30.0, force: bool = False) -> bool:
        """Stop the guest: an ACPI power-button press, then a hard stop once ``timeout`` seconds pass (or at
        once with ``force``); then unplug and delete its taps. Returns True if the guest shut down by
        itself. No-op (True) if already off."""

    @abstractmethod
    def reboot(self, instance_id: str, *, hard: bool = False) -> None:
        """Reboot: graceful (ACPI; the guest restarts in the same domain, taps stay plugged) or ``hard``
        (a reset, like pressing the reset button). Raises InvalidInstanceState if it is not running."""

    @abstractmethod
    def update_instance(self, spec: InstanceSpec) -> None:
        """Redefine a shut-off instance from a new spec (instance type change: vCPUs, memory). The spec is
        the whole truth: its ``volumes`` must list every volume that stays attached. Raises
        InvalidInstanceState if it is running; the root disk is kept."""

    @abstractmethod
    def get_info(self, instance_id: str) -> InstanceInfo:
        """Power state and size of one instance. Raises InstanceNotFound."""

    @abstractmethod
    def list_instances(self) -> list[str]:
        """Ids of every instance with a domain on this host (running or not), sorted."""

    def usage(self) -> dict[str, Usage]:
        """Cumulative CPU, network and disk counters of every running instance, for CloudWatch's metrics
        (:mod:`agent.compute.metrics`); a driver that measures nothing reports nothing."""
        return {}

    @abstractmethod
    def inventory(self) -> Inventory:
        """Everything this driver owns on the host, for the reconciler (see :mod:`agent.compute.reconcile`)."""

    @abstractmethod
    def remove_leftovers(self, instance_id: str | None = None, *, taps: tuple[str, ...] = ()) -> None:
        """Delete an instance directory without a domain (``instance_id``) and/or orphan ``taps``."""

    @abstractmethod
    def plug_vifs(self, instance_id: str) -> None:
        """(Re)plug a running instance's taps into its network; idempotent for taps already plugged."""

    @abstractmethod
    def attach_nic(self, instance_id: str, nic: NicSpec) -> None:
        """Add a network interface: to the definition in any case and, on a running domain, hot-plugged (its
        tap made in the root namespace, then plugged like a boot-time tap). Idempotent for a NIC the domain
        has; raises ComputeError while the device index still carries another NIC."""

    @abstractmethod
    def detach_nic(self, instance_id: str, nic: NicSpec, *, timeout: float = 30.0) -> None:
        """Remove a network interface (matched by MAC) from the definition and from a running guest, waiting
        up to ``timeout`` s for the guest to release it (DEVICE_REMOVED), then delete its tap. Raises NicBusy
        when the guest holds on. A NIC the domain does not have is not an error."""

    @abstractmethod
    def attach_volume(self, instance_id: str, volume: VolumeSpec) -> str:
        """Attach a volume (hot-plug if running, and in the definition in any case). Returns the libvirt
        target (vdb...); the guest identifies it by serial. Attaching an attached volume returns its target."""

    @abstractmethod
    def detach_volume(self, instance_id: str, volume_id: str, *, timeout: float = 30.0) -> None:
        """Detach a volume. For a running guest this waits up to ``timeout`` s for the guest to release it
        (libvirt's DEVICE_REMOVED event) and raises VolumeBusy otherwise. Raises VolumeNotAttached."""

    @abstractmethod
    def attached_volumes(self, instance_id: str | None = None) -> list[AttachedVolume]:
        """Every volume disk of one instance's domain (or of all domains of this driver), live view for a
        running domain and the definition for a shut-off one."""

    @abstractmethod
    def set_volume_iotune(self, instance_id: str, volume_id: str, iotune: IoTune) -> None:
        """Change an attached volume's I/O caps, live when running and in the definition in any case."""

    @abstractmethod
    def resize_volume(self, instance_id: str, volume_id: str, size_bytes: int) -> None:
        """Grow a volume attached to a running instance so the guest sees the new size (libvirt's
        blockResize). Raises InvalidInstanceState when the instance is not running (resize the file then)."""

    @abstractmethod
    def copy_volume(self, instance_id: str, volume_id: str, copy: Path, *, secret_uuid: str | None = None,
                    timeout: float = 600.0) -> None:
        """A crash-consistent point-in-time copy of a volume attached to a running instance into ``copy``, a
        pre-created qcow2 of the same size (LUKS with the volume's secret when ``secret_uuid`` is given).
        Raises InvalidInstanceState when the instance is not running (copy the file then)."""

    @abstractmethod
    def ensure_volume_secret(self, path: Path, passphrase: str) -> str:
        """Make the passphrase of the encrypted volume file ``path`` known to the hypervisor (ephemerally);
        returns the secret's UUID for :class:`VolumeSpec`."""

    @abstractmethod
    def prune_volume_secrets(self, directory: Path, keep: set[str]) -> None:
        """Forget the secrets of volume files under ``directory`` whose UUIDs are not in ``keep``."""

    def prepare_incoming(self, spec: InstanceSpec) -> None:
        """Ready this host for ``spec``'s guest arriving by live migration (``agent.compute.migration``)."""
        raise ComputeError(f"the {type(self).__name__} takes no live migrations ({spec.instance_id})")

    def migrate_out(self, instance_id: str, target: MigrationTarget) -> float:
        """Live-migrate the running guest to ``target``; the seconds it took."""
        raise ComputeError(f"the {type(self).__name__} cannot live-migrate {instance_id} to {target.host_id}")

    @abstractmethod
    def get_console_output(self, instance_id: str, *, max_bytes: int = 64 * 1024) -> bytes:
        """The last ``max_bytes`` of the serial console (EC2 GetConsoleOutput returns the last 64 KB), across
        boots of the instance. Raises InstanceNotFound."""
