"""One tiny-AMI guest, booted through the agent's own libvirt driver in an isolated lab namespace.

The benches that measure inside a guest (``bench_ebs``, ``bench_efs``) share this setup: the lab of
``tests/agent/compute_lab.py`` (a namespace with a bridge, dnsmasq and SSH keys), the accelerator the agent
would choose, and a 1 vCPU / 256 MiB guest reached over SSH. Everything is removed on the way out.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: What booting a guest needs on the host; benches add their own tools.
REQUIRED = ("qemu-system-x86_64", "qemu-img", "virsh", "dnsmasq", "mke2fs")


def missing_prerequisites(*extra_tools: str) -> list[str]:
    """The tools, privileges and modules this host lacks to boot a guest (and for ``extra_tools``)."""
    missing = [tool for tool in (*REQUIRED, *extra_tools) if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root")
    try:
        import libvirt  # noqa: F401
    except ImportError:
        missing.append("libvirt-python")
    return missing


class NoGuests(RuntimeError):
    """This host can run guests neither under KVM nor under TCG (the message says why)."""


@dataclass
class LabGuest:
    """A running guest: its lab, the driver that runs it, its spec and an SSH client to it."""

    state_dir: Path
    lab: Any
    driver: Any
    spec: Any
    accelerator: str
    client: Any

    def run(self, command: str, stdin: bytes = b"", timeout: float = 900) -> str:
        """Run ``command`` as root in the guest and return its output; a non-zero exit raises."""
        channel_in, stdout, _ = self.client.exec_command(command, timeout=timeout)
        if stdin:
            channel_in.write(stdin)
            channel_in.channel.shutdown_write()
        output = stdout.read().decode()
        if stdout.channel.recv_exit_status() != 0:
            raise RuntimeError(f"{command!r} failed in the guest: {output}")
        return output


@contextmanager
def lab_guest(name: str, image_id: str) -> Iterator[LabGuest]:
    """Boot one guest for the bench ``name`` (used in the lab's directory name); raises NoGuests."""
    from agent.compute import vif
    from agent.compute.host import ensure_kvm_device_access
    from agent.compute.images import AmiManifest, ImageCache
    from agent.compute.libvirt_driver import LibvirtDriver
    from agent.compute.probe import detect_accelerator
    from agent.compute.spec import InstanceSpec, NicSpec, RootDiskSpec
    from agent.contract.naming import mac_for_interface
    from tests.agent.compute_lab import BootLab, KeyPair, build_tiny_image, ensure_libvirtd, new_id

    ensure_libvirtd()
    ensure_kvm_device_access()
    manifest = AmiManifest.load(build_tiny_image())
    assert manifest.kernel is not None and manifest.initrd is not None
    state_dir = Path("/var/tmp") / f"cl-bench-{name}-{new_id('t')[2:12]}"
    state_dir.mkdir(mode=0o755)
    lab = BootLab(state_dir / "lab").start()
    driver = None
    try:
        decision = detect_accelerator(state_dir, manifest.kernel.path, manifest.initrd.path,
                                      cmdline=manifest.probe_cmdline, marker=manifest.probe_marker)
        if decision.accelerator is None:
            raise NoGuests(decision.reason)
        print(f"accelerator: {decision.accelerator.value} ({decision.reason})", flush=True)
        image = ImageCache(state_dir / "images").ensure(image_id, manifest)
        driver = LibvirtDriver(state_dir, decision.accelerator,
                               plugger=vif.NamespaceBridgePlugger(lab.netns, lab.BRIDGE))
        key, interface_id = KeyPair.generate(), new_id("eni")
        spec = InstanceSpec(new_id("i"), 1, 256, image.boot,
                            RootDiskSpec(image.base_disk, image.virtual_size, new_id("vol")),
                            nics=(NicSpec(0, mac_for_interface(interface_id), interface_id),),
                            image_id=image_id, instance_type="t3.micro")
        ip = lab.add_guest(spec.instance_id, spec.nics[0].mac, key.public_line, None).ip
        driver.spawn(spec)
        client = lab.connect_ssh(ip, key, timeout=180)
        try:
            yield LabGuest(state_dir, lab, driver, spec, decision.accelerator.value, client)
        finally:
            client.close()
    finally:
        if driver is not None:
            for instance_id in driver.list_instances():
                driver.destroy(instance_id)
            driver.connection.close()
        lab.close()
        shutil.rmtree(state_dir, ignore_errors=True)
