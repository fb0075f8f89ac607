"""The tree's operations: roots, organizational units, and moving accounts between them.

Errors follow the Organizations API reference of each operation: an unknown parent is
``ParentNotFoundException``, an OU with children cannot be deleted
(``OrganizationalUnitNotEmptyException``), ``MoveAccount`` checks the source parent,
the destination and that the account really is in the source. Every change clears
enforcement's cache, since an account's place decides which SCPs govern it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from controller.api import Params, RequestContext
from controller.iam import cache as policy_cache
from controller.organizations import state
from controller.organizations.common import (
    AccountNotFoundException,
    ChildNotFoundException,
    DestinationParentNotFoundException,
    DuplicateAccountException,
    DuplicateOrganizationalUnitException,
    OrganizationalUnitNotEmptyException,
    OrganizationalUnitNotFoundException,
    ParentNotFoundException,
    SourceParentNotFoundException,
    account_arn,
    account_output,
    by_id,
    constraint_violation,
    organizations_arn,
    page,
    require_management,
    tags_of,
    target_arn,
)
from controller.organizations.scps import attach_full_aws_access
from controller.organizations.service import api
from controller.organizations.tags import drop_tags, store_tags
from controller.organizations.tree import (
    ACCOUNT,
    MAX_OU_DEPTH,
    ORGANIZATIONAL_UNIT,
    ROOT,
    ROOT_NAME,
    accounts_in,
    ancestry,
    child_units,
    find_ou,
    is_parent,
    new_ou_id,
    organization_id,
    ou_path,
    parent_of,
    root_id,
)

_NO_PARENT = "We can't find a root or OU with the ParentId that you specified."
#: OUs one organization may hold ("Quotas for AWS Organizations").
MAX_OUS = 2000


def _ou_resources(ctx: RequestContext, params: Params) -> list[str]:
    return [organizations_arn(ctx, "ou", params["OrganizationalUnitId"])]


def root_output(ctx: RequestContext, conn: Connection, root: str) -> dict[str, Any]:
    """A ``Root`` with the policy types enabled in it."""
    types = conn.execute(select(state.root_policy_types.c.policy_type).where(
        state.root_policy_types.c.root_id == root)).scalars().all()
    return {"Id": root, "Arn": organizations_arn(ctx, "root", root), "Name": ROOT_NAME,
            "PolicyTypes": [{"Type": policy_type, "Status": "ENABLED"} for policy_type in sorted(types)]}


def _ou_output(ctx: RequestContext, conn: Connection, root: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"Id": row["ou_id"], "Arn": organizations_arn(ctx, "ou", row["ou_id"]), "Name": row["name"],
            "Path": ou_path(conn, organization_id(ctx.cloud), root, row["ou_id"])}


def _require_ou(conn: Connection, ou_id: str) -> dict[str, Any]:
    row = find_ou(conn, ou_id)
    if row is None:
        raise OrganizationalUnitNotFoundException("We can't find an OU with the OrganizationalUnitId that you "
                                                  "specified.")
    return row


def _check_unique_name(conn: Connection, parent_id: str, name: str, ou_id: str = "") -> None:
    table = state.organizational_units
    clash = conn.execute(select(table.c.ou_id).where(table.c.parent_id == parent_id, table.c.ou_id != ou_id,
                                                     func.lower(table.c.name) == name.lower())).first()
    if clash:
        raise DuplicateOrganizationalUnitException("An OU with the same name already exists.")


@api.operation("ListRoots")
def list_roots(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        roots, token = page([root_output(ctx, conn, root)], params, by_id)
    return {"Roots": roots, **token}


@api.operation("CreateOrganizationalUnit",
               resources=lambda ctx, params: [target_arn(ctx, params["ParentId"])])
def create_organizational_unit(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    parent_id, name, tags = params["ParentId"], params["Name"], tags_of(params)
    with ctx.cloud.db.begin() as conn:
        policy_cache.changed(conn)
        if not is_parent(conn, root, parent_id):
            raise ParentNotFoundException(_NO_PARENT)
        if parent_id != root and len(ancestry(conn, root, parent_id)) >= MAX_OU_DEPTH:
            raise constraint_violation("You attempted to create an OU tree that is too many levels deep.",
                                       "OU_DEPTH_LIMIT_EXCEEDED")
        _check_unique_name(conn, parent_id, name)
        if conn.execute(select(func.count()).select_from(state.organizational_units)).scalar_one() >= MAX_OUS:
            raise constraint_violation(f"You have reached the maximum number of OUs ({MAX_OUS}) in the "
                                       "organization.", "OU_NUMBER_LIMIT_EXCEEDED")
        ou_id = new_ou_id(root)
        conn.execute(insert(state.organizational_units).values(ou_id=ou_id, parent_id=parent_id, name=name,
                                                               created_at=ctx.received_at))
        store_tags(conn, ou_id, tags)
        attach_full_aws_access(conn, [ou_id])
        output = _ou_output(ctx, conn, root, {"ou_id": ou_id, "name": name})
    ctx.audit_resources.append(output["Arn"])
    return {"OrganizationalUnit": output}


@api.operation("DescribeOrganizationalUnit", resources=_ou_resources)
def describe_organizational_unit(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        return {"OrganizationalUnit": _ou_output(ctx, conn, root, _require_ou(conn, params["OrganizationalUnitId"]))}


@api.operation("UpdateOrganizationalUnit", resources=_ou_resources)
def update_organizational_unit(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.begin() as conn:
        row = _require_ou(conn, params["OrganizationalUnitId"])
        if params.get("Name"):
            _check_unique_name(conn, row["parent_id"], params["Name"], row["ou_id"])
            conn.execute(update(state.organizational_units).where(
                state.organizational_units.c.ou_id == row["ou_id"]).values(name=params["Name"]))
            row["name"] = params["Name"]
        return {"OrganizationalUnit": _ou_output(ctx, conn, root, row)}


@api.operation("DeleteOrganizationalUnit", resources=_ou_resources)
def delete_organizational_unit(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.begin() as conn:
        policy_cache.changed(conn)
        ou_id = _require_ou(conn, params["OrganizationalUnitId"])["ou_id"]
        if child_units(conn, ou_id) or accounts_in(conn, root, ou_id):
            raise OrganizationalUnitNotEmptyException(
                "The specified OU is not empty. Move all accounts to another root or OU, delete all child OUs, "
                "and try the operation again.")
        conn.execute(delete(state.organizational_units).where(state.organizational_units.c.ou_id == ou_id))
        conn.execute(delete(state.policy_attachments).where(state.policy_attachments.c.target_id == ou_id))
        drop_tags(conn, ou_id)
    return {}


@api.operation("ListOrganizationalUnitsForParent")
def list_organizational_units_for_parent(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        if not is_parent(conn, root, params["ParentId"]):
            raise ParentNotFoundException(_NO_PARENT)
        units = [_ou_output(ctx, conn, root, row) for row in child_units(conn, params["ParentId"])]
    chosen, token = page(units, params, by_id)
    return {"OrganizationalUnits": chosen, **token}


@api.operation("ListChildren")
def list_children(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        if not is_parent(conn, root, params["ParentId"]):
            raise ParentNotFoundException(_NO_PARENT)
        if params["ChildType"] == ACCOUNT:
            ids = [row["account_id"] for row in accounts_in(conn, root, params["ParentId"])]
        else:
            ids = [row["ou_id"] for row in child_units(conn, params["ParentId"])]
    chosen, token = page([{"Id": child, "Type": params["ChildType"]} for child in ids], params, by_id)
    return {"Children": chosen, **token}


@api.operation("ListParents")
def list_parents(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        parent = parent_of(conn, root, params["ChildId"])
    if parent is None:
        raise ChildNotFoundException("We can't find an organizational unit (OU) or account with the ChildId "
                                     "that you specified.")
    kind = ROOT if parent == root else ORGANIZATIONAL_UNIT
    chosen, token = page([{"Id": parent, "Type": kind}], params, by_id)
    return {"Parents": chosen, **token}


@api.operation("ListAccountsForParent")
def list_accounts_for_parent(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    with ctx.cloud.db.read() as conn:
        if not is_parent(conn, root, params["ParentId"]):
            raise ParentNotFoundException(_NO_PARENT)
        found = accounts_in(conn, root, params["ParentId"])
    chosen, token = page([account_output(ctx, row) for row in found], params, by_id)
    return {"Accounts": chosen, **token}


@api.operation("MoveAccount", resources=lambda ctx, params: [
    account_arn(ctx, params["AccountId"]), target_arn(ctx, params["SourceParentId"]),
    target_arn(ctx, params["DestinationParentId"])])
def move_account(ctx: RequestContext, params: Params) -> Params:
    require_management(ctx)
    root = root_id(ctx.cloud)
    account, source, destination = params["AccountId"], params["SourceParentId"], params["DestinationParentId"]
    with ctx.cloud.db.begin() as conn:
        policy_cache.changed(conn)
        if not is_parent(conn, root, source):
            raise SourceParentNotFoundException("We can't find a source root or OU with the ParentId that you "
                                                "specified.")
        if not is_parent(conn, root, destination):
            raise DestinationParentNotFoundException("We can't find the destination container (a root or OU) "
                                                     "with the ParentId that you specified.")
        current = parent_of(conn, root, account)
        if current is None:
            raise AccountNotFoundException("We can't find an AWS account with the AccountId that you specified.")
        if current == destination:
            raise DuplicateAccountException("That account is already present in the specified destination.")
        if current != source:
            raise SourceParentNotFoundException(f"The account {account} is not in the source parent {source}.")
        conn.execute(delete(state.account_parents).where(state.account_parents.c.account_id == account))
        if destination != root:
            conn.execute(insert(state.account_parents).values(account_id=account, parent_id=destination))
    return {}

