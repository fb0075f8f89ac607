"""What IAM sees of an EFS call: the resources each operation acts on, and their owners and tags.

As in AWS's service authorization reference, file system operations act on the file system's ARN,
mount target operations on their file system's, access point operations on the access point's (and
CreateAccessPoint on the file system's). The file system policy is the file system's resource policy:
IAM weighs it with the caller's own policies on API calls (an explicit Deny there refuses even the
account's root, which is why PutFileSystemPolicy has a lockout safety check), and ``client_access.py``
evaluates it for NFS clients (``elasticfilesystem:ClientMount``/``ClientWrite``/``ClientRootAccess``).
"""

from __future__ import annotations

from sqlalchemy import null, select

from controller.api import Params, RequestContext, ResourceInfo, ResourceMapper
from controller.ec2 import ids
from controller.efs import records, state
from controller.efs.errors import AccessDeniedException
from controller.iam.enforce import would_allow


def file_system_of(member: str) -> ResourceMapper:
    """The ARN of the file system named by ``member`` (``file-system/*`` when absent)."""

    def mapper(ctx: RequestContext, params: Params) -> list[str]:
        return [records.file_system_arn(ctx, params.get(member) or "*")]

    return mapper


def new_file_system(ctx: RequestContext, params: Params) -> list[str]:
    """CreateFileSystem, with ``elasticfilesystem:Encrypted`` for policies that require encryption."""
    ctx.condition_keys["elasticfilesystem:Encrypted"] = "true" if params.get("Encrypted") else "false"
    return [records.file_system_arn(ctx, "*")]


def mount_target_file_system(ctx: RequestContext, params: Params) -> list[str]:
    """The file system of the mount target named by ``MountTargetId`` (``file-system/*`` when unknown)."""
    table = state.mount_targets
    with ctx.cloud.db.read() as conn:
        file_system_id = conn.execute(select(table.c.file_system_id).where(
            table.c.mount_target_id == params.get("MountTargetId", ""))).scalar()
    return [records.file_system_arn(ctx, file_system_id or "*")]


def described_mount_targets(ctx: RequestContext, params: Params) -> list[str]:
    """DescribeMountTargets: its file system, or the file system of its mount target or access point."""
    if params.get("FileSystemId"):
        return file_system_of("FileSystemId")(ctx, params)
    if params.get("AccessPointId"):
        return access_point_of("AccessPointId")(ctx, params)
    if params.get("MountTargetId"):
        return mount_target_file_system(ctx, params)
    return ["*"]


def access_point_of(member: str) -> ResourceMapper:
    def mapper(ctx: RequestContext, params: Params) -> list[str]:
        return [records.access_point_arn(ctx, params.get(member) or "*")]

    return mapper


def tagged_resource(ctx: RequestContext, params: Params) -> list[str]:
    """TagResource and friends: ``ResourceId`` is a file system or an access point id."""
    resource_id = params.get("ResourceId", "")
    if resource_id.startswith("fsap-"):
        return [records.access_point_arn(ctx, resource_id)]
    return [records.file_system_arn(ctx, resource_id or "*")]


def resource_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """Owner and tags of a file system or access point ARN (``aws:ResourceTag/*``), and a file system's
    policy."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or "/" not in parts[5]:
        return None
    kind, _, resource_id = parts[5].partition("/")
    table = {"file-system": state.file_systems, "access-point": state.access_points}.get(kind)
    if table is None or resource_id == "*":
        return None
    column = table.c.file_system_id if kind == "file-system" else table.c.access_point_id
    policy = state.file_systems.c.policy if kind == "file-system" else null().label("policy")
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(table.c.account_id, table.c.tags, policy).where(column == resource_id)).first()
    if row is None:
        return ResourceInfo(owner_account=parts[4])
    return ResourceInfo(owner_account=row.account_id, policy=row.policy,
                        tags={t["Key"]: t["Value"] for t in row.tags})


def described_access_points(ctx: RequestContext, params: Params) -> list[str]:
    if params.get("AccessPointId"):
        return access_point_of("AccessPointId")(ctx, params)
    return file_system_of("FileSystemId")(ctx, params)


# --- the EC2 permissions mount target operations also need --------------------------------------------------------


def require_ec2(ctx: RequestContext, actions: list[str], resource: str = "*") -> None:
    """AWS's mount target operations also need the caller's EC2 permissions on the interface they act on
    (CreateMountTarget: ec2:DescribeSubnets, ec2:DescribeNetworkInterfaces, ec2:CreateNetworkInterface...);
    without them EFS answers AccessDeniedException."""
    info = ResourceInfo(owner_account=ctx.account_id)
    for action in actions:
        if not would_allow(ctx, action, resource, info):
            raise AccessDeniedException("User is not authorized to perform that action on the specified resource: "
                                        f"it needs {action}.")


def interface_arn(ctx: RequestContext, interface_id: str) -> str:
    return ids.NETWORK_INTERFACE.arn(ctx, interface_id)
