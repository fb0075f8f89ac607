"""The link between a web ACL and the API Gateway stage in front of which it sits: the stage's own
``webAclArn`` (GetStage's member), written through API Gateway's record functions.

The data plane reads it from the stage it serves, so a stage with no web ACL costs WAF nothing, and a deleted
stage takes its association with it. The association rows (``state.associations``) only list a web ACL's
resources; a row whose stage no longer names that web ACL is not an association any more.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection

from controller.apigateway.records import get_item, put_item, touch

STAGE_ARN = re.compile(r"arn:aws:apigateway:([a-z0-9-]+)::/restapis/([A-Za-z0-9]+)/stages/([A-Za-z0-9_\-]+)")


def link(conn: Connection, arn: str, acl_arn: str | None) -> None:
    """Write (or, with None, remove) the stage's ``webAclArn``, counting a revision of its API so cached
    stage views see it."""
    match = STAGE_ARN.fullmatch(arn)
    doc = get_item(conn, match.group(2), "stage", match.group(3)) if match else None
    if match is None or doc is None:
        return
    doc = {k: v for k, v in doc.items() if k != "webAclArn"}
    if acl_arn is not None:
        doc["webAclArn"] = acl_arn
    put_item(conn, match.group(2), "stage", match.group(3), doc)
    touch(conn, match.group(2))


def attached(conn: Connection, arn: str, acl_arn: str) -> bool:
    """Whether the stage ``arn`` still names web ACL ``acl_arn`` (it may have been deleted since)."""
    match = STAGE_ARN.fullmatch(arn)
    doc = get_item(conn, match.group(2), "stage", match.group(3)) if match else None
    return doc is not None and doc.get("webAclArn") == acl_arn
