"""The accelerator decision: pure rules, the per-boot cache, and the probe runner's verdicts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agent.compute import probe
from agent.compute.probe import Decision, ProbeOutcome, cached_decision, decide_accelerator, probe_command
from agent.compute.spec import Accelerator

KVM_OK = ProbeOutcome(Accelerator.KVM, True, 0.8)
KVM_HUNG = ProbeOutcome(Accelerator.KVM, False, 7.0, timed_out=True)
KVM_DIED = ProbeOutcome(Accelerator.KVM, False, 0.3, detail="KVM internal error. Suberror: 1")
TCG_OK = ProbeOutcome(Accelerator.TCG, True, 2.5)
TCG_FAIL = ProbeOutcome(Accelerator.TCG, False, 0.1, detail="cannot run qemu")


def test_kvm_when_its_guest_boots() -> None:
    decision = decide_accelerator(True, KVM_OK, None)
    assert decision.accelerator is Accelerator.KVM
    assert decision.hypervisor == "kvm"


@pytest.mark.parametrize("kvm_device, kvm, why", [
    (True, KVM_HUNG, "hung"),
    (True, KVM_DIED, "KVM internal error"),
    (False, None, "no /dev/kvm"),
])
def test_tcg_when_kvm_cannot_run_a_guest(kvm_device: bool, kvm: ProbeOutcome | None, why: str) -> None:
    decision = decide_accelerator(kvm_device, kvm, TCG_OK)
    assert decision.accelerator is Accelerator.TCG
    assert decision.hypervisor == "qemu"
    assert why in decision.reason and "TCG" in decision.reason


def test_no_hypervisor_when_tcg_fails_too() -> None:
    decision = decide_accelerator(True, KVM_HUNG, TCG_FAIL)
    assert decision.accelerator is None
    assert decision.hypervisor == "none"
    assert "cannot run qemu" in decision.reason


def test_operator_override_wins() -> None:
    assert decide_accelerator(True, KVM_OK, None, forced="qemu").accelerator is Accelerator.TCG
    with pytest.raises(ValueError):
        decide_accelerator(True, KVM_OK, None, forced="xen")


def test_cache_is_valid_for_one_boot_of_the_host() -> None:
    record = {"accelerator": "qemu", "reason": "r", "boot_id": "boot-1", "probed_at": 5.0}
    assert cached_decision(record, "boot-1") == Decision(Accelerator.TCG, "r", "boot-1", 5.0)
    assert cached_decision(record, "boot-2") is None
    assert cached_decision(None, "boot-1") is None
    assert cached_decision({**record, "accelerator": None}, "boot-1").accelerator is None  # type: ignore[union-attr]


def test_probe_command_boots_kernel_and_initrd_with_only_a_serial_console() -> None:
    command = probe_command("qemu", Accelerator.KVM, Path("/k"), Path("/i"), "console=ttyS0 cloudlet.probe")
    assert command[:3] == ["qemu", "-accel", "kvm"]
    assert command[command.index("-kernel"):command.index("-kernel") + 2] == ["-kernel", "/k"]
    assert "-no-reboot" in command and "-nodefaults" in command
    assert command[command.index("-serial") + 1] == "stdio"
    assert probe_command("qemu", Accelerator.TCG, Path("/k"), Path("/i"), "")[2] == "tcg"


def test_detect_probes_kvm_then_tcg_once_per_boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    boot_id = tmp_path / "boot_id"
    boot_id.write_text("boot-A\n")
    monkeypatch.setattr(probe, "BOOT_ID", boot_id)
    monkeypatch.setattr(probe.os, "access", lambda path, mode: path == "/dev/kvm")
    calls: list[Accelerator] = []

    def fake_probe(accelerator: Accelerator, *_args: object, **_kwargs: object) -> ProbeOutcome:
        calls.append(accelerator)
        return KVM_HUNG if accelerator is Accelerator.KVM else TCG_OK

    first = probe.detect_accelerator(tmp_path, Path("/k"), Path("/i"), probe=fake_probe)
    assert first.accelerator is Accelerator.TCG and first.boot_id == "boot-A"
    assert calls == [Accelerator.KVM, Accelerator.TCG]
    assert json.loads((tmp_path / "accelerator.json").read_text())["accelerator"] == "qemu"

    again = probe.detect_accelerator(tmp_path, Path("/k"), Path("/i"), probe=fake_probe)
    assert again == first and len(calls) == 2

    boot_id.write_text("boot-B\n")
    probe.detect_accelerator(tmp_path, Path("/k"), Path("/i"), probe=fake_probe)
    assert len(calls) == 4


def test_detect_skips_tcg_when_kvm_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "BOOT_ID", tmp_path / "no-such-file")
    monkeypatch.setattr(probe.os, "access", lambda path, mode: True)
    calls: list[Accelerator] = []

    def fake_probe(accelerator: Accelerator, *_args: object, **_kwargs: object) -> ProbeOutcome:
        calls.append(accelerator)
        return KVM_OK

    assert probe.detect_accelerator(tmp_path, Path("/k"), Path("/i"), probe=fake_probe).accelerator is Accelerator.KVM
    assert calls == [Accelerator.KVM]


def fake_qemu(tmp_path: Path, script: str) -> str:
    """An executable standing in for QEMU: the probe only reads its stdout and kills it."""
    path = tmp_path / "fake-qemu"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{script}\n")
    path.chmod(0o755)
    return str(path)


def test_run_probe_sees_the_marker(tmp_path: Path) -> None:
    qemu = fake_qemu(tmp_path, "print('booting'); print('CLOUDLET-PROBE-OK', flush=True); time.sleep(30)")
    outcome = probe.run_probe(Accelerator.TCG, Path("/k"), Path("/i"), timeout=10, qemu=qemu)
    assert outcome.marker_seen and not outcome.timed_out
    assert outcome.seconds < 10


def test_run_probe_times_out_on_a_hung_guest(tmp_path: Path) -> None:
    qemu = fake_qemu(tmp_path, "print('hanging', flush=True); time.sleep(30)")
    outcome = probe.run_probe(Accelerator.KVM, Path("/k"), Path("/i"), timeout=0.5, qemu=qemu)
    assert not outcome.marker_seen and outcome.timed_out


def test_run_probe_reports_a_dying_guest(tmp_path: Path) -> None:
    qemu = fake_qemu(tmp_path, "print('KVM internal error. Suberror: 1', flush=True); sys.exit(1)")
    outcome = probe.run_probe(Accelerator.KVM, Path("/k"), Path("/i"), timeout=10, qemu=qemu)
    assert not outcome.marker_seen and not outcome.timed_out
    assert "KVM internal error" in outcome.detail
    missing = probe.run_probe(Accelerator.KVM, Path("/k"), Path("/i"), timeout=1, qemu=str(tmp_path / "nope"))
    assert not missing.marker_seen and "cannot run" in missing.detail


def test_choose_accelerator_without_a_probe_image_or_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.compute import setup

    monkeypatch.setattr(setup.shutil, "which", lambda name: "/usr/bin/" + name)
    unprobed = setup.choose_accelerator(tmp_path, None)
    assert unprobed.accelerator is Accelerator.TCG and "unverified" in unprobed.reason
    broken = tmp_path / "manifest.json"
    broken.write_text("{")
    assert setup.choose_accelerator(tmp_path, broken).accelerator is Accelerator.TCG
    assert setup.choose_accelerator(tmp_path, None, forced="kvm").accelerator is Accelerator.KVM
    monkeypatch.setattr(setup.shutil, "which", lambda name: None)
    assert setup.choose_accelerator(tmp_path, None).hypervisor == "none"
