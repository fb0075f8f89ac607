"""EFS with real VMs and real NFS: two instances mount one file system and see each other's files, and a
mount target whose security group has no TCP 2049 cannot be mounted.

One controller and one agent run as on a host (root, libvirt, QEMU under TCG, nfs-ganesha), the agent with
its own state dir and namespace prefix. The guests are tiny-AMI instances whose user-data script mounts
with busybox ``mount -t nfs4`` and reports on the serial console, read back with GetConsoleOutput (no SSH
needed). Two small instances only, both launched at once: TCG is slow and the machine is shared.
Everything is removed at the end, also when a test fails.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import terminate_all_instances
from tests.prerequisites import missing_for_vms, require
from tests.support import CloudletProcess, wait_for

REPO = Path(__file__).resolve().parents[2]
ZONE = "home-1a"


require(missing_for_vms("ganesha.nfsd"), "EFS VM tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

from tests.agent.compute_lab import build_tiny_image, destroy_leftover_domains, ensure_libvirtd  # noqa: E402

#: Mounts the shared file system, then tries the mount target whose security group lacks TCP 2049 in the
#: background (``timeout`` ends the hanging mount after 20 s, which the rest of the script no longer waits out
#: first), writes a file named after the guest, waits for the other guest's file, writes through the access
#: point, and waits for the blocked mount's verdict.
USER_DATA = """#!/bin/sh
me=$(hostname)
mkdir -p /mnt/efs /mnt/blocked
for i in $(seq 1 60); do
    timeout 60 mount -t nfs4 -o nfsvers=4.1 {shared}:/ /mnt/efs 2>/dev/null && break
    sleep 2
done
grep -q " /mnt/efs nfs4 " /proc/mounts && echo "EFS-MOUNTED $me" || echo "EFS-MOUNT-FAILED $me"
(timeout 20 mount -t nfs4 -o nfsvers=4.1 {blocked}:/ /mnt/blocked; echo "EFS-BLOCKED-MOUNT $me rc=$?") &
blocked=$!
echo "written by $me" > /mnt/efs/from-$me
for i in $(seq 1 120); do
    [ "$(ls /mnt/efs | grep -c '^from-')" -ge 2 ] && break
    sleep 1
done
echo "EFS-SEES $me: $(ls /mnt/efs | grep '^from-' | tr '\\n' ' ')"
for f in /mnt/efs/from-*; do echo "EFS-READ $me: $(cat $f)"; done
mkdir -p /mnt/ap
timeout 60 mount -t nfs4 -o nfsvers=4.1 {shared}:/.access-points/{access_point} /mnt/ap && \
    echo "through the access point" > /mnt/ap/from-$me
echo "EFS-ACCESS-POINT $me rc=$?"
wait $blocked
echo "EFS-DONE $me"
"""


@dataclass
class Env:
    cloud: CloudletProcess
    work: Path
    prefix: str
    agent: subprocess.Popen[bytes] | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def agent_dir(self) -> Path:
        return self.work / "agent"

    def ec2(self) -> Any:
        return self.cloud.client("ec2")

    def efs(self) -> Any:
        return self.cloud.client("efs")




@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    ensure_libvirtd()
    build_tiny_image()
    run = secrets.token_hex(3)
    work = Path("/var/tmp") / f"cl-e2e-efs-{run}"  # QEMU and dnsmasq must traverse it: not pytest's 0700 dirs
    work.mkdir(mode=0o755)
    environment = Env(CloudletProcess(work / "data"), work, f"cl-f{run[:4]}-")
    try:
        environment.cloud.start()
        argv = [sys.executable, "-m", "agent.main", "--controller", environment.cloud.endpoint, "--token-file",
                str(work / "data" / "agent.token"), "--zone", ZONE, "--state-dir", str(environment.agent_dir),
                "--name-prefix", environment.prefix]
        log = (work / "agent.log").open("ab")
        environment.agent = subprocess.Popen(argv, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                             stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: "efs" in (_host(environment) or {}).get("capabilities", []), 90,
                 "the agent to register with EFS", interval=0.5)
        yield environment
    finally:
        _clean_up(environment)


def _host(env: Env) -> dict[str, Any] | None:
    import json
    import urllib.request

    token = (env.cloud.data_dir / "agent.token").read_text().strip()
    request = urllib.request.Request(f"{env.cloud.endpoint}/_cloudlet/agent/v1/hosts",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        hosts = json.loads(response.read())["hosts"]
    return hosts[0] if hosts else None


def _clean_up(env: Env) -> None:
    """Terminate the instances, stop the agent, remove domains, NFS servers, namespaces and files."""
    try:
        if env.cloud.proc is not None:
            terminate_all_instances(env.ec2())
    except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever happened
        print(f"cleanup: termination through the API failed: {exc}")
    if env.agent is not None and env.agent.poll() is None:
        env.agent.terminate()
        try:
            env.agent.wait(15)
        except subprocess.TimeoutExpired:
            env.agent.kill()
    if (env.agent_dir / "compute").exists():
        destroy_leftover_domains(env.agent_dir / "compute")
    subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", env.prefix, "--state-dir",
                    str(env.agent_dir)], cwd=REPO, capture_output=True)
    env.cloud.stop()
    shutil.rmtree(env.work, ignore_errors=True)


def _file_system(env: Env, token: str) -> str:
    efs = env.efs()
    file_system_id = efs.create_file_system(CreationToken=token)["FileSystemId"]
    wait_for(lambda: efs.describe_file_systems(FileSystemId=file_system_id)["FileSystems"][0]["LifeCycleState"]
             == "available", 30, f"{file_system_id} available", interval=0.5)
    return file_system_id


@pytest.fixture(scope="module")
def guests(env: Env) -> dict[str, str]:
    """Two file systems with a mount target each in the default subnet (one reachable on TCP 2049, one
    whose group only opens SSH), then two instances whose user-data mounts them; their console outputs."""
    ec2, efs = env.ec2(), env.efs()
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},  # the agent's zone
                                           {"Name": "availability-zone", "Values": [ZONE]}])["Subnets"][0]
    groups = {}
    for name, port in (("nfs", 2049), ("ssh-only", 22)):
        group_id = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc["VpcId"])["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": vpc["CidrBlock"]}]}])
        groups[name] = group_id
    shared, blocked = _file_system(env, "shared"), _file_system(env, "blocked")
    targets = {}
    for file_system_id, group in ((shared, "nfs"), (blocked, "ssh-only")):
        target = efs.create_mount_target(FileSystemId=file_system_id, SubnetId=subnet["SubnetId"],
                                         SecurityGroups=[groups[group]])
        targets[file_system_id] = target["IpAddress"]
        wait_for(lambda t=target: efs.describe_mount_targets(MountTargetId=t["MountTargetId"])["MountTargets"][0]
                 ["LifeCycleState"] == "available", 30, "the mount target available", interval=0.5)
    access_point = efs.create_access_point(FileSystemId=shared, PosixUser={"Uid": 1001, "Gid": 1002},
                                           RootDirectory={"Path": "/team", "CreationInfo": {
                                               "OwnerUid": 1001, "OwnerGid": 1002, "Permissions": "750"}})
    env.facts.update(shared=shared, blocked=blocked, targets=targets)
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["cloudlet-tiny-*"]}])
    script = USER_DATA.format(shared=targets[shared], blocked=targets[blocked],
                              access_point=access_point["AccessPointId"])
    reservation = ec2.run_instances(ImageId=images["Images"][0]["ImageId"], InstanceType="t3.micro", MinCount=2,
                                    MaxCount=2, SubnetId=subnet["SubnetId"], UserData=script)
    instance_ids = [i["InstanceId"] for i in reservation["Instances"]]

    def consoles() -> dict[str, str] | None:
        found = {i: ec2.get_console_output(InstanceId=i).get("Output", "") for i in instance_ids}
        return found if all("EFS-DONE" in text for text in found.values()) else None

    return wait_for(consoles, 420, "both guests' EFS-DONE on their consoles", interval=3.0)


def test_two_instances_mount_one_file_system_and_see_each_others_files(env: Env, guests: dict[str, str]) -> None:
    names = []
    for text in guests.values():
        assert "EFS-MOUNTED" in text, text[-3000:]
        names.append(re.search(r"EFS-MOUNTED (\S+)", text).group(1))  # type: ignore[union-attr]
    expected = sorted(f"from-{name}" for name in names)
    for text in guests.values():
        seen = re.search(r"EFS-SEES \S+: (.*)", text).group(1).split()  # type: ignore[union-attr]
        assert sorted(seen) == expected, text[-3000:]
        for name in names:
            assert f"written by {name}" in text  # read back over NFS, whoever wrote it
    data = env.agent_dir / "efs" / env.facts["shared"]
    assert sorted(p.name for p in data.glob("from-*")) == expected  # the bytes live in the agent's EFS store


def test_an_access_point_mount_acts_as_its_posix_user_in_its_root_directory(env: Env,
                                                                           guests: dict[str, str]) -> None:
    root = env.agent_dir / "efs" / env.facts["shared"] / "team"
    assert (root.stat().st_uid, root.stat().st_gid, oct(root.stat().st_mode & 0o777)) == (1001, 1002, "0o750")
    for text in guests.values():
        assert re.search(r"EFS-ACCESS-POINT \S+ rc=0", text), text[-3000:]
    written = sorted(root.glob("from-*"))
    assert len(written) == 2  # the guests wrote as root; the access point made them uid 1001, gid 1002
    assert all((path.stat().st_uid, path.stat().st_gid) == (1001, 1002) for path in written)


def test_a_mount_target_whose_security_group_lacks_tcp_2049_cannot_be_mounted(guests: dict[str, str]) -> None:
    for text in guests.values():
        code = re.search(r"EFS-BLOCKED-MOUNT \S+ rc=(\d+)", text)
        assert code is not None and code.group(1) != "0", text[-3000:]
