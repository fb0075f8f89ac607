"""Authorizers: TOKEN and REQUEST (a Lambda function) and COGNITO_USER_POOLS, with Create/Get/Update/Delete.

The checks are AWS's: Lambda authorizers need an ``authorizerUri``; a TOKEN authorizer needs one
``method.request.header.*`` identity source; a REQUEST authorizer with caching needs identity sources;
a Cognito authorizer needs ``providerARNs`` of user pools. An authorizer a method uses cannot be deleted.
"""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.apigateway import errors, patch
from controller.apigateway.items import ItemKind, register_item_operations
from controller.apigateway.records import (
    delete_item,
    find_api,
    list_items,
    need_item,
    new_id,
    operation,
    put_item,
)

TYPES = ("TOKEN", "REQUEST", "COGNITO_USER_POOLS")
_SOURCE_PREFIXES = ("method.request.header.", "method.request.querystring.", "method.request.multivalueheader.",
                    "method.request.multivaluequerystring.", "stageVariables.", "context.")

UPDATE_RULES = (
    patch.Rule("/name"), patch.Rule("/type"), patch.Rule("/authType"), patch.Rule("/authorizerUri"),
    patch.Rule("/authorizerCredentials"), patch.Rule("/identitySource"),
    patch.Rule("/identityValidationExpression"), patch.Rule("/authorizerResultTtlInSeconds", "int"),
    patch.Rule("/providerARNs", "values"),
)


def check_authorizer(doc: dict[str, Any]) -> None:
    """AWS's rules for an authorizer document (pure)."""
    kind = doc.get("type")
    if kind not in TYPES:
        raise errors.BadRequestException(f"Invalid authorizer type specified. Valid options are {','.join(TYPES)}")
    if not doc.get("name"):
        raise errors.BadRequestException("An authorizer needs a name.")
    ttl = doc.get("authorizerResultTtlInSeconds", 300)
    if not 0 <= ttl <= 3600:
        raise errors.BadRequestException("authorizerResultTtlInSeconds must be between 0 and 3600.")
    sources = [part.strip() for part in (doc.get("identitySource") or "").split(",") if part.strip()]
    if kind == "COGNITO_USER_POOLS":
        arns = doc.get("providerARNs") or []
        if not arns or any(":cognito-idp:" not in arn or ":userpool/" not in arn for arn in arns):
            raise errors.BadRequestException(
                "Invalid providerARNs: a COGNITO_USER_POOLS authorizer needs user pool ARNs "
                "(arn:aws:cognito-idp:{region}:{account}:userpool/{pool-id}).")
    else:
        if not (doc.get("authorizerUri") or "").startswith("arn:aws:apigateway:"):
            raise errors.BadRequestException(f"Invalid Authorizer URI specified for authorizer of type {kind}: "
                                             "arn:aws:apigateway:{region}:lambda:path/... expected.")
        if kind == "TOKEN" and (len(sources) != 1 or not sources[0].startswith("method.request.header.")):
            raise errors.BadRequestException(
                "Invalid identity source: a TOKEN authorizer takes one method.request.header.<name>.")
        if kind == "REQUEST" and ttl > 0 and not sources:
            raise errors.BadRequestException(
                "Identity sources are required for a REQUEST authorizer that caches its results.")
    for source in sources:
        if not source.startswith(_SOURCE_PREFIXES):
            raise errors.BadRequestException(f"Invalid identity source specified: {source}")


@operation("CreateAuthorizer")
def create_authorizer(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        doc: dict[str, Any] = {"id": new_id(6), "name": params.get("name"), "type": params.get("type"),
                               "authorizerResultTtlInSeconds": params.get("authorizerResultTtlInSeconds", 300)}
        if doc["type"] == "COGNITO_USER_POOLS" and not params.get("identitySource"):
            doc["identitySource"] = "method.request.header.Authorization"
        for member in ("providerARNs", "authType", "authorizerUri", "authorizerCredentials", "identitySource",
                       "identityValidationExpression"):
            if params.get(member) is not None:
                doc[member] = params[member]
        check_authorizer(doc)
        put_item(conn, api_id, "authorizer", doc["id"], doc)
    return doc


register_item_operations(ItemKind("authorizer", "authorizerId", "Authorizer", UPDATE_RULES, check_authorizer),
                         get="GetAuthorizer", get_all="GetAuthorizers", update="UpdateAuthorizer")


@operation("DeleteAuthorizer")
def delete_authorizer(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        api_id = find_api(conn, ctx, params["restApiId"])["api_id"]
        authorizer_id = params["authorizerId"]
        need_item(conn, api_id, "authorizer", authorizer_id, "Authorizer")
        for _, method in list_items(conn, api_id, "method"):
            if method.get("authorizerId") == authorizer_id:
                raise errors.ConflictException(
                    f"Cannot delete authorizer {authorizer_id}: it is in use by method {method['httpMethod']}.")
        delete_item(conn, api_id, "authorizer", authorizer_id)
    return {}
