"""What IAM does alike for users, groups, roles and instance profiles, written once.

TagUser, TagRole and TagInstanceProfile (and their Untag/List...Tags), the Put/Delete
...PermissionsBoundary pairs of users and roles, UpdateUser/UpdateGroup's rename, the
duplicate-name check of every Create* and the policy checks of every Delete* differ only
in the kind of entity they act on. Each is written here once against an
:class:`~controller.iam.directory.EntityKind`; the per-kind modules still register every
operation under its AWS name (TagUser lives in users.py) as a one-line call, so a fix or
an AWS wording lands in all kinds at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, update

from controller.api import Params, RequestContext
from controller.iam import state
from controller.iam.directory import (
    INSTANCE_PROFILE,
    EntityKind,
    Row,
    find,
    refuse_if_referenced,
    require,
    require_boundary_policy,
    writing,
)
from controller.iam.errors import EntityAlreadyExists, already_exists
from controller.iam.naming import (
    check_path,
    iam_arn,
    merge_tags,
    name_key,
    new_unique_id,
    paginate,
    remove_tags,
)
from controller.state import utcnow


# -- rows -----------------------------------------------------------------------------------------
def new_row(kind: EntityKind, partition: str, account_id: str, name: str, path: str) -> dict[str, Any]:
    """The columns every kind of entity has, for a new one (the caller adds its kind's own)."""
    return {kind.id_column: new_unique_id(kind.label), "account_id": account_id, kind.name_column: name,
            "name_key": name_key(name), "path": path, "arn": iam_arn(partition, account_id, kind.label, path, name),
            "created_at": utcnow()}


def refuse_existing(conn: Connection, kind: EntityKind, account_id: str, name: str) -> None:
    """EntityAlreadyExists, in AWS's wording for the kind, when ``name`` is taken in the account."""
    if find(conn, kind, account_id, name) is None:
        return
    if kind is INSTANCE_PROFILE:
        raise EntityAlreadyExists(f"Instance Profile {name} already exists.")
    raise already_exists(kind.label.capitalize(), name)


def set_columns(conn: Connection, kind: EntityKind, row: Row, **values: Any) -> None:
    table = kind.table
    conn.execute(update(table).where(table.c[kind.id_column] == row[kind.id_column]).values(**values))


def delete_row(conn: Connection, kind: EntityKind, row: Row) -> None:
    table = kind.table
    conn.execute(delete(table).where(table.c[kind.id_column] == row[kind.id_column]))


def refuse_if_policies(conn: Connection, owner_id: str) -> None:
    """A user, group or role is deleted only once it has no inline and no attached policies."""
    refuse_if_referenced(conn, state.inline_policies.c.owner_id, owner_id,
                         "Cannot delete entity, must delete policies first.")
    refuse_if_referenced(conn, state.attachments.c.owner_id, owner_id,
                         "Cannot delete entity, must detach all policies first.")


def update_by_name(ctx: RequestContext, kind: EntityKind, params: Params, **values: Any) -> dict[str, Any]:
    """Set ``values`` on the entity ``params`` names (it must exist) and return its row as it now is."""
    with writing(ctx) as conn:
        row = require(conn, kind, ctx.account_id, params[kind.member])
        if values:
            set_columns(conn, kind, row, **values)
    return {**row, **values}


def rename(conn: Connection, ctx: RequestContext, kind: EntityKind, params: Params) -> tuple[Row, dict[str, Any]]:
    """UpdateUser/UpdateGroup: a new name (``NewUserName``...) and/or ``NewPath``, and the ARN they make.

    Returns the row as it was and the columns now set, so the caller can follow the
    rename elsewhere (a user's access keys name it).
    """
    row = require(conn, kind, ctx.account_id, params[kind.member])
    new_name = params.get(f"New{kind.member}") or row[kind.name_column]
    new_path = check_path(params.get("NewPath"), "newPath") if params.get("NewPath") else row["path"]
    if name_key(new_name) != row["name_key"] and find(conn, kind, ctx.account_id, new_name) is not None:
        raise already_exists(kind.label.capitalize(), new_name)
    values = {kind.name_column: new_name, "name_key": name_key(new_name), "path": new_path,
              "arn": iam_arn(ctx.cloud.config.partition, ctx.account_id, kind.label, new_path, new_name)}
    set_columns(conn, kind, row, **values)
    return row, values


def page(rows: list[Row], params: Params, member: str, output: Callable[[Row], dict[str, Any]]) -> Params:
    """One page of entities in name order, each shaped by ``output``, under ``member`` ("Users")."""
    result = paginate(rows, params, lambda row: row["name_key"], member)
    result[member] = [output(row) for row in result[member]]
    return result


# -- tags -----------------------------------------------------------------------------------------
def tag(ctx: RequestContext, kind: EntityKind, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, kind, ctx.account_id, params[kind.member])
        set_columns(conn, kind, row, tags=merge_tags(row["tags"], params["Tags"]))
    return {}


def untag(ctx: RequestContext, kind: EntityKind, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, kind, ctx.account_id, params[kind.member])
        set_columns(conn, kind, row, tags=remove_tags(row["tags"], params["TagKeys"]))
    return {}


def list_tags(ctx: RequestContext, kind: EntityKind, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = require(conn, kind, ctx.account_id, params[kind.member])
    return paginate(row["tags"], params, lambda pair: pair["Key"], "Tags")


# -- permissions boundary (users and roles) -------------------------------------------------------
def put_boundary(ctx: RequestContext, kind: EntityKind, params: Params) -> Params:
    with writing(ctx) as conn:
        row = require(conn, kind, ctx.account_id, params[kind.member])
        require_boundary_policy(conn, ctx.cloud.config.partition, ctx.account_id, params["PermissionsBoundary"])
        set_columns(conn, kind, row, boundary_arn=params["PermissionsBoundary"])
    return {}


def delete_boundary(ctx: RequestContext, kind: EntityKind, params: Params) -> Params:
    update_by_name(ctx, kind, params, boundary_arn=None)
    return {}
