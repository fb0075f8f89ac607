"""Associating web ACLs with resources: Associate/DisassociateWebACL, GetWebACLForResource,
ListResourcesForWebACL.

The resources Cloudlet can put a web ACL in front of are API Gateway REST API stages
(``arn:aws:apigateway:{region}::/restapis/{api-id}/stages/{stage}``), which must exist in the caller's account
and region. A resource has at most one web ACL: associating another replaces it, as AWS does.

The stage itself carries the link (:mod:`controller.wafv2.stage_links`).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from controller.api import Params, RequestContext
from controller.apigateway.state import items, rest_apis
from controller.wafv2 import errors, records, web_acls
from controller.wafv2.service import api
from controller.wafv2.stage_links import STAGE_ARN, attached, link
from controller.wafv2.state import associations, entities

RESOURCE_TYPES = ("APPLICATION_LOAD_BALANCER", "API_GATEWAY", "APPSYNC", "COGNITO_USER_POOL", "APP_RUNNER_SERVICE",
                  "VERIFIED_ACCESS_INSTANCE", "AMPLIFY")


def _check_resource(conn: Connection, ctx: RequestContext, arn: str) -> None:
    """An API Gateway stage ARN of the caller's region whose stage exists, or AWS's errors."""
    match = STAGE_ARN.fullmatch(arn or "")
    if match is None:
        raise errors.invalid("RESOURCE_ARN", arn)
    region, api_id, stage = match.groups()
    found = region == ctx.region and conn.execute(
        select(items.c.item_id).join(rest_apis, rest_apis.c.api_id == items.c.api_id).where(
            items.c.api_id == api_id, items.c.kind == "stage", items.c.item_id == stage,
            rest_apis.c.account_id == ctx.account_id, rest_apis.c.region == ctx.region)).first()
    if not found:
        raise errors.nonexistent()


def _resource(ctx: RequestContext, params: Params) -> list[str]:
    return [params.get("WebACLArn") or params.get("ResourceArn") or "*"]


@api.operation("AssociateWebACL", resources=_resource)
def associate(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        acl = records.find_by_arn(conn, ctx, params["WebACLArn"], "webacl")
        _check_resource(conn, ctx, params["ResourceArn"])
        conn.execute(delete(associations).where(associations.c.resource_arn == params["ResourceArn"]))
        conn.execute(insert(associations).values(resource_arn=params["ResourceArn"], web_acl_id=acl["entity_id"],
                                                 account_id=ctx.account_id, region=ctx.region))
        link(conn, params["ResourceArn"], records.row_arn(acl))
        records.bump(conn, ctx.account_id, ctx.region)
    return {}


@api.operation("DisassociateWebACL", resources=_resource)
def disassociate(ctx: RequestContext, params: Params) -> Params:
    arn = params["ResourceArn"]
    if STAGE_ARN.fullmatch(arn or "") is None:
        raise errors.invalid("RESOURCE_ARN", arn)
    with ctx.cloud.db.begin() as conn:
        removed = conn.execute(delete(associations).where(associations.c.resource_arn == arn,
                                                          associations.c.account_id == ctx.account_id)).rowcount
        if removed:
            link(conn, arn, None)
        records.bump(conn, ctx.account_id, ctx.region)
    return {}


@api.operation("GetWebACLForResource", resources=_resource)
def web_acl_for_resource(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        _check_resource(conn, ctx, params["ResourceArn"])
        doc = conn.execute(select(entities.c.doc).join(
            associations, associations.c.web_acl_id == entities.c.entity_id).where(
            associations.c.resource_arn == params["ResourceArn"])).scalar()
        if doc is not None and not attached(conn, params["ResourceArn"], doc["ARN"]):
            doc = None
    return {"WebACL": web_acls.wire(doc)} if doc is not None else {}


@api.operation("ListResourcesForWebACL", resources=_resource)
def resources_for_web_acl(ctx: RequestContext, params: Params) -> Params:
    """The web ACL's resources of one type: AWS's default type is APPLICATION_LOAD_BALANCER, which Cloudlet
    has none of, so API Gateway stages are listed for ``ResourceType=API_GATEWAY``."""
    resource_type = params.get("ResourceType") or "APPLICATION_LOAD_BALANCER"
    if resource_type not in RESOURCE_TYPES:
        raise errors.invalid("RESOURCE_TYPE", resource_type)
    with ctx.cloud.db.read() as conn:
        acl = records.find_by_arn(conn, ctx, params["WebACLArn"], "webacl")
        arns = [arn for arn in conn.execute(select(associations.c.resource_arn).where(
            associations.c.web_acl_id == acl["entity_id"]).order_by(associations.c.resource_arn)).scalars()
            if attached(conn, arn, records.row_arn(acl))]
    return {"ResourceArns": arns if resource_type == "API_GATEWAY" else []}
