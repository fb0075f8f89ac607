"""Reading IAM entities and managed policies, and shaping them as the API returns them.

Every operation module goes through here to find a user, group, role, instance profile
or managed policy by name/ARN (raising AWS's NoSuchEntity when absent), and to turn a
row into the model's output structure. :func:`writing` is the one way IAM writes: a
transaction whose commit clears the enforcement cache of every process of the cloud, so a
policy change is effective from the next request on, whichever process serves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, func, select

from controller.api import Params, RequestContext
from controller.iam import cache as policy_cache
from controller.iam import state
from controller.iam.aws_managed import AwsManagedPolicy, aws_managed_policy, is_aws_managed_arn
from controller.iam.errors import DeleteConflict, NoSuchEntity, no_such_entity
from controller.iam.naming import encode_document, iam_arn, name_key

Row = Mapping[str, Any]


@dataclass(frozen=True)
class EntityKind:
    """What distinguishes users, groups, roles and instance profiles in storage and in ARNs."""

    label: str
    table: Table
    id_column: str
    name_column: str
    #: How AWS words NoSuchEntity for this kind ("The user with name X cannot be found.").
    missing_label: str
    #: The request member naming the entity ("UserName").
    member: str


USER = EntityKind("user", state.users, "user_id", "user_name", "user", "UserName")
GROUP = EntityKind("group", state.groups, "group_id", "group_name", "group", "GroupName")
ROLE = EntityKind("role", state.roles, "role_id", "role_name", "role", "RoleName")
INSTANCE_PROFILE = EntityKind("instance-profile", state.instance_profiles, "profile_id", "profile_name",
                              "instance profile", "InstanceProfileName")
#: Inline policy owners, by the ``owner_type`` stored next to their policies.
OWNER_KINDS = {"user": USER, "group": GROUP, "role": ROLE}


@contextmanager
def writing(ctx: RequestContext) -> Iterator[Connection]:
    """A write transaction whose commit makes enforcement forget what it cached, in every process."""
    with ctx.cloud.db.begin() as conn:
        policy_cache.changed(conn)
        yield conn


def collection_arn(kind_label: str) -> Callable[[RequestContext, dict[str, Any]], list[str]]:
    """The resource List* calls authorize against: ``arn:aws:iam::ACCOUNT:user/`` (plus the path prefix)."""

    def resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
        prefix = params.get("PathPrefix") or "/"
        return [f"arn:{ctx.cloud.config.partition}:iam::{ctx.account_id}:{kind_label}{prefix}"]

    return resources


def arn_of(kind: EntityKind, *, caller_when_unnamed: bool = False) -> Callable[[RequestContext, Params], list[str]]:
    """The resource an operation on one named entity authorizes against (its ARN, with its path).

    ``caller_when_unnamed``: the name member is optional and its absence means the caller
    itself (GetUser, the access key operations).
    """

    def resources(ctx: RequestContext, params: Params) -> list[str]:
        name = params.get(kind.member)
        if name is None and caller_when_unnamed:
            return [ctx.principal.arn]
        with ctx.cloud.db.read() as conn:
            return [entity_arn(conn, kind, ctx.cloud.config.partition, ctx.account_id, params[kind.member])]

    return resources


def new_arn_of(kind: EntityKind) -> Callable[[RequestContext, Params], list[str]]:
    """The resource a Create* call authorizes against: the ARN the new entity will have."""

    def resources(ctx: RequestContext, params: Params) -> list[str]:
        return [iam_arn(ctx.cloud.config.partition, ctx.account_id, kind.label, params.get("Path") or "/",
                        params[kind.member])]

    return resources


def find(conn: Connection, kind: EntityKind, account_id: str, name: str) -> Row | None:
    table = kind.table
    return conn.execute(select(table).where(table.c.account_id == account_id,
                                            table.c.name_key == name_key(name))).mappings().first()


def require(conn: Connection, kind: EntityKind, account_id: str, name: str) -> Row:
    row = find(conn, kind, account_id, name)
    if row is None:
        if kind is INSTANCE_PROFILE:
            raise NoSuchEntity(f"Instance Profile {name} cannot be found.")
        raise no_such_entity(kind.missing_label, name)
    return row


def entity_arn(conn: Connection, kind: EntityKind, partition: str, account_id: str, name: str) -> str:
    """The ARN of an existing entity (with its path), or the pathless ARN it would have."""
    row = find(conn, kind, account_id, name)
    return row["arn"] if row else f"arn:{partition}:iam::{account_id}:{kind.label}/{name}"


def refuse_if_referenced(conn: Connection, column: Any, value: str, message: str) -> None:
    """Raise DeleteConflict(``message``) when any row has ``column == value``."""
    if conn.execute(select(column).where(column == value).limit(1)).first() is not None:
        raise DeleteConflict(message)


def list_entities(conn: Connection, kind: EntityKind, account_id: str, path_prefix: str | None) -> list[Row]:
    table = kind.table
    query = select(table).where(table.c.account_id == account_id)
    if path_prefix:
        query = query.where(func.substr(table.c.path, 1, len(path_prefix)) == path_prefix)
    return list(conn.execute(query).mappings().all())


# -- output shapes ---------------------------------------------------------------------------
def user_output(row: Row, *, with_tags: bool = False) -> dict[str, Any]:
    user: dict[str, Any] = {"Path": row["path"], "UserName": row["user_name"], "UserId": row["user_id"],
                            "Arn": row["arn"], "CreateDate": row["created_at"]}
    if row["boundary_arn"]:
        user["PermissionsBoundary"] = boundary_output(row["boundary_arn"])
    if with_tags and row["tags"]:
        user["Tags"] = row["tags"]
    return user


def group_output(row: Row) -> dict[str, Any]:
    return {"Path": row["path"], "GroupName": row["group_name"], "GroupId": row["group_id"], "Arn": row["arn"],
            "CreateDate": row["created_at"]}


def role_output(row: Row, *, full: bool = False) -> dict[str, Any]:
    """A Role; ``full`` adds what only GetRole returns (tags, last used)."""
    role: dict[str, Any] = {
        "Path": row["path"], "RoleName": row["role_name"], "RoleId": row["role_id"], "Arn": row["arn"],
        "CreateDate": row["created_at"], "AssumeRolePolicyDocument": encode_document(row["trust_policy"]),
        "MaxSessionDuration": row["max_session_duration"]}
    if row["description"] is not None:
        role["Description"] = row["description"]
    if row["boundary_arn"]:
        role["PermissionsBoundary"] = boundary_output(row["boundary_arn"])
    if full:
        if row["tags"]:
            role["Tags"] = row["tags"]
        last_used: dict[str, Any] = {}
        if row["last_used_at"]:
            last_used = {"LastUsedDate": row["last_used_at"], "Region": row["last_used_region"]}
        role["RoleLastUsed"] = last_used
    return role


def boundary_output(arn: str) -> dict[str, str]:
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn}


def instance_profile_output(conn: Connection, row: Row, *, with_tags: bool = False) -> dict[str, Any]:
    role_rows = conn.execute(
        select(state.roles).join(state.instance_profile_roles,
                                 state.instance_profile_roles.c.role_id == state.roles.c.role_id)
        .where(state.instance_profile_roles.c.profile_id == row["profile_id"])).mappings().all()
    profile: dict[str, Any] = {
        "Path": row["path"], "InstanceProfileName": row["profile_name"], "InstanceProfileId": row["profile_id"],
        "Arn": row["arn"], "CreateDate": row["created_at"], "Roles": [role_output(r) for r in role_rows]}
    if with_tags and row["tags"]:
        profile["Tags"] = row["tags"]
    return profile


# -- managed policies -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ManagedPolicy:
    """A customer managed policy (a row) or an AWS managed one (package data), seen alike."""

    arn: str
    name: str
    policy_id: str
    path: str
    description: str | None
    default_version: str
    created_at: Any
    updated_at: Any
    tags: list[dict[str, str]]
    aws: AwsManagedPolicy | None = None

    @property
    def is_aws_managed(self) -> bool:
        return self.aws is not None


def find_managed_policy(conn: Connection, partition: str, account_id: str, arn: str) -> ManagedPolicy | None:
    """The managed policy ``arn`` names, visible from ``account_id`` (AWS ones are visible everywhere)."""
    if is_aws_managed_arn(arn):
        aws = aws_managed_policy(arn, partition)
        if aws is None:
            return None
        return ManagedPolicy(arn=arn, name=aws.name, policy_id=aws.policy_id, path=aws.path,
                             description=aws.description, default_version=aws.default_version,
                             created_at=aws.created_at, updated_at=aws.updated_at, tags=[], aws=aws)
    row = conn.execute(select(state.policies).where(state.policies.c.arn == arn,
                                                    state.policies.c.account_id == account_id)).mappings().first()
    return customer_policy(row) if row else None


def customer_policy(row: Row) -> ManagedPolicy:
    return ManagedPolicy(arn=row["arn"], name=row["policy_name"], policy_id=row["policy_id"], path=row["path"],
                         description=row["description"], default_version=row["default_version"],
                         created_at=row["created_at"], updated_at=row["updated_at"], tags=row["tags"] or [])


def require_managed_policy(conn: Connection, partition: str, account_id: str, arn: str) -> ManagedPolicy:
    policy = find_managed_policy(conn, partition, account_id, arn)
    if policy is None:
        raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")
    return policy


def require_boundary_policy(conn: Connection, partition: str, account_id: str, arn: str) -> ManagedPolicy:
    """A permissions boundary must be an existing managed policy (customer or AWS)."""
    policy = find_managed_policy(conn, partition, account_id, arn)
    if policy is None:
        raise NoSuchEntity(f"Scope ARN: {arn} does not exist or is not attachable.")
    return policy


def attachment_counts(conn: Connection, account_id: str, arn: str) -> tuple[int, int]:
    """(entities the policy is attached to, entities using it as their permissions boundary)."""
    attached = conn.execute(select(func.count()).select_from(state.attachments).where(
        state.attachments.c.account_id == account_id, state.attachments.c.policy_arn == arn)).scalar_one()
    boundaries = sum(conn.execute(select(func.count()).select_from(table).where(
        table.c.account_id == account_id, table.c.boundary_arn == arn)).scalar_one()
        for table in (state.users, state.roles))
    return attached, boundaries


def policy_output(conn: Connection, account_id: str, policy: ManagedPolicy, *,
                  detailed: bool = False) -> dict[str, Any]:
    """A Policy; ``detailed`` adds what only GetPolicy returns (description, tags)."""
    attached, boundaries = attachment_counts(conn, account_id, policy.arn)
    output: dict[str, Any] = {
        "PolicyName": policy.name, "PolicyId": policy.policy_id, "Arn": policy.arn, "Path": policy.path,
        "DefaultVersionId": policy.default_version, "AttachmentCount": attached,
        "PermissionsBoundaryUsageCount": boundaries, "IsAttachable": True, "CreateDate": policy.created_at,
        "UpdateDate": policy.updated_at}
    if detailed and policy.description is not None:
        output["Description"] = policy.description
    if detailed and policy.tags:
        output["Tags"] = policy.tags
    return output
