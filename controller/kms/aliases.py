"""Aliases: friendly names for keys (CreateAlias, UpdateAlias, DeleteAlias, ListAliases).

An alias names one customer managed key of its account and region; ``alias/aws/`` is reserved for
AWS managed keys, which ListAliases shows (without a target until the service first uses the key).
Changing an alias needs permission on the alias (IAM policies) and on each key involved (their key
policies), so its resources are the alias ARN and the keys.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select, update

from controller.api import Params, RequestContext
from controller.kms import records, state, views
from controller.kms.access import context_keys, resolve_key
from controller.kms.errors import (
    AlreadyExistsException,
    InvalidAliasNameException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from controller.kms.service import api
from controller.state import utcnow

_ALIAS_NAME = re.compile(r"alias/[a-zA-Z0-9/_-]+")


def check_alias_name(name: str) -> None:
    """Refuse a name CreateAlias/UpdateAlias/DeleteAlias cannot take (pure)."""
    if not name.startswith("alias/"):
        raise ValidationException('Alias must start with the prefix "alias/". Please see '
                                  "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
    if name.startswith("alias/aws/"):
        raise InvalidAliasNameException("Alias names cannot begin with alias/aws/: that prefix is reserved for "
                                        "AWS managed keys.")
    if not _ALIAS_NAME.fullmatch(name):
        raise ValidationException(f"1 validation error detected: Value '{name}' at 'aliasName' failed to "
                                  f"satisfy constraint: Member must satisfy regular expression pattern: "
                                  f"^alias/[a-zA-Z0-9/_-]+$")


def _alias_arn(ctx: RequestContext, name: str) -> str:
    return records.Region.of(ctx.cloud, ctx.region).alias_arn(ctx.account_id, name)


def _target(ctx: RequestContext, ref: str) -> dict:
    """The key an alias may point to: a customer managed key of the caller's account, not pending deletion."""
    if ref.startswith("alias/") or ":alias/" in ref:
        raise ValidationException(f"Invalid target key id {ref}: an alias must point to a key id or key ARN.")
    row = resolve_key(ctx, ref)
    if row["account_id"] != ctx.account_id:
        raise records.not_found(records.Region.of(ctx.cloud, ctx.region), ctx.account_id, ref)
    if row["manager"] == "AWS":
        raise UnsupportedOperationException(f"{row['arn']} is an AWS managed key: aliases can only name customer "
                                            f"managed keys.")
    if records.key_state(row, utcnow()) == records.PENDING_DELETION:
        raise KMSInvalidStateException(f"{row['arn']} is pending deletion.")
    return dict(row)


def _existing(ctx: RequestContext, name: str) -> dict:
    with ctx.cloud.db.read() as conn:
        row = records.find_key(conn, ctx.account_id, name, utcnow())
    if row is None:
        raise NotFoundException(f"Alias {_alias_arn(ctx, name)} is not found.")
    return dict(row)


def _create_resources(ctx: RequestContext, params: Params) -> list[str]:
    context_keys(ctx, params)
    check_alias_name(params["AliasName"])
    return [_alias_arn(ctx, params["AliasName"]), _target(ctx, params["TargetKeyId"])["arn"]]


def _update_resources(ctx: RequestContext, params: Params) -> list[str]:
    check_alias_name(params["AliasName"])
    current = _existing(ctx, params["AliasName"])
    return [_alias_arn(ctx, params["AliasName"]), current["arn"], _target(ctx, params["TargetKeyId"])["arn"]]


def _delete_resources(ctx: RequestContext, params: Params) -> list[str]:
    check_alias_name(params["AliasName"])
    return [_alias_arn(ctx, params["AliasName"]), _existing(ctx, params["AliasName"])["arn"]]


@api.operation("CreateAlias", resources=_create_resources)
def create_alias(ctx: RequestContext, params: Params) -> Params:
    name = params["AliasName"]
    key = _target(ctx, params["TargetKeyId"])
    now = utcnow()
    with ctx.cloud.db.begin() as conn:
        records.purge_deleted(conn, now)
        taken = conn.execute(select(state.aliases.c.name).where(
            state.aliases.c.account_id == ctx.account_id, state.aliases.c.region == ctx.region,
            state.aliases.c.name == name)).first()
        if taken is not None:
            raise AlreadyExistsException(f"An alias with the name {_alias_arn(ctx, name)} already exists")
        records.add_alias(conn, ctx.account_id, ctx.region, name, key["key_id"], now)
    ctx.audit_resources.append(_alias_arn(ctx, name))
    return {}


@api.operation("UpdateAlias", resources=_update_resources)
def update_alias(ctx: RequestContext, params: Params) -> Params:
    key = _target(ctx, params["TargetKeyId"])
    current = _existing(ctx, params["AliasName"])
    if current["key_usage"] != key["key_usage"] or current["key_spec"] != key["key_spec"]:
        raise ValidationException("The new target key must have the same key type and key usage as the "
                                  "current target key.")
    with ctx.cloud.db.begin() as conn:
        conn.execute(update(state.aliases).where(
            state.aliases.c.account_id == ctx.account_id, state.aliases.c.region == ctx.region,
            state.aliases.c.name == params["AliasName"]).values(key_id=key["key_id"], updated_at=utcnow()))
    return {}


@api.operation("DeleteAlias", resources=_delete_resources)
def delete_alias(ctx: RequestContext, params: Params) -> Params:
    _existing(ctx, params["AliasName"])
    with ctx.cloud.db.begin() as conn:
        conn.execute(delete(state.aliases).where(
            state.aliases.c.account_id == ctx.account_id, state.aliases.c.region == ctx.region,
            state.aliases.c.name == params["AliasName"]))
    return {}


@api.operation("ListAliases")
def list_aliases(ctx: RequestContext, params: Params) -> Params:
    now = utcnow()
    region = records.Region.of(ctx.cloud, ctx.region)
    query = (select(state.aliases, state.keys.c.deletion_date, state.keys.c.enabled)
             .join(state.keys, state.keys.c.key_id == state.aliases.c.key_id)
             .where(state.aliases.c.account_id == ctx.account_id, state.aliases.c.region == ctx.region))
    if params.get("KeyId"):
        kind, _, _ = records.split_reference(params["KeyId"])
        if kind != "key":
            raise ValidationException(f"Invalid keyId {params['KeyId']}: ListAliases takes a key id or key ARN.")
        query = query.where(state.aliases.c.key_id == resolve_key(ctx, params["KeyId"])["key_id"])
    with ctx.cloud.db.read() as conn:
        rows = [row for row in conn.execute(query).mappings() if records.key_state(row, now) is not None]
    entries = {row["name"]: {"AliasName": row["name"], "AliasArn": region.alias_arn(ctx.account_id, row["name"]),
                             "TargetKeyId": row["key_id"], "CreationDate": row["created_at"],
                             "LastUpdatedDate": row["updated_at"]} for row in rows}
    if not params.get("KeyId"):
        for service in records.MANAGED_KEY_SERVICES:
            name = f"alias/aws/{service}"
            entries.setdefault(name, {"AliasName": name, "AliasArn": region.alias_arn(ctx.account_id, name)})
    ordered = [entries[name] for name in sorted(entries)]
    chunk, paging = views.page(ordered, params.get("Marker"), params.get("Limit"), 100,
                               lambda entry: entry["AliasName"])
    return {"Aliases": chunk, **paging}
