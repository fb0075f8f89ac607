"""The compute driver interface: what the agent asks of a hypervisor, in the spirit of Nova's virt driver.

One small interface, implemented by :class:`agent.compute.libvirt_driver.LibvirtDriver` (real VMs) and
:class:`agent.compute.memory.InMemoryComputeDriver` (no VMs: for scheduler and agent-loop tests).

Contracts shared by every method:
- Instances are addressed by instance id; the driver owns only what it created (domains carrying
  Cloudlet's metadata, directories under its state dir, taps named by :mod:`agent.compute.naming`).
- Calls for one instance are serialised by the caller (the agent's worker); the driver is not required
  to make concurrent calls on the same instance safe, only calls on different instances.
- Failures raise :class:`ComputeError` subclasses with a message that names the instance and the cause;
  a failed ``spawn`` leaves nothing behind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from agent.compute.spec import Accelerator, InstanceInfo, InstanceSpec, Inventory, VolumeSpec


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
    def destroy(self, instance_id: str, *, keep_root_disk: bool = False) -> Path | None:
        """Hard-stop and undefine the domain, unplug and delete its taps, delete its files. Idempotent: an
        unknown instance is not an error. With ``keep_root_disk`` (EC2 DeleteOnTermination=false) the root
        disk file is kept and its path returned for the volume layer to take over."""

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
    def attach_volume(self, instance_id: str, volume: VolumeSpec) -> str:
        """Attach a volume (hot-plug if running, and in the definition in any case). Returns the libvirt
        target (vdb...); the guest identifies it by serial. Attaching an attached volume returns its target."""

    @abstractmethod
    def detach_volume(self, instance_id: str, volume_id: str, *, timeout: float = 30.0) -> None:
        """Detach a volume. For a running guest this waits up to ``timeout`` s for the guest to release it
        (libvirt's DEVICE_REMOVED event) and raises VolumeBusy otherwise. Raises VolumeNotAttached."""

    @abstractmethod
    def get_console_output(self, instance_id: str, *, max_bytes: int = 64 * 1024) -> bytes:
        """The last ``max_bytes`` of the serial console (EC2 GetConsoleOutput returns the last 64 KB), across
        boots of the instance. Raises InstanceNotFound."""
