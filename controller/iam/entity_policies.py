"""Policies on users, groups and roles: inline ones (Put/Get/Delete/List) and attached managed ones.

The twelve inline and nine attachment operations differ only in the entity they take
(``PutUserPolicy``/``PutGroupPolicy``/``PutRolePolicy``...), so each is written once
against an :class:`EntityKind` and registered for the three kinds, under its AWS name,
in the table at the end of this module.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import delete, insert, select, update

from controller.api import Params, RequestContext
from controller.iam import state
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
from controller.iam.service import api
from controller.state import utcnow

#: Managed policies attached to one user, group or role at most.
MAX_ATTACHED = 10

INLINE, ATTACHED = state.inline_policies, state.attachments


# -- inline policies ------------------------------------------------------------------------------
def put_inline(kind: EntityKind, ctx: RequestContext, params: Params) -> Params:
    name, document = params["PolicyName"], params["PolicyDocument"]
    with writing(ctx) as conn:
        owner = require(conn, kind, ctx.account_id, params[kind.member])
        owner_name, owner_id = owner[kind.name_column], owner[kind.id_column]
        checked(document, kind.label, owner_name)
        others = conn.execute(select(INLINE.c.document).where(
            INLINE.c.owner_id == owner_id, INLINE.c.name_key != name_key(name))).scalars().all()
        check_inline_budget(kind.label, owner_name, document, others)
        where = (INLINE.c.owner_id == owner_id) & (INLINE.c.name_key == name_key(name))
        if conn.execute(select(INLINE.c.owner_id).where(where)).first():
            conn.execute(update(INLINE).where(where).values(policy_name=name, document=document))
        else:
            conn.execute(insert(INLINE).values(owner_id=owner_id, name_key=name_key(name),
                                              account_id=ctx.account_id, owner_type=kind.label,
                                              policy_name=name, document=document))
    return {}


def get_inline(kind: EntityKind, ctx: RequestContext, params: Params) -> Params:
    name = params["PolicyName"]
    with ctx.cloud.db.read() as conn:
        owner = require(conn, kind, ctx.account_id, params[kind.member])
        row = conn.execute(select(INLINE).where(INLINE.c.owner_id == owner[kind.id_column],
                                               INLINE.c.name_key == name_key(name))).mappings().first()
    if row is None:
        raise NoSuchEntity(f"The {kind.label} policy with name {name} cannot be found.")
    return {kind.member: owner[kind.name_column], "PolicyName": row["policy_name"],
            "PolicyDocument": encode_document(row["document"])}

def delete_inline(kind: EntityKind, ctx: RequestContext, params: Params) -> Params:
    name = params["PolicyName"]
    with writing(ctx) as conn:
        owner = require(conn, kind, ctx.account_id, params[kind.member])
        removed = conn.execute(delete(INLINE).where(INLINE.c.owner_id == owner[kind.id_column],
                                                   INLINE.c.name_key == name_key(name)))
        if removed.rowcount == 0:
            raise NoSuchEntity(f"The {kind.label} policy with name {name} cannot be found.")
    return {}


def list_inline(kind: EntityKind, ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        owner = require(conn, kind, ctx.account_id, params[kind.member])
        names = conn.execute(select(INLINE.c.policy_name).where(
            INLINE.c.owner_id == owner[kind.id_column])).scalars().all()
    return paginate(names, params, name_key, "PolicyNames")


# -- attached managed policies --------------------------------------------------------------------
def attach(kind: EntityKind, ctx: RequestContext, params: Params) -> Params:
    arn = params["PolicyArn"]
    with writing(ctx) as conn:
        owner = require(conn, kind, ctx.account_id, params[kind.member])
        require_managed_policy(conn, ctx.cloud.config.partition, ctx.account_id, arn)
        owner_id = owner[kind.id_column]
        attached = conn.execute(select(ATTACHED.c.policy_arn).where(ATTACHED.c.owner_id == owner_id)).scalars().all()
        if arn in attached:
            return {}
        if len(attached) >= MAX_ATTACHED:
            raise LimitExceeded(f"Cannot exceed quota for PoliciesPer{kind.label.capitalize()}: {MAX_ATTACHED}")
        conn.execute(insert(ATTACHED).values(owner_id=owner_id, policy_arn=arn, account_id=ctx.account_id,
                                          owner_type=kind.label, attached_at=utcnow()))
    return {}


def detach(kind: EntityKind, ctx: RequestContext, params: Params) -> Params:
    arn = params["PolicyArn"]
    with writing(ctx) as conn:
        owner = require(conn, kind, ctx.account_id, params[kind.member])
        removed = conn.execute(delete(ATTACHED).where(ATTACHED.c.owner_id == owner[kind.id_column],
                                                   ATTACHED.c.policy_arn == arn))
        if removed.rowcount == 0:
            raise NoSuchEntity(f"Policy {arn} was not found.")
    return {}


def list_attached(kind: EntityKind, ctx: RequestContext, params: Params) -> Params:
    prefix = params.get("PathPrefix")
    partition = ctx.cloud.config.partition
    with ctx.cloud.db.read() as conn:
        owner = require(conn, kind, ctx.account_id, params[kind.member])
        arns = conn.execute(select(ATTACHED.c.policy_arn).where(
            ATTACHED.c.owner_id == owner[kind.id_column])).scalars().all()
        policies = [require_managed_policy(conn, partition, ctx.account_id, arn) for arn in arns]
    attached = [{"PolicyName": p.name, "PolicyArn": p.arn} for p in policies
                if not prefix or p.path.startswith(prefix)]
    return paginate(attached, params, lambda a: a["PolicyArn"], "AttachedPolicies")


_OPERATIONS = (
    ("PutUserPolicy", USER, put_inline),
    ("PutGroupPolicy", GROUP, put_inline),
    ("PutRolePolicy", ROLE, put_inline),
    ("GetUserPolicy", USER, get_inline),
    ("GetGroupPolicy", GROUP, get_inline),
    ("GetRolePolicy", ROLE, get_inline),
    ("DeleteUserPolicy", USER, delete_inline),
    ("DeleteGroupPolicy", GROUP, delete_inline),
    ("DeleteRolePolicy", ROLE, delete_inline),
    ("ListUserPolicies", USER, list_inline),
    ("ListGroupPolicies", GROUP, list_inline),
    ("ListRolePolicies", ROLE, list_inline),
    ("AttachUserPolicy", USER, attach),
    ("AttachGroupPolicy", GROUP, attach),
    ("AttachRolePolicy", ROLE, attach),
    ("DetachUserPolicy", USER, detach),
    ("DetachGroupPolicy", GROUP, detach),
    ("DetachRolePolicy", ROLE, detach),
    ("ListAttachedUserPolicies", USER, list_attached),
    ("ListAttachedGroupPolicies", GROUP, list_attached),
    ("ListAttachedRolePolicies", ROLE, list_attached),
)

for _name, _kind, _handler in _OPERATIONS:
    api.operation(_name, resources=arn_of(_kind))(partial(_handler, _kind))
