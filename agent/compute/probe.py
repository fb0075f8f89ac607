"""Which accelerator can really run guests on this host: KVM if a tiny guest boots under it, else TCG.

Why a probe and not a capability check: on some hosts /dev/kvm exists and libvirt advertises type='kvm',
yet every real guest hangs or dies ("KVM internal error ... emulation failure", e.g. nested PVM). Only
booting something tells. The probe guest is the tiny AMI's kernel and initramfs with ``cloudlet.probe`` on
the command line: the initramfs prints a marker on the serial console and powers off (~2.5 s under TCG).
The answer is cached per boot of the host (``/proc/sys/kernel/random/boot_id``), so an agent restart
does not probe again.

Pure parts (unit-tested): :func:`probe_command`, :func:`decide_accelerator`, :func:`cached_decision`.
Edges: :func:`run_probe` (runs QEMU), :func:`detect_accelerator` (probe + cache file).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.compute.spec import Accelerator

DEFAULT_MARKER = "CLOUDLET-PROBE-OK"
DEFAULT_CMDLINE = "console=ttyS0 cloudlet.probe panic=-1"
#: Under a working KVM the probe guest is done in well under a second; under TCG in ~2.5 s. 7 s leaves room
#: for a loaded host without making a broken KVM cost much at agent start.
KVM_TIMEOUT = 7.0
TCG_TIMEOUT = 30.0
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class ProbeOutcome:
    """One probe boot: did the marker appear on the console, and how long did it take."""

    accelerator: Accelerator
    marker_seen: bool
    seconds: float
    timed_out: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    """The accelerator to use (None: this host cannot run guests at all) and why, for logs and the host record."""

    accelerator: Accelerator | None
    reason: str
    boot_id: str = ""
    probed_at: float = 0.0

    @property
    def hypervisor(self) -> str:
        """The host record's ``hypervisor`` field: kvm | qemu | none."""
        return self.accelerator.value if self.accelerator else "none"


def probe_command(qemu: str, accelerator: Accelerator, kernel: Path, initrd: Path, cmdline: str) -> list[str]:
    """QEMU with nothing but a serial console on stdout, the kernel and initramfs, and no reboot."""
    accel = "kvm" if accelerator is Accelerator.KVM else "tcg"
    return [qemu, "-accel", accel, "-machine", "pc", "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "stdio", "-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", cmdline]


def decide_accelerator(kvm_device: bool, kvm: ProbeOutcome | None, tcg: ProbeOutcome | None,
                       forced: str | None = None) -> Decision:
    """KVM if its probe guest printed the marker; else TCG if its probe did (or was not needed yet);
    ``forced`` (kvm|qemu, from the operator) wins over both."""
    if forced:
        return Decision(Accelerator(forced), f"forced to {forced} by configuration")
    if kvm is not None and kvm.marker_seen:
        return Decision(Accelerator.KVM, f"KVM probe guest booted in {kvm.seconds:.1f} s")
    if not kvm_device:
        why = "no /dev/kvm"
    elif kvm is None:
        why = "KVM not probed"
    elif kvm.timed_out:
        why = f"KVM probe guest hung ({kvm.seconds:.0f} s without the marker)"
    else:
        why = f"KVM probe guest failed: {kvm.detail or 'no marker'}"
    if tcg is not None and not tcg.marker_seen:
        return Decision(None, f"{why}; TCG probe failed too: {tcg.detail or 'no marker'}")
    took = f", TCG probe booted in {tcg.seconds:.1f} s" if tcg else ""
    return Decision(Accelerator.TCG, f"{why}: using TCG{took}")


def cached_decision(cache: dict[str, Any] | None, boot_id: str) -> Decision | None:
    """The cached decision if it was made during this boot of the host (a reboot may change KVM's health)."""
    if not cache or cache.get("boot_id") != boot_id:
        return None
    accelerator = cache.get("accelerator")
    return Decision(Accelerator(str(accelerator)) if accelerator else None, str(cache.get("reason", "")),
                    boot_id, float(cache.get("probed_at", 0.0)))


def run_probe(accelerator: Accelerator, kernel: Path, initrd: Path, *, timeout: float,
              cmdline: str = DEFAULT_CMDLINE, marker: str = DEFAULT_MARKER,
              qemu: str = "qemu-system-x86_64") -> ProbeOutcome:
    """Boot the probe guest and watch its console for ``marker``, killing QEMU after ``timeout`` seconds."""
    started = time.monotonic()
    try:
        process = subprocess.Popen(probe_command(qemu, accelerator, kernel, initrd, cmdline), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        return ProbeOutcome(accelerator, False, 0.0, detail=f"cannot run {qemu}: {exc}")
    assert process.stdout is not None
    console = b""
    seen = False
    try:
        while not seen:
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                break
            ready, _, _ = select.select([process.stdout], [], [], min(left, 0.2))
            if ready:
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    break
                console += chunk
                seen = marker.encode() in console
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    elapsed = time.monotonic() - started
    timed_out = not seen and elapsed >= timeout
    tail = console.decode(errors="replace").strip().splitlines()[-1:] if not seen else []
    return ProbeOutcome(accelerator, seen, elapsed, timed_out, detail=tail[0][:200] if tail else "")


def detect_accelerator(state_dir: Path, kernel: Path, initrd: Path, *, cmdline: str = DEFAULT_CMDLINE,
                       marker: str = DEFAULT_MARKER, forced: str | None = None, kvm_timeout: float = KVM_TIMEOUT,
                       probe: Callable[..., ProbeOutcome] = run_probe) -> Decision:
    """The accelerator for this host: cached for this boot, else probed (KVM first, TCG if KVM fails)."""
    boot_id = BOOT_ID.read_text().strip() if BOOT_ID.exists() else ""
    if forced:
        return decide_accelerator(False, None, None, forced)
    cache_file = state_dir / "accelerator.json"
    try:
        cached = cached_decision(json.loads(cache_file.read_text()), boot_id)
    except (OSError, ValueError):
        cached = None
    if cached is not None:
        return cached
    kvm_device = os.access("/dev/kvm", os.R_OK | os.W_OK)
    kvm = probe(Accelerator.KVM, kernel, initrd, timeout=kvm_timeout, cmdline=cmdline, marker=marker) \
        if kvm_device else None
    tcg = None
    if kvm is None or not kvm.marker_seen:
        tcg = probe(Accelerator.TCG, kernel, initrd, timeout=TCG_TIMEOUT, cmdline=cmdline, marker=marker)
    decision = decide_accelerator(kvm_device, kvm, tcg)
    decision = Decision(decision.accelerator, decision.reason, boot_id, time.time())
    state_dir.mkdir(parents=True, exist_ok=True)
    record = {**asdict(decision), "accelerator": decision.accelerator.value if decision.accelerator else None}
    cache_file.write_text(json.dumps(record) + "\n")
    return decision
