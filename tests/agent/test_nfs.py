"""EFS mount targets with real namespaces, a real VPC dataplane and real nfs-ganesha servers.

One VPC, two subnets; a client namespace in each. File system fs-A has a mount target in each subnet
(mt-a allows NFS from the VPC, mt-b's security group only SSH). The clients speak NFSv4.0 with libnfs
(nfs-ls, nfs-cp from libnfs-utils: the host kernel has no NFS client). Torn down even when a test fails.
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.contract.naming import service_port
from agent.contract.network import (
    Attachment,
    Eni,
    HostNetwork,
    NaclEntry,
    NetworkAcl,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Vpc,
)
from agent.network import naming, netns
from agent.network.dataplane import Dataplane
from agent.nfs import reconciler as efs
from tests.agent import dataplane_lab as lab
from tests.prerequisites import missing_root, missing_tools, require

require(missing_root() + missing_tools("ganesha.nfsd", "nfs-ls", "nfs-cp", "nft", "nsenter"), "EFS namespace tests")
pytestmark = pytest.mark.root

FS = "fs-0a0a0a0a0a0a0a0a0"
MT_A, MT_B = "fsmt-0a0a0a0a0a0a0a0a1", "fsmt-0b0b0b0b0b0b0b0b1"
ENI_A, ENI_B = "eni-0a0a0a0a0a0a0a0a1", "eni-0b0b0b0b0b0b0b0b1"
AP = "fsap-0c0c0c0c0c0c0c0c1"
IP_A, IP_B = "10.77.1.5", "10.77.2.5"
ALLOW_ALL = [NaclEntry(100, False, "allow", "0.0.0.0/0"), NaclEntry(100, True, "allow", "0.0.0.0/0")]


def network(prefix: str, clients: dict[str, str], mt_b_groups: list[str]) -> HostNetwork:
    def client(eni_id: str, subnet: str, ip: str, ns: str) -> Eni:
        return Eni(eni_id, subnet, naming.mac_for(f"test:{ns}"), [ip], [], ["sg-client"],
                   attachment=Attachment(port="i" + naming.digest(ns, 9), kind="veth", instance_netns=ns))

    def mount_target(eni_id: str, subnet: str, ip: str, groups: list[str]) -> Eni:
        return Eni(eni_id, subnet, naming.mac_for(eni_id), [ip], [], groups,
                   attachment=Attachment(port=service_port(eni_id), kind="service"))

    vpc = Vpc("vpc-nfs", ["10.77.0.0/16"], "rtb-nfs", "acl-nfs",
              subnets=[Subnet("subnet-a", "10.77.1.0/24", "az1"), Subnet("subnet-b", "10.77.2.0/24", "az1")],
              route_tables=[RouteTable("rtb-nfs", [Route("10.77.0.0/16", "local")])],
              network_acls=[NetworkAcl("acl-nfs", ALLOW_ALL)],
              security_groups=[SecurityGroup("sg-client", [], [SgRule("-1", cidr="0.0.0.0/0")]),
                               SecurityGroup("sg-nfs", [SgRule("tcp", 2049, 2049, cidr="10.77.0.0/16")], []),
                               SecurityGroup("sg-ssh", [SgRule("tcp", 22, 22, cidr="10.77.0.0/16")], [])],
              enis=[client("eni-0c1", "subnet-a", "10.77.1.10", clients["c1"]),
                    client("eni-0c2", "subnet-b", "10.77.2.10", clients["c2"]),
                    mount_target(ENI_A, "subnet-a", IP_A, ["sg-nfs"]),
                    mount_target(ENI_B, "subnet-b", IP_B, mt_b_groups)])
    return HostNetwork("host-nfs", [vpc], name_prefix=prefix)


def section(access_points: list[dict] | None = None, targets: tuple[str, ...] = (MT_A, MT_B),
            file_systems: tuple[str, ...] = (FS,)) -> dict:
    rows = {MT_A: ("subnet-a", ENI_A, IP_A), MT_B: ("subnet-b", ENI_B, IP_B)}
    return {"mount_targets": [{"mount_target_id": mt, "file_system_id": FS, "vpc_id": "vpc-nfs",
                               "subnet_id": rows[mt][0], "interface_id": rows[mt][1], "ip": rows[mt][2],
                               "mac": naming.mac_for(rows[mt][1]), "prefix_len": 24,
                               "access_points": access_points or []} for mt in targets],
            "file_systems": list(file_systems)}


class Lab:
    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:5]
        self.prefix = f"cl-n{self.run}-"
        self.tmp = Path(tempfile.mkdtemp(prefix="cloudlet-nfs-"))
        os.chmod(self.tmp, 0o755)
        self.state = self.tmp / "state"
        self.dataplane = Dataplane(str(self.tmp / "run"))
        self.clients = {name: lab.create_instance(f"{self.prefix}{name}") for name in ("c1", "c2")}
        self.efs = efs.EfsReconciler(self.state, self.prefix, check_seconds=0.2)
        self.doc = network(self.prefix, {k: v.netns for k, v in self.clients.items()}, ["sg-ssh"])

    def converge(self, desired: dict, doc: HostNetwork | None = None, reconciler: efs.EfsReconciler | None = None,
                 timeout: float = 10.0) -> None:
        """What the agent's loop does: network, then efs, again while either waits."""
        reconciler = reconciler or self.efs
        deadline = time.monotonic() + timeout
        while True:
            report = self.dataplane.apply(doc or self.doc)
            reconciler.reconcile(desired)
            if not reconciler.wants_retry and not report.pending:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"still waiting: {reconciler.waiting} {report.pending}")
            time.sleep(0.1)

    def close(self) -> None:
        self.efs.close()
        efs.teardown(self.state)
        self.dataplane.teardown(self.prefix)
        for client in self.clients.values():
            lab.destroy(client)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def nfs_lab() -> Iterator[Lab]:
    world = Lab()
    try:
        world.dataplane.apply(world.doc)  # the clients' veths (the mount targets' ports wait for efs)
        lab.configure(world.clients["c1"], "10.77.1.10", 24, "10.77.1.1")
        lab.configure(world.clients["c2"], "10.77.2.10", 24, "10.77.2.1")
        world.converge(section())
        wait_serving(world.clients["c1"].netns, IP_A)
        yield world
    finally:
        world.close()


def connects(ns: str, ip: str, timeout: float = 1.0) -> bool:
    def attempt() -> bool:
        try:
            with socket.create_connection((ip, 2049), timeout=timeout):
                return True
        except OSError:
            return False

    return netns.run_inside(ns, attempt)


def wait_serving(ns: str, ip: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not connects(ns, ip, 0.5):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answers on {ip}:2049 from {ns}")
        time.sleep(0.2)


def running(pid: int) -> bool:
    """Alive and not a zombie (a server started by a reconciler object the test dropped is nobody's child)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def nfs(ns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={netns.path(ns)}", *argv], capture_output=True, text=True, timeout=30,
                          cwd="/")


def listing(ns: str, ip: str, path: str = "/") -> str:
    result = nfs(ns, "nfs-ls", f"nfs://{ip}{path}?version=4")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_mount_targets_serve_one_file_system_and_see_each_others_writes(nfs_lab: Lab) -> None:
    c1 = nfs_lab.clients["c1"].netns
    source = nfs_lab.tmp / "hello.txt"
    source.write_text("written through mt-a\n")
    result = nfs(c1, "nfs-cp", str(source), f"nfs://{IP_A}//hello.txt?version=4")
    assert result.returncode == 0, result.stderr
    data = efs.data_root(nfs_lab.state) / FS
    assert (data / "hello.txt").read_text() == "written through mt-a\n"
    # mt-b shares the directory: once its security group lets NFS in, c2 (the other subnet) lists the file.
    doc = network(nfs_lab.prefix, {k: v.netns for k, v in nfs_lab.clients.items()}, ["sg-nfs"])
    nfs_lab.converge(section(), doc)
    c2 = nfs_lab.clients["c2"].netns
    wait_serving(c2, IP_B)
    assert "hello.txt" in listing(c2, IP_B)
    assert "hello.txt" in listing(c2, IP_A)  # across subnets, through the VPC router
    nfs_lab.converge(section())  # back to mt-b's SSH-only group


def test_a_security_group_without_tcp_2049_blocks_the_mount_target(nfs_lab: Lab) -> None:
    c1, c2 = nfs_lab.clients["c1"].netns, nfs_lab.clients["c2"].netns
    server_b = nfs_lab.efs.servers.pid(MT_B)
    assert server_b is not None  # mt-b's server runs: only its security group stands in the way
    assert connects(c1, IP_A)
    assert not connects(c1, IP_B, 0.5) and not connects(c2, IP_B, 0.5)


def test_the_server_listens_on_the_mount_target_address_only(nfs_lab: Lab) -> None:
    ns = naming.service_netns(nfs_lab.prefix, ENI_A)
    listeners = subprocess.run(["nsenter", f"--net={netns.path(ns)}", "ss", "-Hltn"], capture_output=True,
                               text=True, check=True).stdout
    assert f"{IP_A}]:2049" in listeners or f"{IP_A}:2049" in listeners
    assert "*:111" not in listeners and ":111 " not in listeners  # no rpcbind: NFSv4 only
    udp = subprocess.run(["nsenter", f"--net={netns.path(ns)}", "ss", "-Hlun"], capture_output=True,
                         text=True, check=True).stdout
    assert ":2049" not in udp


def test_an_access_point_exports_its_root_directory_as_its_posix_user(nfs_lab: Lab) -> None:
    point = {"access_point_id": AP, "path": "/projects/alpha", "posix_user": {"uid": 4242, "gid": 4343},
             "creation_info": {"owner_uid": 4242, "owner_gid": 4343, "permissions": "0750"}}
    nfs_lab.converge(section([point]))
    c1 = nfs_lab.clients["c1"].netns
    wait_serving(c1, IP_A)
    root = efs.data_root(nfs_lab.state) / FS / "projects" / "alpha"
    assert (root.stat().st_uid, root.stat().st_gid, oct(root.stat().st_mode & 0o777)) == (4242, 4343, "0o750")
    (root / "inside.txt").write_text("x")
    assert "inside.txt" in listing(c1, IP_A, f"/.access-points/{AP}")
    source = nfs_lab.tmp / "via-ap.txt"
    source.write_text("through the access point\n")
    nfs(c1, "nfs-cp", str(source), f"nfs://{IP_A}/.access-points/{AP}//via-ap.txt?version=4")
    created = root / "via-ap.txt"
    assert created.exists(), "nothing was written through the access point"
    assert (created.stat().st_uid, created.stat().st_gid) == (4242, 4343)  # the client was root: squashed


def test_the_file_system_policy_limits_anonymous_clients_per_export(nfs_lab: Lab) -> None:
    read_only = {"access_point_id": AP, "path": "/projects/alpha", "posix_user": {"uid": 4242, "gid": 4343},
                 "client_access": {"mount": True, "write": False, "root": True}}
    desired = section([read_only])
    for target in desired["mount_targets"]:
        target["client_access"] = {"mount": False, "write": False, "root": False}  # access points only
    nfs_lab.converge(desired)
    c1 = nfs_lab.clients["c1"].netns
    wait_serving(c1, IP_A)
    # No ClientMount on the root: only ganesha's pseudo directory holding the junctions, no data.
    assert [line.split()[-1] for line in listing(c1, IP_A).splitlines()] == [".access-points"]
    assert "inside.txt" in listing(c1, IP_A, f"/.access-points/{AP}")
    source = nfs_lab.tmp / "refused.txt"
    source.write_text("no\n")
    nfs(c1, "nfs-cp", str(source), f"nfs://{IP_A}/.access-points/{AP}//refused.txt?version=4")
    assert not (efs.data_root(nfs_lab.state) / FS / "projects" / "alpha" / "refused.txt").exists()


def test_a_server_that_dies_is_restarted(nfs_lab: Lab) -> None:
    before = nfs_lab.efs.servers.pid(MT_A)
    assert before is not None
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while nfs_lab.efs.servers.pid(MT_A) in (None, before):
        assert time.monotonic() < deadline, "the watcher did not restart the server"
        time.sleep(0.1)
    wait_serving(nfs_lab.clients["c1"].netns, IP_A)


def test_a_restarted_agent_adopts_the_running_servers(nfs_lab: Lab) -> None:
    desired = copy.deepcopy(section())
    nfs_lab.converge(desired)
    pids = {mt: nfs_lab.efs.servers.pid(mt) for mt in (MT_A, MT_B)}
    nfs_lab.efs.close()
    nfs_lab.efs = efs.EfsReconciler(nfs_lab.state, nfs_lab.prefix, check_seconds=0.2)
    nfs_lab.converge(desired)
    assert {mt: nfs_lab.efs.servers.pid(mt) for mt in (MT_A, MT_B)} == pids
    assert None not in pids.values()


def test_a_mount_target_whose_interface_never_comes_is_waited_for_then_cleaned_up(nfs_lab: Lab) -> None:
    desired = section()
    orphan = dict(desired["mount_targets"][0], mount_target_id="fsmt-0d0d0d0d0d0d0d0d1",
                  interface_id="eni-0d0d0d0d0d0d0d0d1", ip="10.77.1.9", mac=naming.mac_for("eni-0d0d"))
    desired["mount_targets"].append(orphan)  # not in the network section: its eth0 is never plugged
    nfs_lab.efs.reconcile(desired)
    namespace = naming.service_netns(nfs_lab.prefix, "eni-0d0d0d0d0d0d0d0d1")
    assert nfs_lab.efs.wants_retry and netns.exists(namespace)
    assert nfs_lab.efs.servers.pid("fsmt-0d0d0d0d0d0d0d0d1") is None
    nfs_lab.efs.reconcile(section())
    assert not nfs_lab.efs.wants_retry and not netns.exists(namespace)
    assert "fsmt-0d0d0d0d0d0d0d0d1" not in nfs_lab.efs.servers.names()


def test_mount_targets_and_file_systems_that_leave_the_section_are_removed(nfs_lab: Lab) -> None:
    data = efs.data_root(nfs_lab.state) / FS
    pid_b = nfs_lab.efs.servers.pid(MT_B)
    nfs_lab.efs.reconcile(section(targets=(MT_A,)))
    assert nfs_lab.efs.servers.names() == [MT_A]
    assert not netns.exists(naming.service_netns(nfs_lab.prefix, ENI_B))
    assert pid_b is not None and not running(pid_b)
    assert data.is_dir()  # mt-a still serves the file system
    pid_a = nfs_lab.efs.servers.pid(MT_A)
    nfs_lab.efs.reconcile(section(targets=(), file_systems=()))
    assert nfs_lab.efs.servers.names() == [] and not data.exists()
    assert pid_a is not None and not running(pid_a)
