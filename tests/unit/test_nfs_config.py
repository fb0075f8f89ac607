"""EFS on the agent, pure parts: the efs section, ganesha's configuration, access point directories, and
the network plan's service ports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.contract.efs import AccessPoint, CreationInfo, PosixUser, is_safe_path, parse
from agent.contract.naming import service_port
from agent.contract.network import Attachment, Eni, HostNetwork, NetworkAcl, RouteTable, Subnet, Vpc
from agent.contract.version import ContractError
from agent.network import naming
from agent.network.plan import plan_host
from agent.network.validate import problems as network_problems
from agent.nfs import ganesha, storage

FS = "fs-0123456789abcdef0"
ENI = "eni-0aaaaaaaaaaaaaaa1"


def target(**overrides: object) -> dict:
    item = {"mount_target_id": "fsmt-0123456789abcdef0", "file_system_id": FS, "vpc_id": "vpc-01234567",
            "subnet_id": "subnet-01234567", "interface_id": ENI, "ip": "10.0.1.5", "mac": "02:00:00:00:00:05",
            "prefix_len": 24, "access_points": []}
    item.update(overrides)
    return item


def test_section_reads_the_contract_document() -> None:
    section = parse({"mount_targets": [target(access_points=[{
        "access_point_id": "fsap-0123456789abcdef0", "path": "/export/a",
        "posix_user": {"uid": 1000, "gid": 1001, "secondary_gids": [5]},
        "creation_info": {"owner_uid": 1000, "owner_gid": 1001, "permissions": "0750"}}])],
        "file_systems": [FS]})
    mount_target = section.mount_targets[0]
    assert mount_target.gateway == "10.0.1.1"
    point = mount_target.access_points[0]
    assert point.posix_user == PosixUser(1000, 1001, [5])
    assert point.creation_info == CreationInfo(1000, 1001, "0750")
    assert parse(None).mount_targets == []


@pytest.mark.parametrize("bad", [
    {"mount_target_id": "fsmt-../../etc"}, {"file_system_id": "fs-x/.."}, {"interface_id": "eth0"},
    {"ip": "10.0.2.5", "prefix_len": 33}, {"mac": "zz"},
    {"access_points": [{"access_point_id": "fsap-0123456789abcdef0", "path": "/a/../../etc"}]},
    {"access_points": [{"access_point_id": "fsap-0123456789abcdef0", "path": "/a",
                        "creation_info": {"owner_uid": 0, "owner_gid": 0, "permissions": "rwx"}}]},
])
def test_malformed_sections_are_refused_whole(bad: dict) -> None:
    with pytest.raises(ContractError):
        parse({"mount_targets": [target(**bad)], "file_systems": [FS]})


def test_a_mount_target_listed_twice_is_refused() -> None:
    with pytest.raises(ContractError, match="twice"):
        parse({"mount_targets": [target(), target()], "file_systems": [FS]})


@pytest.mark.parametrize(("path", "safe"), [("/", True), ("/export/a", True), ("/a/", True), ("a", False),
                                            ("/a/..", False), ("/./a", False), ("/a//b", False)])
def test_access_point_paths_cannot_climb_out(path: str, safe: bool) -> None:
    assert is_safe_path(path) is safe


def test_ganesha_serves_nfsv4_only_on_the_mount_target_address() -> None:
    mount_target = parse({"mount_targets": [target(access_points=[
        {"access_point_id": "fsap-0000000000000000b", "path": "/b", "posix_user": {"uid": 7, "gid": 8}},
        {"access_point_id": "fsap-0000000000000000a", "path": "/a"},
        {"access_point_id": "fsap-0000000000000000c", "path": "/missing"}])]}).mount_targets[0]
    paths = ganesha.ServerPaths("/data/fs", "/run/srv/recovery", {"fsap-0000000000000000a": "/data/fs/a",
                                                                   "fsap-0000000000000000b": "/data/fs/b"})
    text = ganesha.config(mount_target, paths)
    core = text.split("}")[0]
    assert "Protocols = 4;" in core and "Bind_addr = 10.0.1.5;" in core and "NFS_Port = 2049;" in core
    assert "Enable_NLM = false;" in core and "Enable_UDP = false;" in core
    assert 'RecoveryRoot = "/run/srv/recovery";' in text and "Graceless = true;" in text
    exports = text.split("EXPORT {")[1:]
    assert len(exports) == 3  # the root and the two access points whose directory exists
    assert 'Path = "/data/fs";' in exports[0] and 'Pseudo = "/";' in exports[0]
    assert "No_Root_Squash" in exports[0]
    assert 'Pseudo = "/.access-points/fsap-0000000000000000a";' in exports[1] and "No_Root_Squash" in exports[1]
    assert 'Path = "/data/fs/b";' in exports[2] and "Squash = All;" in exports[2]
    assert "Anonymous_Uid = 7;" in exports[2] and "Anonymous_Gid = 8;" in exports[2]
    assert [line.strip() for line in text.splitlines() if "Export_Id" in line] == [
        "Export_Id = 1;", "Export_Id = 2;", "Export_Id = 3;"]


def test_the_file_system_policy_shapes_each_export() -> None:
    mount_target = parse({"mount_targets": [target(
        client_access={"mount": True, "write": False, "root": False},
        access_points=[{"access_point_id": "fsap-0000000000000000a", "path": "/a",
                        "client_access": {"mount": False, "write": True, "root": True}},
                       {"access_point_id": "fsap-0000000000000000b", "path": "/b"}])]}).mount_targets[0]
    paths = ganesha.ServerPaths("/data/fs", "/r", {"fsap-0000000000000000a": "/data/fs/a",
                                                   "fsap-0000000000000000b": "/data/fs/b"})
    exports = ganesha.config(mount_target, paths).split("EXPORT {")[1:]
    assert len(exports) == 2  # no ClientMount through fsap-…a: no export for it
    assert "Access_Type = RO;" in exports[0] and "Squash = Root_Squash;" in exports[0]
    assert "fsap-0000000000000000b" in exports[1] and "Access_Type = RW;" in exports[1]
    mount_target.client_access.mount = False  # access points only: the root is not exported at all
    exports = ganesha.config(mount_target, paths).split("EXPORT {")[1:]
    assert len(exports) == 1 and 'Pseudo = "/";' not in exports[0]


def test_access_point_directories_are_created_with_their_creation_info(tmp_path: Path) -> None:
    data = storage.ensure_file_system(tmp_path / "efs", FS)
    assert oct(data.stat().st_mode & 0o777) == "0o755"
    uid, gid = os.getuid(), os.getgid()
    point = AccessPoint("fsap-0123456789abcdef0", "/export/a", PosixUser(uid, gid),
                        CreationInfo(uid, gid, "0750"))
    assert storage.prepare_access_point(data, point) == str(data / "export" / "a")
    assert oct((data / "export" / "a").stat().st_mode & 0o777) == "0o750"
    assert (data / ganesha.JUNCTION_DIR / point.access_point_id).is_dir()
    (data / "export" / "a").chmod(0o700)  # an existing root directory is left as it is
    storage.prepare_access_point(data, point)
    assert oct((data / "export" / "a").stat().st_mode & 0o777) == "0o700"
    missing = AccessPoint("fsap-0123456789abcdef1", "/nowhere")
    assert storage.prepare_access_point(data, missing) is None and not (data / "nowhere").exists()


def test_a_link_planted_by_a_client_is_never_followed(tmp_path: Path) -> None:
    data = storage.ensure_file_system(tmp_path / "efs", FS)
    outside = tmp_path / "outside"
    outside.mkdir()
    (data / "export").symlink_to(outside)
    point = AccessPoint("fsap-0123456789abcdef0", "/export/a", None, CreationInfo(0, 0, "0755"))
    assert storage.prepare_access_point(data, point) is None
    assert list(outside.iterdir()) == []


def test_file_system_data_is_removed_but_nothing_else(tmp_path: Path) -> None:
    root = tmp_path / "efs"
    data = storage.ensure_file_system(root, FS)
    (data / "file").write_text("x")
    (root / "not-a-file-system").mkdir()
    assert storage.file_systems_present(root) == [FS]
    storage.remove_file_system(root, FS)
    assert storage.file_systems_present(root) == [] and (root / "not-a-file-system").is_dir()


def _network(kind: str) -> HostNetwork:
    eni = Eni(ENI, "subnet-1", "02:00:00:00:00:05", ["10.0.1.5"], security_group_ids=[],
              attachment=Attachment(port=service_port(ENI), kind=kind))
    vpc = Vpc("vpc-1", ["10.0.0.0/16"], "rtb-1", "acl-1", subnets=[Subnet("subnet-1", "10.0.1.0/24", "z-1a")],
              network_acls=[NetworkAcl("acl-1")], route_tables=[RouteTable("rtb-1")], enis=[eni])
    return HostNetwork("h-1", [vpc], name_prefix="cl-t-")


def test_a_service_port_is_a_veth_into_the_service_namespace() -> None:
    doc = _network("service")
    router = plan_host(doc, "/run/x").namespace("cl-t-vpc-1")
    port = next(link for link in router.links if link.name == service_port(ENI))
    assert (port.kind, port.peer, port.peer_netns, port.peer_mac) == ("veth", "eth0", "cl-t-svc-" + ENI,
                                                                        "02:00:00:00:00:05")
    assert port.master == naming.subnet_bridge("subnet-1")
    assert network_problems(doc) == []
    assert not naming.is_managed_netns("cl-t-", naming.service_netns("cl-t-", ENI))  # the efs reconciler's
    assert any("attachment kind" in problem for problem in network_problems(_network("bogus")))
