"""EBS volumes with real VMs, through boto3 against a real Cloudlet (issue #12's test list for EBS).

One controller (``cloudlet up --no-agent``) and one agent process (root, libvirt, QEMU under TCG where KVM
cannot run guests) in their own state dir and namespace prefix. Two tiny-AMI instances, A and B, in the
same zone are shared by the tests, which run in file order:

bytes written to a volume on A are read on B after a detach and attach (the guest finds the disk by its
serial, the volume id) -> the gp3 caps are the domain's iotune -> a live snapshot restored to a new volume
holds the bytes -> growing a live volume is seen by the guest -> an encrypted volume's raw qcow2 file holds
no plaintext (while an unencrypted one's does) -> after an agent restart nothing is detached or re-made.

Without root, QEMU, libvirt or dnsmasq the module is skipped, unless CLOUDLET_REQUIRE_VM_TESTS=1 (CI).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import terminate_all_instances
from tests.prerequisites import missing_for_vms, require
from tests.support import CloudletProcess, wait_for

REPO = Path(__file__).resolve().parents[2]
GIB = 1 << 30


require(missing_for_vms("qemu-io"), "EBS VM tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

import paramiko  # noqa: E402

from tests.agent.compute_lab import build_tiny_image, ensure_libvirtd, ssh_in_namespace  # noqa: E402


@dataclass
class Env:
    cloud: CloudletProcess
    work: Path
    prefix: str
    agent_args: list[str] = field(default_factory=list)
    agent: subprocess.Popen[bytes] | None = None
    key: paramiko.PKey | None = None
    zone: str = "home-1a"

    @property
    def pool(self) -> Path:
        return self.work / "agent" / "compute" / "volumes"

    def start_agent(self) -> None:
        env = {**{k: v for k, v in os.environ.items() if k != "CLOUDLET_COMPUTE_DIR"}, "PYTHONUNBUFFERED": "1"}
        log = (self.work / "agent.log").open("ab")
        self.agent = subprocess.Popen(self.agent_args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop_agent(self) -> None:
        if self.agent is not None and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            try:
                self.agent.wait(20)
            except subprocess.TimeoutExpired:
                self.agent.kill()

    def ec2(self) -> Any:
        return self.cloud.client("ec2")

    def hypervisor(self) -> str | None:
        """What the agent registered (None before it did)."""
        token = (self.cloud.data_dir / "agent.token").read_text().strip()
        request = urllib.request.Request(f"{self.cloud.endpoint}/_cloudlet/agent/v1/hosts",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            hosts = json.loads(response.read())["hosts"]
        return next((h["hypervisor"] for h in hosts if h["zone"] == self.zone), None)

    def instance(self, instance_id: str) -> dict[str, Any]:
        return self.ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def volume(self, volume_id: str) -> dict[str, Any]:
        return self.ec2().describe_volumes(VolumeIds=[volume_id])["Volumes"][0]




def ssh(env: Env, instance_id: str, command: str, timeout: float = 120.0) -> str:
    """Run ``command`` as root on the instance, from inside its VPC (retrying until SSH answers)."""
    instance = env.instance(instance_id)
    return ssh_in_namespace(f"{env.prefix}{instance['VpcId']}", instance["PrivateIpAddress"], env.key, command,
                            timeout=timeout, command_timeout=60)


def device_of(volume_id: str) -> str:
    """Shell that prints the guest's disk whose serial is the volume's (the guest names disks in probe order)."""
    serial = volume_id.replace("-", "")
    return f"$(grep -l '^{serial}$' /sys/block/vd*/serial | cut -d/ -f4)"


def guest_sees(env: Env, instance_id: str, volume_id: str) -> bool:
    serial = volume_id.replace("-", "")
    return serial in ssh(env, instance_id, "cat /sys/block/vd*/serial; echo")


def write_marker(env: Env, instance_id: str, volume_id: str, marker: str, copies: int = 1) -> None:
    ssh(env, instance_id, f"d=/dev/{device_of(volume_id)}; i=0; while [ $i -lt {copies} ]; do "
                          f"printf '%-64s' '{marker}'; i=$((i+1)); done | dd of=$d bs=64 conv=fsync 2>/dev/null")


def read_marker(env: Env, instance_id: str, volume_id: str) -> str:
    return ssh(env, instance_id, f"dd if=/dev/{device_of(volume_id)} bs=64 count=1 2>/dev/null").strip()


def attach(env: Env, volume_id: str, instance_id: str, device: str) -> None:
    env.ec2().attach_volume(VolumeId=volume_id, InstanceId=instance_id, Device=device)
    wait_for(lambda: (v := env.volume(volume_id))["State"] == "in-use"
             and v["Attachments"][0]["State"] == "attached", 60, f"{volume_id} attached to {instance_id}")
    wait_for(lambda: guest_sees(env, instance_id, volume_id), 30, f"{volume_id} in the guest of {instance_id}")


def detach(env: Env, volume_id: str) -> None:
    env.ec2().detach_volume(VolumeId=volume_id)
    wait_for(lambda: env.volume(volume_id)["State"] == "available", 90, f"{volume_id} detached")


def create_volume(env: Env, **params: Any) -> str:
    volume_id = env.ec2().create_volume(AvailabilityZone=env.zone, **params)["VolumeId"]
    wait_for(lambda: env.volume(volume_id)["State"] == "available", 90, f"{volume_id} available")
    return volume_id


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    ensure_libvirtd()
    build_tiny_image()
    run = secrets.token_hex(3)
    # Not under pytest's 0700 temp dirs: QEMU (libvirt-qemu) and dnsmasq (nobody) must traverse these paths.
    work = Path("/var/tmp") / f"cl-e2e-ebs-{run}"
    work.mkdir(mode=0o755)
    cloud = CloudletProcess(work / "data")
    env = Env(cloud, work, f"cl-b{run[:4]}-")
    try:
        cloud.start()
        env.agent_args = [sys.executable, "-m", "agent.main", "--controller", cloud.endpoint, "--token-file",
                          str(work / "data" / "agent.token"), "--zone", env.zone, "--state-dir", str(work / "agent"),
                          "--name-prefix", env.prefix]
        env.start_agent()
        wait_for(lambda: env.hypervisor() in ("kvm", "qemu"), 90, "the agent to register a hypervisor")
        key = env.ec2().create_key_pair(KeyName="k", KeyType="ed25519")["KeyMaterial"]
        (work / "k.pem").write_text(key)
        env.key = paramiko.Ed25519Key.from_private_key_file(str(work / "k.pem"))
        yield env
    finally:
        _clean_up(env)


def _clean_up(env: Env) -> None:
    try:
        if env.cloud.proc is not None:
            terminate_all_instances(env.ec2())
    except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever happened
        print(f"cleanup: termination through the API failed: {exc}")
    env.stop_agent()
    compute = env.work / "agent" / "compute"
    if compute.exists():
        from agent.compute.libvirt_driver import LibvirtDriver
        from agent.compute.spec import Accelerator

        driver = LibvirtDriver(compute, Accelerator.TCG)
        try:
            for instance_id in driver.list_instances():
                driver.destroy(instance_id)
            driver.prune_volume_secrets(env.pool, set())
        finally:
            driver.connection.close()
    subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", env.prefix, "--state-dir",
                    str(env.work / "agent")], cwd=REPO, capture_output=True)
    env.cloud.stop()
    shutil.rmtree(env.work, ignore_errors=True)


@pytest.fixture(scope="module")
def pair(env: Env) -> tuple[str, str]:
    """Instances A and B, running, in the same zone."""
    ec2 = env.ec2()
    image_id = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["cloudlet-tiny-*"]}]
                                   )["Images"][0]["ImageId"]
    root_device = ec2.describe_images(ImageIds=[image_id])["Images"][0]["RootDeviceName"]
    launched = ec2.run_instances(ImageId=image_id, InstanceType="t3.micro", KeyName="k", MinCount=2, MaxCount=2,
                                 Placement={"AvailabilityZone": env.zone},
                                 BlockDeviceMappings=[{"DeviceName": root_device,
                                                       "Ebs": {"DeleteOnTermination": False}},
                                                      {"DeviceName": "/dev/sdb",
                                                       "Ebs": {"VolumeSize": 1, "VolumeType": "gp3"}}])["Instances"]
    first, second = (i["InstanceId"] for i in launched)
    for instance_id in (first, second):
        wait_for(lambda i=instance_id: env.instance(i)["State"]["Name"] == "running", 120, f"{instance_id} running")
        ssh(env, instance_id, "true")
    return first, second


@pytest.fixture(scope="module")
def moved(env: Env, pair: tuple[str, str]) -> dict[str, str]:
    """A gp3 volume written on A, moved to B; and the marker it holds."""
    return {"volume_id": create_volume(env, Size=1, VolumeType="gp3"), "marker": f"ebs-{secrets.token_hex(8)}"}


def test_volumes_of_the_launch_are_attached_to_the_guest(env: Env, pair: tuple[str, str]) -> None:
    extras = {}
    for instance_id in pair:
        extras[instance_id] = extra = next(m["Ebs"]["VolumeId"] for m in env.instance(instance_id)[
            "BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdb")
        wait_for(lambda v=extra: env.volume(v)["Attachments"][0]["State"] == "attached", 60,
                 f"{extra} attached at launch")
        assert guest_sees(env, instance_id, extra)
    # formatted and mounted inside the instance (busybox's mke2fs), as the README's walk-through does
    ssh(env, pair[0], f"d=/dev/{device_of(extras[pair[0]])}; mke2fs $d >/dev/null && mkdir -p /data && "
                      "mount $d /data && echo hello > /data/f && umount /data")
    assert ssh(env, pair[0], f"mount /dev/{device_of(extras[pair[0]])} /data && cat /data/f && umount /data"
               ).strip() == "hello"


def test_bytes_written_on_a_are_read_on_b_after_detach_and_attach(env: Env, pair: tuple[str, str],
                                                                 moved: dict[str, str]) -> None:
    first, second = pair
    volume_id, marker = moved["volume_id"], moved["marker"]
    attach(env, volume_id, first, "/dev/sdf")
    assert env.ec2().describe_volumes(VolumeIds=[volume_id])["Volumes"][0]["Attachments"][0]["Device"] == "/dev/sdf"
    write_marker(env, first, volume_id, marker)
    assert read_marker(env, first, volume_id) == marker
    detach(env, volume_id)
    assert not guest_sees(env, first, volume_id)  # the guest released it before the API said available
    attach(env, volume_id, second, "/dev/sdg")
    assert read_marker(env, second, volume_id) == marker


def test_gp3_caps_are_the_domains_iotune(env: Env, pair: tuple[str, str], moved: dict[str, str]) -> None:
    xml = subprocess.run(["virsh", "-c", "qemu:///system", "dumpxml", pair[1]], capture_output=True, text=True,
                         check=True).stdout
    disk = next(d for d in xml.split("<disk")[1:] if moved["volume_id"].replace("-", "") in d)
    assert "<total_iops_sec>3000</total_iops_sec>" in disk
    assert f"<total_bytes_sec>{125 << 20}</total_bytes_sec>" in disk
    env.ec2().modify_volume(VolumeId=moved["volume_id"], Throughput=200)

    def retuned() -> bool:
        dumped = subprocess.run(["virsh", "-c", "qemu:///system", "dumpxml", pair[1]], capture_output=True,
                                text=True).stdout
        return f"<total_bytes_sec>{200 << 20}</total_bytes_sec>" in dumped

    wait_for(retuned, 60, "the new throughput cap on the live domain")
    instance = env.instance(pair[1])
    root = env.volume(next(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]
                           if m["DeviceName"] == instance["RootDeviceName"]))
    root_disk = next(d for d in xml.split("<disk")[1:] if root["VolumeId"].replace("-", "") in d)
    assert f"<total_iops_sec>{root['Iops']}</total_iops_sec>" in root_disk  # root volumes are capped too


def test_a_live_snapshot_restored_to_a_new_volume_holds_the_data(env: Env, pair: tuple[str, str],
                                                                 moved: dict[str, str]) -> None:
    ec2 = env.ec2()
    snapshot_id = ec2.create_snapshot(VolumeId=moved["volume_id"], Description="moved")["SnapshotId"]
    snapshot = wait_for(lambda: (s := ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0])["State"]
                        != "pending" and s, 120, "the snapshot")
    assert snapshot["State"] == "completed", snapshot.get("StateMessage")
    assert env.volume(moved["volume_id"])["Attachments"][0]["InstanceId"] == pair[1]  # taken live, still attached
    restored = create_volume(env, SnapshotId=snapshot_id, Size=2)
    attach(env, restored, pair[0], "/dev/sdh")
    assert read_marker(env, pair[0], restored) == moved["marker"]
    assert ssh(env, pair[0], f"cat /sys/block/{device_of(restored)}/size").strip() == str(2 * GIB // 512)
    moved["restored"] = restored


def test_growing_a_live_volume_is_seen_by_the_guest(env: Env, pair: tuple[str, str], moved: dict[str, str]) -> None:
    volume_id = moved["restored"]
    env.ec2().modify_volume(VolumeId=volume_id, Size=3)
    wait_for(lambda: ssh(env, pair[0], f"cat /sys/block/{device_of(volume_id)}/size").strip()
             == str(3 * GIB // 512), 90, "the guest to see 3 GiB")
    assert read_marker(env, pair[0], volume_id) == moved["marker"]


def test_an_encrypted_volume_file_holds_no_plaintext(env: Env, pair: tuple[str, str], moved: dict[str, str]) -> None:
    marker = f"secret-{secrets.token_hex(8)}"
    encrypted = create_volume(env, Size=1, Encrypted=True)
    assert env.volume(encrypted)["Encrypted"] is True
    attach(env, encrypted, pair[0], "/dev/sdi")
    write_marker(env, pair[0], encrypted, marker, copies=1024)
    write_marker(env, pair[1], moved["volume_id"], marker, copies=1024)
    assert read_marker(env, pair[0], encrypted) == marker
    assert marker.encode() in (env.pool / f"{moved['volume_id']}.qcow2").read_bytes()  # the control: plaintext
    assert marker.encode() not in (env.pool / f"{encrypted}.qcow2").read_bytes()
    moved["encrypted"], moved["secret"] = encrypted, marker


def test_a_live_snapshot_of_an_encrypted_volume_stays_encrypted_and_restores(env: Env, pair: tuple[str, str],
                                                                            moved: dict[str, str]) -> None:
    ec2 = env.ec2()
    snapshot_id = ec2.create_snapshot(VolumeId=moved["encrypted"])["SnapshotId"]
    snapshot = wait_for(lambda: (s := ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0])["State"]
                        != "pending" and s, 120, "the snapshot")
    assert snapshot["State"] == "completed", snapshot.get("StateMessage")
    assert snapshot["Encrypted"] is True
    restored = create_volume(env, SnapshotId=snapshot_id)
    assert env.volume(restored)["Encrypted"] is True
    assert moved["secret"].encode() not in (env.pool / f"{restored}.qcow2").read_bytes()
    attach(env, restored, pair[1], "/dev/sdj")
    assert read_marker(env, pair[1], restored) == moved["secret"]


def test_a_volume_attached_to_a_stopped_instance_is_there_when_it_boots(env: Env, pair: tuple[str, str]) -> None:
    ec2 = env.ec2()
    volume_id = create_volume(env, Size=1)
    ec2.stop_instances(InstanceIds=[pair[0]])
    wait_for(lambda: env.instance(pair[0])["State"]["Name"] == "stopped", 90, "stopped")
    ec2.attach_volume(VolumeId=volume_id, InstanceId=pair[0], Device="/dev/sdk")
    wait_for(lambda: env.volume(volume_id)["Attachments"][0]["State"] == "attached", 60, "attached while stopped")
    ec2.start_instances(InstanceIds=[pair[0]])
    wait_for(lambda: env.instance(pair[0])["State"]["Name"] == "running", 120, "running again")
    assert guest_sees(env, pair[0], volume_id)


def test_after_an_agent_restart_attachments_and_files_stay_as_they_are(env: Env, pair: tuple[str, str],
                                                                       moved: dict[str, str]) -> None:
    files = {p.name: p.stat().st_ino for p in env.pool.glob("vol-*.qcow2")}
    uptime = float(ssh(env, pair[1], "cut -d' ' -f1 /proc/uptime"))
    env.stop_agent()
    env.start_agent()
    status = env.work / "agent" / "status.json"
    assert env.agent is not None
    wait_for(lambda: status.exists() and f'"pid": {env.agent.pid}' in status.read_text()
             and '"volumes"' in status.read_text(), 90, "the restarted agent to reconcile")
    assert {p.name: p.stat().st_ino for p in env.pool.glob("vol-*.qcow2")} == files
    assert read_marker(env, pair[1], moved["volume_id"]).startswith("secret-")
    assert float(ssh(env, pair[1], "cut -d' ' -f1 /proc/uptime")) > uptime
    assert {v["VolumeId"]: v["State"] for v in env.ec2().describe_volumes(
        VolumeIds=[moved["volume_id"], moved["restored"]])["Volumes"]} == {
        moved["volume_id"]: "in-use", moved["restored"]: "in-use"}


def test_a_root_volume_kept_at_termination_is_an_ordinary_volume_in_the_pool(env: Env, pair: tuple[str, str]) -> None:
    ec2 = env.ec2()
    marker = f"root-{secrets.token_hex(8)}"
    ssh(env, pair[0], f"echo {marker} > /root/kept-marker && sync")
    instance = env.instance(pair[0])
    root_volume = next(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]
                       if m["DeviceName"] == instance["RootDeviceName"])
    ec2.terminate_instances(InstanceIds=[pair[0]])
    wait_for(lambda: env.volume(root_volume)["State"] == "available", 90, "the kept root volume available")
    kept = env.pool / f"{root_volume}.qcow2"
    info = subprocess.run(["qemu-img", "info", "-U", kept], capture_output=True, text=True, check=True).stdout
    assert "backing file" not in info  # standalone: the AMI's base is flattened in
    assert marker.encode() in kept.read_bytes()
    attach(env, root_volume, pair[1], "/dev/sdl")


def test_a_snapshot_of_a_running_root_volume_is_flattened_and_restores(env: Env, pair: tuple[str, str]) -> None:
    ec2 = env.ec2()
    marker = f"snaproot-{secrets.token_hex(8)}"
    ssh(env, pair[1], f"echo {marker} > /root/snap-marker && sync")
    instance = env.instance(pair[1])
    root = next(m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]
                if m["DeviceName"] == instance["RootDeviceName"])
    snapshot_id = ec2.create_snapshot(VolumeId=root)["SnapshotId"]
    snapshot = wait_for(lambda: (s := ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0])["State"]
                        != "pending" and s, 120, "the root snapshot")
    assert snapshot["State"] == "completed", snapshot.get("StateMessage")
    restored = create_volume(env, SnapshotId=snapshot_id)
    image = env.pool / f"{restored}.qcow2"
    info = subprocess.run(["qemu-img", "info", "-U", image], capture_output=True, text=True, check=True).stdout
    assert "backing file" not in info and marker.encode() in image.read_bytes()
