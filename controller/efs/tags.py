"""Tags of file systems and access points: TagResource, UntagResource, ListTagsForResource, and the
legacy file-system-only CreateTags, DeleteTags and DescribeTags. The ``Name`` tag is the Name field."""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, Table, update

from controller.api import Params, RequestContext
from controller.efs import access, records, rules, state
from controller.efs.errors import BadRequest, FileSystemNotFound
from controller.efs.service import api


def _resource(conn: Connection, ctx: RequestContext, resource_id: str) -> tuple[Table, RowMapping, str]:
    """The table, row and key column of a file system or access point id."""
    if resource_id.startswith("fsap-"):
        return state.access_points, records.access_point(conn, ctx, resource_id), "access_point_id"
    if resource_id.startswith("fs-"):
        return state.file_systems, records.file_system(conn, ctx, resource_id), "file_system_id"
    raise BadRequest(f"Resource id '{resource_id}' is neither a file system nor an access point id.")


def _retag(ctx: RequestContext, resource_id: str, added: list[Params], removed: list[str]) -> None:
    with ctx.cloud.db.begin() as conn:
        table, row, key = _resource(conn, ctx, resource_id)
        tags = rules.without_tags(rules.merged_tags(row["tags"], added), removed)
        conn.execute(update(table).where(table.c[key] == row[key]).values(tags=tags))


@api.operation("TagResource", resources=access.tagged_resource)
def tag_resource(ctx: RequestContext, params: Params) -> Params:
    _retag(ctx, params["ResourceId"], params["Tags"], [])
    return {}


@api.operation("UntagResource", resources=access.tagged_resource)
def untag_resource(ctx: RequestContext, params: Params) -> Params:
    _retag(ctx, params["ResourceId"], [], params["TagKeys"])
    return {}


@api.operation("ListTagsForResource", resources=access.tagged_resource)
def list_tags_for_resource(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        _, row, _ = _resource(conn, ctx, params["ResourceId"])
    indexed = list(enumerate(row["tags"]))
    chunk, token = rules.page(indexed, lambda t: t[0], params.get("NextToken"), params.get("MaxResults"), 100)
    result: Params = {"Tags": [tag for _, tag in chunk]}
    if token:
        result["NextToken"] = token
    return result


@api.operation("CreateTags", resources=access.file_system_of("FileSystemId"))
def create_tags(ctx: RequestContext, params: Params) -> Params:
    _retag(ctx, _file_system_id(params), params["Tags"], [])
    return {}


@api.operation("DeleteTags", resources=access.file_system_of("FileSystemId"))
def delete_tags(ctx: RequestContext, params: Params) -> Params:
    _retag(ctx, _file_system_id(params), [], params["TagKeys"])
    return {}


@api.operation("DescribeTags", resources=access.file_system_of("FileSystemId"))
def describe_tags(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = records.file_system(conn, ctx, _file_system_id(params))
    indexed = list(enumerate(row["tags"]))
    chunk, marker = rules.page(indexed, lambda t: t[0], params.get("Marker"), params.get("MaxItems"), 100)
    result: Params = {"Tags": [tag for _, tag in chunk]}
    if params.get("Marker"):
        result["Marker"] = params["Marker"]
    if marker:
        result["NextMarker"] = marker
    return result


def _file_system_id(params: Params) -> str:
    """The legacy calls take only file systems."""
    if not params["FileSystemId"].startswith("fs-"):
        raise FileSystemNotFound(f"File system '{params['FileSystemId']}' does not exist.")
    return params["FileSystemId"]
