"""Identity pools: Create/Describe/List/Update/DeleteIdentityPool, Set/GetIdentityPoolRoles, tags."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, insert, select, update

from controller.api import Params, RequestContext
from controller.cognito_identity.service import api
from controller.cognito_identity.state import pools
from controller.errors import error

ResourceNotFoundException = error("ResourceNotFoundException", 404)
InvalidParameterException = error("InvalidParameterException", 400)

SETTINGS = ("AllowUnauthenticatedIdentities", "AllowClassicFlow", "SupportedLoginProviders",
            "DeveloperProviderName", "OpenIdConnectProviderARNs", "CognitoIdentityProviders",
            "SamlProviderARNs")


def pool_arn(row: dict[str, Any]) -> str:
    return f"arn:aws:cognito-identity:{row['region']}:{row['account_id']}:identitypool/{row['pool_id']}"


def find_pool(cloud: Any, pool_id: str) -> dict[str, Any] | None:
    """A pool's row by id (any account: the id alone names it, as unsigned GetId calls do)."""
    with cloud.db.read() as conn:
        row = conn.execute(select(pools).where(pools.c.pool_id == pool_id)).mappings().first()
    return dict(row) if row else None


def _owned(ctx: RequestContext, pool_id: str) -> dict[str, Any]:
    row = find_pool(ctx.cloud, pool_id)
    if row is None or row["account_id"] != ctx.account_id:
        raise ResourceNotFoundException(f"IdentityPool '{pool_id}' not found.")
    return row


def _shape(row: dict[str, Any]) -> Params:
    output: Params = {"IdentityPoolId": row["pool_id"], "IdentityPoolName": row["name"], **row["config"]}
    if row["tags"]:
        output["IdentityPoolTags"] = row["tags"]
    return output


def _settings(params: Params) -> dict[str, Any]:
    return {key: params[key] for key in SETTINGS if key in params}


def _pool_resource(ctx: RequestContext, params: Params) -> list[str]:
    return [f"arn:aws:cognito-identity:{ctx.region}:{ctx.account_id}:identitypool/"
            f"{params.get('IdentityPoolId', '*')}"]


@api.operation("CreateIdentityPool", resources=_pool_resource)
def create_pool(ctx: RequestContext, params: Params) -> Params:
    row = {"pool_id": f"{ctx.region}:{uuid.uuid4()}", "account_id": ctx.account_id, "region": ctx.region,
           "name": params["IdentityPoolName"], "config": _settings(params), "roles": {}, "role_mappings": {},
           "tags": params.get("IdentityPoolTags") or {}}
    with ctx.cloud.db.begin() as conn:
        conn.execute(insert(pools).values(**row))
    ctx.audit_resources.append(pool_arn(row))
    return _shape(row)


@api.operation("DescribeIdentityPool", resources=_pool_resource)
def describe_pool(ctx: RequestContext, params: Params) -> Params:
    return _shape(_owned(ctx, params["IdentityPoolId"]))


@api.operation("UpdateIdentityPool", resources=_pool_resource)
def update_pool(ctx: RequestContext, params: Params) -> Params:
    row = _owned(ctx, params["IdentityPoolId"])
    row.update(name=params["IdentityPoolName"], config=_settings(params))
    if "IdentityPoolTags" in params:
        row["tags"] = params["IdentityPoolTags"]
    with ctx.cloud.db.begin() as conn:
        conn.execute(update(pools).where(pools.c.pool_id == row["pool_id"])
                     .values(name=row["name"], config=row["config"], tags=row["tags"]))
    return _shape(row)


@api.operation("DeleteIdentityPool", resources=_pool_resource)
def delete_pool(ctx: RequestContext, params: Params) -> Params:
    row = _owned(ctx, params["IdentityPoolId"])
    with ctx.cloud.db.begin() as conn:
        conn.execute(delete(pools).where(pools.c.pool_id == row["pool_id"]))
    return {}


@api.operation("ListIdentityPools", resources=_pool_resource)
def list_pools(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(pools.c.pool_id, pools.c.name).where(
            pools.c.account_id == ctx.account_id, pools.c.region == ctx.region).order_by(pools.c.pool_id)).all()
    after = params.get("NextToken") or ""
    page = [row for row in rows if row.pool_id > after][:params["MaxResults"]]
    output: Params = {"IdentityPools": [{"IdentityPoolId": r.pool_id, "IdentityPoolName": r.name} for r in page]}
    if page and page[-1].pool_id != rows[-1].pool_id:
        output["NextToken"] = page[-1].pool_id
    return output


@api.operation("SetIdentityPoolRoles", resources=_pool_resource)
def set_roles(ctx: RequestContext, params: Params) -> Params:
    row = _owned(ctx, params["IdentityPoolId"])
    roles = params["Roles"]
    unknown = set(roles) - {"authenticated", "unauthenticated"}
    if unknown:
        raise InvalidParameterException(f"Invalid role type(s): {', '.join(sorted(unknown))}")
    for provider, mapping in (params.get("RoleMappings") or {}).items():
        if mapping.get("Type") not in ("Token", "Rules"):
            raise InvalidParameterException(f"RoleMapping for {provider} needs Type Token or Rules")
        if mapping["Type"] == "Rules" and not (mapping.get("RulesConfiguration") or {}).get("Rules"):
            raise InvalidParameterException(f"RoleMapping for {provider} of type Rules needs rules")
    with ctx.cloud.db.begin() as conn:
        conn.execute(update(pools).where(pools.c.pool_id == row["pool_id"])
                     .values(roles=roles, role_mappings=params.get("RoleMappings") or {}))
    return {}


@api.operation("GetIdentityPoolRoles", resources=_pool_resource)
def get_roles(ctx: RequestContext, params: Params) -> Params:
    row = _owned(ctx, params["IdentityPoolId"])
    output: Params = {"IdentityPoolId": row["pool_id"], "Roles": row["roles"]}
    if row["role_mappings"]:
        output["RoleMappings"] = row["role_mappings"]
    return output


def _pool_by_arn(ctx: RequestContext, arn: str) -> dict[str, Any]:
    return _owned(ctx, arn.rsplit("/", 1)[-1])


def _arn_resource(ctx: RequestContext, params: Params) -> list[str]:
    return [params["ResourceArn"]]


@api.operation("TagResource", resources=_arn_resource)
def tag_resource(ctx: RequestContext, params: Params) -> Params:
    row = _pool_by_arn(ctx, params["ResourceArn"])
    tags = {**row["tags"], **params["Tags"]}
    if len(tags) > 50:
        raise InvalidParameterException("An identity pool can have at most 50 tags.")
    with ctx.cloud.db.begin() as conn:
        conn.execute(update(pools).where(pools.c.pool_id == row["pool_id"]).values(tags=tags))
    return {}


@api.operation("UntagResource", resources=_arn_resource)
def untag_resource(ctx: RequestContext, params: Params) -> Params:
    row = _pool_by_arn(ctx, params["ResourceArn"])
    tags = {key: value for key, value in row["tags"].items() if key not in set(params["TagKeys"])}
    with ctx.cloud.db.begin() as conn:
        conn.execute(update(pools).where(pools.c.pool_id == row["pool_id"]).values(tags=tags))
    return {}


@api.operation("ListTagsForResource", resources=_arn_resource)
def list_tags(ctx: RequestContext, params: Params) -> Params:
    return {"Tags": _pool_by_arn(ctx, params["ResourceArn"])["tags"]}
