"""Compute at agent start: prepare the host, pick the accelerator (probe, cached per host boot), open the driver.

The agent calls :func:`start_compute` once and reports ``decision.hypervisor`` (kvm | qemu | none) in its
host registration, with ``decision.reason`` in its log.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from agent.compute.host import ensure_kvm_device_access
from agent.compute.images import AmiManifest, ImageError
from agent.compute.libvirt_driver import LibvirtDriver
from agent.compute.probe import Decision, decide_accelerator, detect_accelerator
from agent.compute.spec import Accelerator
from agent.compute.vif import VifPlugger

log = logging.getLogger("cloudlet.agent.compute")


def choose_accelerator(state_dir: Path, probe_manifest: Path | None, forced: str | None = None) -> Decision:
    """KVM or TCG for this host, or None when QEMU is missing. ``probe_manifest`` is an AMI built by images/
    (its kernel and initramfs boot the probe guest); without one KVM cannot be verified and TCG is used."""
    if forced:
        return decide_accelerator(False, None, None, forced)
    if shutil.which("qemu-system-x86_64") is None:
        return Decision(None, "qemu-system-x86_64 is not installed")
    try:
        manifest = AmiManifest.load(probe_manifest) if probe_manifest else None
    except ImageError as exc:
        log.warning("probe image unusable: %s", exc)
        manifest = None
    if manifest is None or manifest.kernel is None or manifest.initrd is None or not manifest.probe_marker:
        return Decision(Accelerator.TCG, "no probe image (make -C images tiny): KVM unverified, using TCG")
    return detect_accelerator(state_dir, manifest.kernel.path, manifest.initrd.path, cmdline=manifest.probe_cmdline,
                              marker=manifest.probe_marker)


def start_compute(state_dir: Path, probe_manifest: Path | None, *, plugger: VifPlugger | None = None,
                  forced: str | None = None) -> tuple[LibvirtDriver | None, Decision]:
    """The libvirt driver for this host (None if it cannot run guests) and the accelerator decision."""
    ensure_kvm_device_access()
    decision = choose_accelerator(state_dir, probe_manifest, forced)
    log.info("compute: hypervisor %s (%s)", decision.hypervisor, decision.reason)
    if decision.accelerator is None:
        return None, decision
    return LibvirtDriver(state_dir, decision.accelerator, plugger=plugger), decision
