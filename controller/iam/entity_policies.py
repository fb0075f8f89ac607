"""Policies on users, groups and roles: inline ones (Put/Get/Delete/List) and attached managed ones.

The twelve inline and nine attachment operations differ only in the entity they take
(``PutUserPolicy``/``PutGroupPolicy``/``PutRolePolicy``...), so each is written once
and registered for the three kinds.
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from controller.api import Params, RequestContext
from controller.iam import api, state
from controller.iam.directory import (
    GROUP,
    ROLE,
    USER,
    EntityKind,
    arn_of,
    require,
    require_managed_policy,
    writing,
)
from controller.iam.documents import check_inline_budget, checked
from controller.iam.errors import LimitExceeded, NoSuchEntity
from controller.iam.naming import encode_document, name_key, paginate
from controller.state import utcnow

#: Managed policies attached to one user, group or role at most.
MAX_ATTACHED = 10


def _title(kind: EntityKind) -> str:
    return kind.label.capitalize()


def _register_inline(kind: EntityKind) -> None:
    title, member = _title(kind), kind.member
    resources = arn_of(kind)
    table = state.inline_policies

    def put(ctx: RequestContext, params: Params) -> Params:
        name, document = params["PolicyName"], params["PolicyDocument"]
        with writing(ctx) as conn:
            owner = require(conn, kind, ctx.account_id, params[member])
            owner_name, owner_id = owner[kind.name_column], owner[kind.id_column]
            checked(document, kind.label, owner_name)
            others = conn.execute(select(table.c.document).where(
                table.c.owner_id == owner_id, table.c.name_key != name_key(name))).scalars().all()
            check_inline_budget(kind.label, owner_name, document, others)
            where = (table.c.owner_id == owner_id) & (table.c.name_key == name_key(name))
            if conn.execute(select(table.c.owner_id).where(where)).first():
                conn.execute(update(table).where(where).values(policy_name=name, document=document))
            else:
                conn.execute(insert(table).values(owner_id=owner_id, name_key=name_key(name),
                                                  account_id=ctx.account_id, owner_type=kind.label,
                                                  policy_name=name, document=document))
        return {}

    def get(ctx: RequestContext, params: Params) -> Params:
        name = params["PolicyName"]
        with ctx.cloud.db.read() as conn:
            owner = require(conn, kind, ctx.account_id, params[member])
            row = conn.execute(select(table).where(table.c.owner_id == owner[kind.id_column],
                                                   table.c.name_key == name_key(name))).mappings().first()
        if row is None:
            raise NoSuchEntity(f"The {kind.label} policy with name {name} cannot be found.")
        return {member: owner[kind.name_column], "PolicyName": row["policy_name"],
                "PolicyDocument": encode_document(row["document"])}

    def delete_(ctx: RequestContext, params: Params) -> Params:
        name = params["PolicyName"]
        with writing(ctx) as conn:
            owner = require(conn, kind, ctx.account_id, params[member])
            removed = conn.execute(delete(table).where(table.c.owner_id == owner[kind.id_column],
                                                       table.c.name_key == name_key(name)))
            if removed.rowcount == 0:
                raise NoSuchEntity(f"The {kind.label} policy with name {name} cannot be found.")
        return {}

    def list_(ctx: RequestContext, params: Params) -> Params:
        with ctx.cloud.db.read() as conn:
            owner = require(conn, kind, ctx.account_id, params[member])
            names = conn.execute(select(table.c.policy_name).where(
                table.c.owner_id == owner[kind.id_column])).scalars().all()
        return paginate(names, params, name_key, "PolicyNames")

    api.operation(f"Put{title}Policy", resources=resources)(put)
    api.operation(f"Get{title}Policy", resources=resources)(get)
    api.operation(f"Delete{title}Policy", resources=resources)(delete_)
    api.operation(f"List{title}Policies", resources=resources)(list_)


def _register_attachments(kind: EntityKind) -> None:
    title, member = _title(kind), kind.member
    resources = arn_of(kind)
    table = state.attachments

    def attach(ctx: RequestContext, params: Params) -> Params:
        arn = params["PolicyArn"]
        with writing(ctx) as conn:
            owner = require(conn, kind, ctx.account_id, params[member])
            require_managed_policy(conn, ctx.cloud.config.partition, ctx.account_id, arn)
            owner_id = owner[kind.id_column]
            attached = conn.execute(select(table.c.policy_arn).where(table.c.owner_id == owner_id)).scalars().all()
            if arn in attached:
                return {}
            if len(attached) >= MAX_ATTACHED:
                raise LimitExceeded(f"Cannot exceed quota for PoliciesPer{title}: {MAX_ATTACHED}")
            conn.execute(insert(table).values(owner_id=owner_id, policy_arn=arn, account_id=ctx.account_id,
                                              owner_type=kind.label, attached_at=utcnow()))
        return {}

    def detach(ctx: RequestContext, params: Params) -> Params:
        arn = params["PolicyArn"]
        with writing(ctx) as conn:
            owner = require(conn, kind, ctx.account_id, params[member])
            removed = conn.execute(delete(table).where(table.c.owner_id == owner[kind.id_column],
                                                       table.c.policy_arn == arn))
            if removed.rowcount == 0:
                raise NoSuchEntity(f"Policy {arn} was not found.")
        return {}

    def list_attached(ctx: RequestContext, params: Params) -> Params:
        prefix = params.get("PathPrefix")
        partition = ctx.cloud.config.partition
        with ctx.cloud.db.read() as conn:
            owner = require(conn, kind, ctx.account_id, params[member])
            arns = conn.execute(select(table.c.policy_arn).where(
                table.c.owner_id == owner[kind.id_column])).scalars().all()
            policies = [require_managed_policy(conn, partition, ctx.account_id, arn) for arn in arns]
        attached = [{"PolicyName": p.name, "PolicyArn": p.arn} for p in policies
                    if not prefix or p.path.startswith(prefix)]
        return paginate(attached, params, lambda a: a["PolicyArn"], "AttachedPolicies")

    api.operation(f"Attach{title}Policy", resources=resources)(attach)
    api.operation(f"Detach{title}Policy", resources=resources)(detach)
    api.operation(f"ListAttached{title}Policies", resources=resources)(list_attached)


for _kind in (USER, GROUP, ROLE):
    _register_inline(_kind)
    _register_attachments(_kind)

