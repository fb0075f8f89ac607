"""A thin wrapper over libvirt-python: one connection, an event loop thread, and domain handles.

Why an event loop: detaching a device from a running guest is asynchronous (the guest must release it);
libvirt reports completion only as a DEVICE_REMOVED event, and events are delivered only while some
thread runs libvirt's default event loop. The loop is process-wide and must be registered before the
first connection is opened, hence :func:`ensure_event_loop`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from xml.sax.saxutils import escape

import libvirt

from agent.compute.domain_xml import DomainDescription, parse_domain_xml
from agent.compute.spec import PowerState

log = logging.getLogger("cloudlet.agent.compute")

_loop_lock = threading.Lock()
_loop_started = False

_STATES = {
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTTING_DOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTOFF,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.PAUSED,
}


def _silence_libvirt_errors(_context: object, _error: object) -> None:
    """libvirt prints every error to stderr by default; they are raised as exceptions anyway."""


def ensure_event_loop() -> None:
    """Register libvirt's default event loop implementation and run it in a daemon thread (once)."""
    global _loop_started
    with _loop_lock:
        if _loop_started:
            return
        libvirt.registerErrorHandler(_silence_libvirt_errors, None)
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-events", daemon=True).start()
        _loop_started = True


def is_no_domain(exc: libvirt.libvirtError) -> bool:
    return exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN


def is_not_running(exc: libvirt.libvirtError) -> bool:
    return exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID


class Domain:
    """One libvirt domain, with the calls the driver needs spelled as intentions."""

    def __init__(self, connection: LibvirtConnection, handle: libvirt.virDomain) -> None:
        self.connection = connection
        self.handle = handle
        self.name: str = handle.name()

    def state(self) -> PowerState:
        state, _reason = self.handle.state()
        return _STATES.get(state, PowerState.UNKNOWN)

    def stopped_by_guest(self) -> bool:
        """Shut off because the guest powered itself off (not destroyed, crashed or lost with the host)."""
        state, reason = self.handle.state()
        return state == libvirt.VIR_DOMAIN_SHUTOFF and reason == libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN

    def is_running(self) -> bool:
        return self.handle.isActive() == 1

    def description(self, *, inactive: bool = False) -> DomainDescription:
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        return parse_domain_xml(self.handle.XMLDesc(flags))

    def cpu_time_ns(self) -> int:
        return int(self.handle.info()[4])

    def start(self) -> None:
        self.handle.create()

    def press_power_button(self) -> None:
        self.handle.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)

    def hard_stop(self) -> None:
        """Kill QEMU now; no error if it is not running or already gone."""
        try:
            self.handle.destroy()
        except libvirt.libvirtError as exc:
            if not (is_not_running(exc) or is_no_domain(exc)):
                raise

    def reboot(self, *, hard: bool) -> None:
        if hard:
            self.handle.reset(0)
        else:
            self.handle.reboot(libvirt.VIR_DOMAIN_REBOOT_ACPI_POWER_BTN)

    def wait_until_off(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                return True
            time.sleep(0.1)
        return not self.is_running()

    def undefine(self) -> None:
        try:
            self.handle.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                                      | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        except libvirt.libvirtError as exc:
            if not is_no_domain(exc):
                raise

    def attach(self, device_xml: str) -> None:
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if self.is_running():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        self.handle.attachDeviceFlags(device_xml, flags)

    def attach_device(self, device_xml: str, *, live: bool, config: bool) -> None:
        """Add a device to the running guest (``live``) and/or the definition (``config``)."""
        flags = (libvirt.VIR_DOMAIN_AFFECT_LIVE if live else 0) | (libvirt.VIR_DOMAIN_AFFECT_CONFIG if config else 0)
        self.handle.attachDeviceFlags(device_xml, flags)

    def set_metadata(self, element_xml: str, key: str, uri: str) -> None:
        """Replace Cloudlet's metadata element (namespace ``uri``, prefix ``key``), in the definition and, while
        the domain runs, in the live XML too."""
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if self.is_running():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        self.handle.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, element_xml, key, uri, flags)

    def set_block_iotune(self, target: str, parameters: dict[str, int]) -> None:
        """New I/O caps for a disk, live when running and in the definition in any case."""
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if self.is_running():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        self.handle.setBlockIoTune(target, parameters, flags)

    def block_resize(self, target: str, size_bytes: int) -> None:
        """Grow a disk of the running guest (QEMU resizes the image; the guest is told of the new size)."""
        self.handle.blockResize(target, size_bytes, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)

    def backup_disk(self, target: str, copy_xml: str, timeout: float) -> None:
        """A point-in-time copy of one disk into the file ``copy_xml`` describes (libvirt's backup API, push
        mode, into a pre-created image: REUSE_EXTERNAL), waiting for the job to finish."""
        backup = (f"<domainbackup mode='push'><disks>{copy_xml}</disks></domainbackup>")
        self.handle.backupBegin(backup, None, libvirt.VIR_DOMAIN_BACKUP_BEGIN_REUSE_EXTERNAL)
        deadline = time.monotonic() + timeout
        while self.handle.jobInfo()[0] != libvirt.VIR_DOMAIN_JOB_NONE:
            if time.monotonic() > deadline:
                with suppress(libvirt.libvirtError):
                    self.handle.abortJob()
                raise TimeoutError(f"the copy of {target} of {self.name} took longer than {timeout:.0f} s")
            time.sleep(0.05)
        stats = self.handle.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
        if stats.get("type") != libvirt.VIR_DOMAIN_JOB_COMPLETED:
            raise OSError(f"the copy of {target} of {self.name} failed: {stats.get('errmsg', 'job not completed')}")

    def detach(self, device_xml: str, alias: str, timeout: float, *, live: bool, config: bool) -> bool:
        """Remove a device from the definition (``config``) and from the running guest (``live``); True once
        the guest has released it (within ``timeout`` s). A live removal is asynchronous: the guest must let
        go, and libvirt says it did with a DEVICE_REMOVED event. Asking again while the guest still holds the
        device (a retry after a timeout) only repeats the live request: the definition changed the first time.
        """
        if config:
            self.handle.detachDeviceFlags(device_xml, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
        if not live:
            return True
        with self.connection.device_removal(self.name, alias) as removed:
            try:
                self.handle.detachDeviceFlags(device_xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            except libvirt.libvirtError as exc:
                if not is_not_running(exc):
                    raise
                return True  # the domain stopped meanwhile: nothing live to release
            deadline = time.monotonic() + timeout
            while not removed.wait(0.2):
                # libvirt waits for the removal itself for a few seconds and may have finished already.
                if alias not in self.description().aliases:
                    return True
                if time.monotonic() > deadline:
                    return False
        return True


class LibvirtConnection:
    """A connection to libvirtd (qemu:///system as root) with DEVICE_REMOVED events."""

    def __init__(self, uri: str = "qemu:///system") -> None:
        ensure_event_loop()
        self.uri = uri
        self._waiters: dict[tuple[str, str], threading.Event] = {}
        self._lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        self.conn = libvirt.open(self.uri)
        # Keepalive lets isAlive() notice a libvirtd that went away (restart, upgrade).
        self.conn.setKeepAlive(5, 3)
        self._callback = self.conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, self._on_device_removed, None)

    def _alive(self) -> libvirt.virConnect:
        """The connection, reopened if libvirtd restarted since (domains survive a libvirtd restart)."""
        if not self.conn.isAlive():
            log.warning("connection to %s lost; reconnecting", self.uri)
            with suppress(libvirt.libvirtError):
                self.conn.close()
            self._open()
        return self.conn

    def close(self) -> None:
        with suppress(libvirt.libvirtError):
            self.conn.domainEventDeregisterAny(self._callback)
        self.conn.close()

    def _on_device_removed(self, _conn: libvirt.virConnect, domain: libvirt.virDomain, alias: str,
                           _opaque: object) -> None:
        with self._lock:
            event = self._waiters.get((domain.name(), alias))
        if event is not None:
            event.set()

    @contextmanager
    def device_removal(self, domain: str, alias: str) -> Iterator[threading.Event]:
        """An event set when ``alias`` leaves ``domain``; register it before asking for the removal."""
        event = threading.Event()
        with self._lock:
            self._waiters[(domain, alias)] = event
        try:
            yield event
        finally:
            with self._lock:
                self._waiters.pop((domain, alias), None)

    def lookup(self, name: str) -> Domain | None:
        try:
            return Domain(self, self._alive().lookupByName(name))
        except libvirt.libvirtError as exc:
            if is_no_domain(exc):
                return None
            raise

    def define(self, xml: str) -> Domain:
        return Domain(self, self._alive().defineXML(xml))

    def domains(self) -> list[Domain]:
        return [Domain(self, handle) for handle in self._alive().listAllDomains()]

    def running_stats(self, domains: list[Domain]) -> dict[str, dict[str, Any]]:
        """Cumulative CPU, vCPU, NIC and disk counters of those of ``domains`` that run, in one libvirt call
        (``virDomainListGetStats``), by domain name."""
        if not domains:
            return {}
        kinds = (libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_VCPU
                 | libvirt.VIR_DOMAIN_STATS_INTERFACE | libvirt.VIR_DOMAIN_STATS_BLOCK)
        records = self._alive().domainListGetStats([d.handle for d in domains], kinds,
                                                   libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING)
        return {handle.name(): stats for handle, stats in records}

    def ensure_secret(self, secret_uuid: str, volume_path: str, value: bytes) -> None:
        """An ephemeral, private volume secret holding ``value``: never written to the host's disk, never
        readable back through libvirt, gone when libvirtd restarts (the agent defines it again before it
        starts a domain that needs it)."""
        conn = self._alive()
        try:
            secret = conn.secretLookupByUUIDString(secret_uuid)
        except libvirt.libvirtError:
            secret = conn.secretDefineXML(
                f"<secret ephemeral='yes' private='yes'><uuid>{secret_uuid}</uuid>"
                f"<usage type='volume'><volume>{escape(volume_path)}</volume></usage></secret>")
        secret.setValue(value)

    def volume_secrets(self) -> dict[str, str]:
        """Volume secrets by UUID, with the volume path each is for."""
        secrets = {}
        for secret in self._alive().listAllSecrets(libvirt.VIR_CONNECT_LIST_SECRETS_EPHEMERAL):
            if secret.usageType() == libvirt.VIR_SECRET_USAGE_TYPE_VOLUME:
                secrets[secret.UUIDString()] = secret.usageID()
        return secrets

    def remove_secret(self, secret_uuid: str) -> None:
        with suppress(libvirt.libvirtError):
            self._alive().secretLookupByUUIDString(secret_uuid).undefine()
