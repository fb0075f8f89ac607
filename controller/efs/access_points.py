"""Access points: CreateAccessPoint, DescribeAccessPoints, DeleteAccessPoint.

An access point is an application entry into a file system: a root directory (made by the agent with
``CreationInfo``'s owner and permissions when missing) and, optionally, the POSIX identity every NFS
operation through it runs as. ``ClientToken`` makes creation idempotent (AccessPointAlreadyExists with
the id, as AWS answers). Each one is served by every mount target of its file system (``desired.py``).
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select

from controller.api import Params, RequestContext
from controller.efs import access, records, rules, state
from controller.efs.errors import AccessPointAlreadyExists, AccessPointLimitExceeded, BadRequest
from controller.efs.service import api
from controller.state import utcnow

#: Access points per file system (AWS's quota).
MAX_ACCESS_POINTS = 10000
MAX_SECONDARY_GIDS = 16


def check_root_directory(root: Params | None) -> Params:
    """The RootDirectory as stored: an absolute, normalized path (``/`` by default), CreationInfo as given."""
    root = dict(root or {})
    path = root.get("Path") or "/"
    parts = path.split("/")
    if not path.startswith("/") or any(p in (".", "..") for p in parts) or "//" in path:
        raise BadRequest(f"RootDirectory Path '{path}' must be an absolute path without '.', '..' or '//'.")
    result: Params = {"Path": path.rstrip("/") or "/"}
    if root.get("CreationInfo"):
        result["CreationInfo"] = dict(root["CreationInfo"])
    return result


def check_posix_user(user: Params | None) -> Params | None:
    if not user:
        return None
    secondary = list(user.get("SecondaryGids") or [])
    if len(secondary) > MAX_SECONDARY_GIDS:
        raise BadRequest(f"PosixUser can have at most {MAX_SECONDARY_GIDS} secondary group ids.")
    result: Params = {"Uid": user["Uid"], "Gid": user["Gid"]}
    if secondary:
        result["SecondaryGids"] = secondary
    return result


@api.operation("CreateAccessPoint", resources=access.file_system_of("FileSystemId"))
def create_access_point(ctx: RequestContext, params: Params) -> Params:
    token = params["ClientToken"]
    root = check_root_directory(params.get("RootDirectory"))
    user = check_posix_user(params.get("PosixUser"))
    tags = rules.merged_tags([], params.get("Tags") or [])
    table = state.access_points
    access_point_id = records.new_id("fsap")
    with records.write(ctx.cloud.db) as conn:
        existing = conn.execute(select(table.c.access_point_id).where(
            table.c.account_id == ctx.account_id, table.c.client_token == token)).scalar()
        if existing is not None:
            raise AccessPointAlreadyExists(f"Access point '{existing}' already exists with client token '{token}'.",
                                           AccessPointId=existing)
        file_system = records.available_file_system(conn, ctx, params["FileSystemId"])
        count = conn.execute(select(func.count()).where(
            table.c.file_system_id == file_system["file_system_id"])).scalar() or 0
        if count >= MAX_ACCESS_POINTS:
            raise AccessPointLimitExceeded(f"File system '{file_system['file_system_id']}' already has "
                                           f"{MAX_ACCESS_POINTS} access points.")
        conn.execute(insert(table).values(
            access_point_id=access_point_id, seq=records.next_seq(conn, table),
            file_system_id=file_system["file_system_id"], account_id=ctx.account_id, client_token=token,
            posix_user=user, root_directory=root, tags=tags, created_at=utcnow()))
        row = records.access_point(conn, ctx, access_point_id)
    ctx.audit_resources.append(records.access_point_arn(ctx, access_point_id))
    return records.access_point_output(ctx, row)


@api.operation("DescribeAccessPoints", resources=access.described_access_points)
def describe_access_points(ctx: RequestContext, params: Params) -> Params:
    if params.get("AccessPointId") and params.get("FileSystemId"):
        raise BadRequest("Specify either AccessPointId or FileSystemId, not both.")
    table, systems = state.access_points, state.file_systems
    with ctx.cloud.db.read() as conn:
        if params.get("AccessPointId"):
            rows = [records.access_point(conn, ctx, params["AccessPointId"])]
        else:
            query = select(table).join(systems, systems.c.file_system_id == table.c.file_system_id).where(
                table.c.account_id == ctx.account_id, systems.c.region == ctx.region)
            if params.get("FileSystemId"):
                records.file_system(conn, ctx, params["FileSystemId"])
                query = query.where(table.c.file_system_id == params["FileSystemId"])
            rows = list(conn.execute(query.order_by(table.c.seq)).mappings())
    chunk, token = rules.page(rows, lambda r: r["seq"], params.get("NextToken"), params.get("MaxResults"), 100)
    result: Params = {"AccessPoints": [records.access_point_output(ctx, r) for r in chunk]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("DeleteAccessPoint", resources=access.access_point_of("AccessPointId"))
def delete_access_point(ctx: RequestContext, params: Params) -> Params:
    """Clients connected through it lose access; the data under its root directory stays."""
    with records.write(ctx.cloud.db) as conn:
        row = records.access_point(conn, ctx, params["AccessPointId"])
        conn.execute(delete(state.access_points).where(state.access_points.c.access_point_id == row["access_point_id"]))
    return {}
