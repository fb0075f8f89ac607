"""Real VMs through the libvirt compute driver (root, libvirtd, QEMU; TCG where KVM cannot run guests).

One tiny-AMI instance is booted in an isolated lab namespace (see compute_lab) and carried through its
life: SSH with the generated key, user-data, metadata over IMDSv2, console output, volume hot-plug,
graceful stop, instance type change while stopped, start, reboot, reconciliation after an agent restart,
and destroy leaving no domain, disk or tap behind. Tests run in file order and share the instance.

Without root, QEMU, libvirt or dnsmasq the module is skipped, unless CLOUDLET_REQUIRE_VM_TESTS=1 (CI),
where a missing prerequisite fails the run instead of hiding it.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from tests.prerequisites import missing_root, missing_tools, require
from tests.support import wait_for

REQUIRED_TOOLS = ("qemu-system-x86_64", "qemu-img", "virsh", "libvirtd", "virtlogd", "dnsmasq", "mke2fs",
                  "apt-cache")


def _missing_prerequisites() -> list[str]:
    missing = missing_tools(*REQUIRED_TOOLS) + missing_root()
    try:
        import libvirt  # noqa: F401
    except ImportError:
        missing.append("libvirt-python")
    return missing


require(_missing_prerequisites(), "VM tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

from agent.compute import reconcile, vif  # noqa: E402
from agent.compute.driver import ComputeError, InstanceNotFound, InvalidInstanceState  # noqa: E402
from agent.compute.host import ensure_kvm_device_access  # noqa: E402
from agent.compute.images import AmiManifest, CachedImage, ImageCache  # noqa: E402
from agent.compute.libvirt_driver import LibvirtDriver  # noqa: E402
from agent.compute.probe import Decision, detect_accelerator  # noqa: E402
from agent.compute.spec import (  # noqa: E402
    InstanceSpec,
    NicSpec,
    PowerState,
    RootDiskSpec,
    VolumeSpec,
)
from agent.contract.naming import mac_for_interface, tap_alias, tap_name, volume_serial  # noqa: E402
from tests.agent.compute_lab import BootLab, GuestRecord, KeyPair, build_tiny_image, ensure_libvirtd, new_id  # noqa: E402

USER_DATA = b"""#!/bin/sh
echo "run at $(cat /proc/uptime)" >> /root/user-data-runs
echo "user-data says hello from $(hostname)"
"""
IMAGE_ID = "ami-0c0ffee0c0ffee000"


@dataclasses.dataclass
class Env:
    state_dir: Path
    lab: BootLab
    manifest: AmiManifest
    image: CachedImage
    decision: Decision
    driver: LibvirtDriver
    spawned: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Instance:
    spec: InstanceSpec
    guest: GuestRecord
    key: KeyPair


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    ensure_libvirtd()
    ensure_kvm_device_access()
    manifest = AmiManifest.load(build_tiny_image())
    assert manifest.kernel is not None and manifest.initrd is not None
    # Under /var/tmp, not pytest's 0700 tmp dirs: QEMU runs as libvirt-qemu and must traverse the path.
    state_dir = Path("/var/tmp") / f"cl-compute-{new_id('t')[2:12]}"
    state_dir.mkdir(mode=0o755)
    lab = BootLab(state_dir / "lab")
    try:
        lab.start()
        decision = detect_accelerator(state_dir, manifest.kernel.path, manifest.initrd.path,
                                      cmdline=manifest.probe_cmdline, marker=manifest.probe_marker)
        assert decision.accelerator is not None, decision.reason
        image = ImageCache(state_dir / "images").ensure(IMAGE_ID, manifest)
        driver = LibvirtDriver(state_dir, decision.accelerator,
                               plugger=vif.NamespaceBridgePlugger(lab.netns, lab.BRIDGE))
        environment = Env(state_dir, lab, manifest, image, decision, driver)
        try:
            yield environment
        finally:
            for instance_id in environment.spawned:
                driver.destroy(instance_id)
            driver.connection.close()
    finally:
        lab.close()
        shutil.rmtree(state_dir, ignore_errors=True)


def make_spec(env: Env, *, vcpus: int = 1, memory_mib: int = 256) -> InstanceSpec:
    instance_id = new_id("i")
    interface_id = new_id("eni")
    return InstanceSpec(instance_id, vcpus, memory_mib, env.image.boot,
                        RootDiskSpec(env.image.base_disk, env.image.virtual_size, new_id("vol")),
                        nics=(NicSpec(0, mac_for_interface(interface_id), interface_id),),
                        image_id=IMAGE_ID, instance_type="t3.micro")


@pytest.fixture(scope="module")
def instance(env: Env) -> Instance:
    key = KeyPair.generate()
    spec = make_spec(env)
    guest = env.lab.add_guest(spec.instance_id, spec.nics[0].mac, key.public_line, USER_DATA)
    env.spawned.append(spec.instance_id)
    env.driver.spawn(spec)
    return Instance(spec, guest, key)


def ssh(env: Env, instance: Instance, command: str, timeout: float = 60.0) -> str:
    status, output = env.lab.ssh_run(instance.guest.ip, instance.key, command, timeout)
    assert status == 0, f"{command!r} exited {status}: {output}"
    return output




def test_probe_chose_a_working_accelerator_and_caches_it(env: Env) -> None:
    assert env.decision.hypervisor in ("kvm", "qemu")
    assert env.decision.reason
    assert env.manifest.kernel is not None and env.manifest.initrd is not None

    def must_not_probe(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("probed again within the same host boot")

    again = detect_accelerator(env.state_dir, env.manifest.kernel.path, env.manifest.initrd.path, probe=must_not_probe)
    assert again.accelerator == env.decision.accelerator


def test_instance_boots_to_ssh_with_its_key_and_runs_user_data(env: Env, instance: Instance) -> None:
    # dropbear starts before user-data runs (as sshd does before cloud-init's final stage on AWS)
    wait_for(lambda: instance.spec.instance_id in ssh(env, instance, "cat /var/lib/cloudlet/user-data.done || true"),
             60, "the guest to finish its user-data")
    assert ssh(env, instance, "cat /root/user-data-runs").count("run at") == 1
    assert ssh(env, instance, "hostname").strip() == instance.guest.hostname.split(".")[0]
    info = env.driver.get_info(instance.spec.instance_id)
    assert (info.state, info.vcpus, info.memory_mib) == (PowerState.RUNNING, 1, 256)
    assert env.driver.list_instances().count(instance.spec.instance_id) == 1


def test_guest_used_imdsv2(env: Env, instance: Instance) -> None:
    requests = env.lab.metadata_requests(instance.guest.ip)
    assert requests[0] == ("PUT", "/latest/api/token", False)
    gets = [(path, token) for method, path, token in requests if method == "GET"]
    assert ("/latest/meta-data/public-keys/0/openssh-key", True) in gets
    assert ("/latest/user-data", True) in gets


def test_console_output_shows_boot_and_user_data(env: Env, instance: Instance) -> None:
    console = env.driver.get_console_output(instance.spec.instance_id).decode(errors="replace")
    assert "Linux version" in console
    assert "cloudlet-init" in console and "boot finished" in console
    assert "user-data says hello" in console
    assert "BEGIN SSH HOST KEY FINGERPRINTS" in console
    assert len(env.driver.get_console_output(instance.spec.instance_id, max_bytes=100)) == 100


def test_tap_is_plugged_into_the_lab_network(env: Env, instance: Instance) -> None:
    tap = tap_name(instance.spec.instance_id, 0)
    assert tap in env.lab.links()
    assert tap not in vif.root_taps()


def test_volume_hot_attach_and_detach_by_serial(env: Env, instance: Instance) -> None:
    volume_id = new_id("vol")
    path = env.state_dir / f"{volume_id}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    volume = VolumeSpec(volume_id, path)
    serial = volume_serial(volume_id)
    find = f"grep -l {serial} /sys/block/vd*/serial || true"
    target = env.driver.attach_volume(instance.spec.instance_id, volume)
    assert target == "vdb"
    assert env.driver.attach_volume(instance.spec.instance_id, volume) == target  # idempotent
    wait_for(lambda: serial in ssh(env, instance, f"cat /sys/block/vd*/serial 2>/dev/null; {find}"), 10,
             "the volume to appear in the guest")
    env.driver.detach_volume(instance.spec.instance_id, volume_id, timeout=20)
    assert ssh(env, instance, find).strip() == ""


def test_graceful_stop_resize_and_start_keep_the_root_disk(env: Env, instance: Instance) -> None:
    instance_id = instance.spec.instance_id
    ssh(env, instance, "echo kept > /root/persisted && sync")
    with pytest.raises(InvalidInstanceState):
        env.driver.update_instance(dataclasses.replace(instance.spec, vcpus=2))
    assert env.driver.power_off(instance_id, timeout=30) is True, "the guest ignored the ACPI power button"
    assert env.driver.get_info(instance_id).state is PowerState.SHUTOFF
    tap = tap_name(instance_id, 0)
    assert tap not in env.lab.links() and tap not in vif.root_taps()

    bigger = dataclasses.replace(instance.spec, vcpus=2, memory_mib=384)
    env.driver.update_instance(bigger)
    env.driver.power_on(instance_id)
    assert ssh(env, instance, "cat /root/persisted").strip() == "kept"
    assert ssh(env, instance, "nproc").strip() == "2"
    mem_kib = int(ssh(env, instance, "awk '/MemTotal/ {print $2}' /proc/meminfo"))
    assert 300 * 1024 < mem_kib <= 384 * 1024
    # EC2 runs user-data once per instance, not at every start.
    assert ssh(env, instance, "cat /root/user-data-runs").count("run at") == 1


def test_reboot_restarts_the_guest_in_place(env: Env, instance: Instance) -> None:
    ssh(env, instance, "echo before-reboot > /run/volatile")
    env.driver.reboot(instance.spec.instance_id)

    def rebooted() -> bool:
        # While the guest goes down, sessions break mid-command: that is "not yet", not a failure.
        try:
            status, output = env.lab.ssh_run(instance.guest.ip, instance.key,
                                             "cat /run/volatile 2>/dev/null || echo missing", timeout=10)
        except (OSError, EOFError, paramiko.SSHException):
            return False
        return status == 0 and "missing" in output

    wait_for(rebooted, 90, "the guest to come back from its reboot")
    assert env.driver.get_info(instance.spec.instance_id).state is PowerState.RUNNING


def test_reconcile_after_agent_restart_adopts_and_cleans_up(env: Env, instance: Instance) -> None:
    leftover = make_spec(env)
    env.spawned.append(leftover.instance_id)
    env.driver.spawn(leftover, start=False)
    orphan_instance = new_id("i")
    orphan_tap = tap_name(orphan_instance, 0)
    vif.create_root_tap(orphan_tap, tap_alias(env.driver.owner, orphan_instance))
    # Another agent's (or test run's) tap and domain on the same host must survive this agent's reconcile.
    foreign_instance = new_id("i")
    foreign_tap = tap_name(foreign_instance, 0)
    vif.create_root_tap(foreign_tap, tap_alias("f0f0f0f0f0f0", foreign_instance))

    # A new driver on a new connection stands for the restarted agent.
    restarted = LibvirtDriver(env.state_dir, env.driver.accelerator, plugger=env.driver.plugger)
    try:
        desired = {instance.spec.instance_id: reconcile.Desired(reconcile.Wanted.RUNNING,
                                                                dataclasses.replace(instance.spec, vcpus=2,
                                                                                    memory_mib=384))}
        actions = reconcile.plan(desired, restarted.inventory())
        steps = {(a.step, a.instance_id) for a in actions}
        assert (reconcile.Step.ADOPT, instance.spec.instance_id) in steps
        assert (reconcile.Step.DESTROY, leftover.instance_id) in steps
        assert any(a.step is reconcile.Step.REMOVE_TAPS and orphan_tap in a.taps for a in actions)
        assert all(o.ok for o in reconcile.apply(restarted, actions))
    finally:
        restarted.connection.close()
    assert leftover.instance_id not in env.driver.list_instances()
    assert instance.spec.instance_id in env.driver.list_instances()
    assert not (env.state_dir / "instances" / leftover.instance_id).exists()
    assert orphan_tap not in vif.root_taps()
    assert foreign_tap in vif.root_taps()
    vif.delete_root_tap(foreign_tap)
    assert ssh(env, instance, "true") == ""


def test_other_agents_never_see_this_agents_instances(env: Env, instance: Instance) -> None:
    other_dir = env.state_dir / "other-agent"
    other = LibvirtDriver(other_dir, env.driver.accelerator)
    try:
        assert instance.spec.instance_id not in other.list_instances()
        assert other.inventory().domains == {}
        with pytest.raises(InstanceNotFound):
            other.get_info(instance.spec.instance_id)
    finally:
        other.connection.close()


def test_failed_spawn_leaves_nothing_and_spares_a_same_named_tap(env: Env) -> None:
    spec = make_spec(env)
    clash = tap_name(spec.instance_id, 0)
    vif.create_root_tap(clash, tap_alias("f0f0f0f0f0f0", "i-" + spec.instance_id[2:10] + "000000000"))
    try:
        with pytest.raises(ComputeError, match="already exists"):
            env.driver.spawn(spec)
        assert clash in vif.root_taps()
        assert env.driver.connection.lookup(spec.instance_id) is None
        assert not (env.state_dir / "instances" / spec.instance_id).exists()
    finally:
        vif.delete_root_tap(clash)


def test_destroy_leaves_no_domain_disk_or_tap(env: Env, instance: Instance) -> None:
    instance_id = instance.spec.instance_id
    env.driver.destroy(instance_id)
    assert env.driver.connection.lookup(instance_id) is None
    assert not (env.state_dir / "instances" / instance_id).exists()
    tap = tap_name(instance_id, 0)
    assert tap not in env.lab.links() and tap not in vif.root_taps()
    with pytest.raises(InstanceNotFound):
        env.driver.get_console_output(instance_id)
    env.driver.destroy(instance_id)  # idempotent
