"""The ``efs`` section of a host's desired document (contract D): the mount targets it serves and the
file systems whose data it keeps.

A mount target runs on the host that runs its ENI (``desired_network`` places such service interfaces
like NAT gateways: rendezvous hashing over the live hosts of the subnet's zone, with
``place_nat_gateway`` on the same host list, so both sections always agree). A file system's data lives
on every host serving one of its mount targets, and on its home host (the same placement by file
system id, within its zone for One Zone, among all live hosts otherwise) so that data outlives its last
mount target. Each mount target lists every access point of its file system, and ``client_access`` the
anonymous client's rights (``client_access.py``) for its root and for each access point.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from agent.contract import cidr
from controller.ec2 import ids, lookups
from controller.ec2.vpc.desired_network import HostInfo, place_nat_gateway
from controller.efs import client_access, state
from controller.hosts.desired import HostContext


def efs_section(ctx: HostContext) -> dict[str, Any]:
    hosts = [HostInfo(h.host_id, h.zone, up=h.state == "up") for h in ctx.hosts]
    asking = next((h for h in hosts if h.host_id == ctx.host_id), HostInfo(ctx.host_id, ctx.config.local_zone))
    with ctx.db.read() as conn:
        systems = {r["file_system_id"]: r for r in conn.execute(select(state.file_systems)).mappings()}
        targets = list(conn.execute(select(state.mount_targets).order_by(state.mount_targets.c.mount_target_id))
                       .mappings())
        points = list(conn.execute(select(state.access_points).order_by(state.access_points.c.access_point_id))
                      .mappings())
        subnets = {t["subnet_id"]: lookups.find(conn, ids.SUBNET, t["subnet_id"]) for t in targets}
    mine = [t for t in targets
            if place_nat_gateway(t["network_interface_id"], t["availability_zone"], hosts, asking) == ctx.host_id]
    kept = {t["file_system_id"] for t in mine}
    # a Regional file system's home is chosen among all live hosts (no zone of that name: the fallback)
    kept |= {fs_id for fs_id, fs in systems.items()
             if place_nat_gateway(fs_id, fs["availability_zone"] or "", hosts, asking) == ctx.host_id}
    partition = ctx.config.partition
    mount_targets = []
    for target in mine:
        fs = systems[target["file_system_id"]]
        subnet = subnets[target["subnet_id"]]
        arn = _arn(partition, fs, "file-system", fs["file_system_id"])
        mount_targets.append({
            "mount_target_id": target["mount_target_id"], "file_system_id": fs["file_system_id"],
            "vpc_id": target["vpc_id"], "subnet_id": target["subnet_id"],
            "interface_id": target["network_interface_id"], "ip": target["ip_address"],
            "mac": target["mac_address"], "prefix_len": cidr.network(subnet["cidr_block"]).prefixlen,
            "client_access": client_access.anonymous_access(fs["policy"], arn, fs["account_id"]),
            "access_points": [_access_point(p, fs, arn, partition) for p in points
                              if p["file_system_id"] == fs["file_system_id"]]})
    return {"mount_targets": mount_targets, "file_systems": sorted(kept)}


def _arn(partition: str, fs: Any, kind: str, resource_id: str) -> str:
    return f"arn:{partition}:elasticfilesystem:{fs['region']}:{fs['account_id']}:{kind}/{resource_id}"


def _access_point(point: Any, fs: Any, fs_arn: str, partition: str) -> dict[str, Any]:
    user, root = point["posix_user"], point["root_directory"]
    creation = root.get("CreationInfo")
    return {
        "access_point_id": point["access_point_id"], "path": root["Path"],
        "posix_user": {"uid": user["Uid"], "gid": user["Gid"], "secondary_gids": list(user.get("SecondaryGids", []))}
        if user else None,
        "creation_info": {"owner_uid": creation["OwnerUid"], "owner_gid": creation["OwnerGid"],
                          "permissions": creation["Permissions"]} if creation else None,
        "client_access": client_access.anonymous_access(
            fs["policy"], fs_arn, fs["account_id"], _arn(partition, fs, "access-point", point["access_point_id"]))}
