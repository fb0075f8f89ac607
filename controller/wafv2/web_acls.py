"""Web ACLs: Create/Get/Update/Delete/ListWebACLs and CheckCapacity.

A web ACL is stored as GetWebACL's document, its byte-match search strings as base64 text (the store keeps
JSON); what it references (IP sets, regex pattern sets) must exist in the caller's region when it is written,
and a web ACL still associated with a resource cannot be deleted.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import Connection, delete, select

from controller.api import Params, RequestContext
from controller.wafv2 import errors, records, rules
from controller.wafv2.stage_links import attached
from controller.wafv2.state import associations

SETTINGS = ("DefaultAction", "Description", "Rules", "VisibilityConfig", "CustomResponseBodies",
            "AssociationConfig", "TokenDomains")


def _walk(value: Any, convert: Any) -> Any:
    """``value`` with every ``SearchString`` converted (bytes to base64 text for storage, and back)."""
    if isinstance(value, dict):
        return {key: convert(item) if key == "SearchString" else _walk(item, convert) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, convert) for item in value]
    return value


def stored(value: Any) -> Any:
    return _walk(value, lambda item: base64.b64encode(item if isinstance(item, bytes) else item.encode()).decode())


def wire(value: Any) -> Any:
    return _walk(value, base64.b64decode)


def _check(conn: Connection, ctx: RequestContext, params: Params) -> int:
    """Check a web ACL's settings and rules; returns its capacity (WCUs)."""
    bodies = params.get("CustomResponseBodies") or {}
    rules.check_bodies(bodies)
    rules.check_action(params["DefaultAction"], bodies, "DEFAULT_ACTION", default=True)
    rules.check_visibility(params["VisibilityConfig"], "WEB_ACL")
    records.check_description(params.get("Description"), "WEB_ACL")
    for feature in ("CaptchaConfig", "ChallengeConfig", "DataProtectionConfig", "OnSourceDDoSProtectionConfig",
                    "ApplicationConfig", "MonetizationConfig"):
        if params.get(feature) is not None:
            raise errors.invalid("WEB_ACL", feature, errors.UNSUPPORTED)
    checked = rules.check_rules(params.get("Rules") or [], bodies)
    if checked.capacity > rules.MAX_CAPACITY:
        raise errors.WAFLimitsExceededException(
            f"The web ACL needs {checked.capacity} WCUs, more than the {rules.MAX_CAPACITY} allowed.",
            SourceType="WCU")
    for arn in sorted(checked.references):
        parts = records.parse_arn(arn, "STATEMENT")
        if parts.kind not in ("ipset", "regexpatternset"):
            raise errors.invalid("STATEMENT", arn)
        records.find_by_arn(conn, ctx, arn, field="STATEMENT")
    return checked.capacity


def _doc(ctx: RequestContext, entity_id: str, arn: str, params: Params, capacity: int) -> Params:
    doc: Params = {"Name": params["Name"], "Id": entity_id, "ARN": arn, "Rules": [], "Capacity": capacity,
                   "ManagedByFirewallManager": False, "RetrofittedByFirewallManager": False,
                   "LabelNamespace": f"awswaf:{ctx.account_id}:webacl:{params['Name']}:"}
    doc.update({key: params[key] for key in SETTINGS if params.get(key) is not None})
    return stored(doc)


@records.operation("CreateWebACL", "webacl")
def create_web_acl(ctx: RequestContext, params: Params) -> Params:
    records.check_name(params["Name"], "WEB_ACL")
    tags = records.check_tags(params.get("Tags") or [])
    with ctx.cloud.db.begin() as conn:
        records.check_scope(params["Scope"])
        capacity = _check(conn, ctx, params)
        row = records.create(conn, ctx, "webacl", params["Scope"], params["Name"],
                             lambda entity_id, arn: _doc(ctx, entity_id, arn, params, capacity), tags)
    return {"Summary": records.summary(row)}


def _locate(conn: Connection, ctx: RequestContext, params: Params) -> dict[str, Any]:
    if params.get("ARN"):
        return records.find_by_arn(conn, ctx, params["ARN"], "webacl")
    for member in ("Name", "Scope", "Id"):
        if not params.get(member):
            raise errors.invalid("WEB_ACL", member, errors.MISSING)
    return records.find(conn, ctx, "webacl", params["Scope"], params["Name"], params["Id"])


@records.operation("GetWebACL", "webacl")
def get_web_acl(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = _locate(conn, ctx, params)
    return {"WebACL": wire(row["doc"]), "LockToken": row["lock_token"]}


@records.operation("UpdateWebACL", "webacl")
def update_web_acl(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        row = records.find(conn, ctx, "webacl", params["Scope"], params["Name"], params["Id"])
        records.check_token(row, params["LockToken"])
        capacity = _check(conn, ctx, params)
        token = records.replace(conn, row, _doc(ctx, row["entity_id"], row["doc"]["ARN"], params, capacity),
                                params["LockToken"])
    return {"NextLockToken": token}


@records.operation("DeleteWebACL", "webacl")
def delete_web_acl(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        row = records.find(conn, ctx, "webacl", params["Scope"], params["Name"], params["Id"])
        records.check_token(row, params["LockToken"])
        resources = conn.execute(select(associations.c.resource_arn).where(
            associations.c.web_acl_id == row["entity_id"])).scalars()
        if any(attached(conn, arn, row["doc"]["ARN"]) for arn in resources):
            raise errors.WAFAssociatedItemException(errors.ASSOCIATED)
        conn.execute(delete(associations).where(associations.c.web_acl_id == row["entity_id"]))
        records.remove(conn, row, params["LockToken"])
    return {}


@records.operation("ListWebACLs", "webacl")
def list_web_acls(ctx: RequestContext, params: Params) -> Params:
    return records.list_page(ctx, "webacl", params, "WebACLs")


@records.operation("CheckCapacity", "webacl")
def check_capacity(ctx: RequestContext, params: Params) -> Params:
    records.check_scope(params["Scope"])
    checked = rules.check_rules(params["Rules"], None)
    with ctx.cloud.db.read() as conn:
        for arn in sorted(checked.references):
            records.find_by_arn(conn, ctx, arn, field="STATEMENT")
    return {"Capacity": checked.capacity}
