"""What every WAF module shares: ARNs, scope and name checks, finding an entity, lock tokens, paging, tags.

Entities are found AWS's way, by name, scope and id together (a name that does not belong to the id is a
nonexistent item), and changed only with the lock token of the version the caller read: every write stores a
new token, so a stale one is WAFOptimisticLockException. Every write also counts against the region's revision
(:mod:`controller.wafv2.state`), which is what the data plane's compiled web ACLs are cached against.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from controller.api import Params, RequestContext
from controller.wafv2 import errors
from controller.wafv2.service import api
from controller.wafv2.state import entities, revisions

KINDS = {"webacl": "WEB_ACL", "ipset": "IP_SET", "regexpatternset": "REGEX_PATTERN_SET"}
_NAME = re.compile(r"[\w\-]{1,128}")
_DESCRIPTION = re.compile(r"[\w+=:#@/\-,\.][\w+=:#@/\-,\.\s]{0,255}")
_TAG_KEY = re.compile(r"[\w\s.:/=+@-]{1,128}")
_TAG_VALUE = re.compile(r"[\w\s.:/=+@-]{0,256}")
_ARN = re.compile(r"arn:aws:wafv2:([a-z0-9-]+):(\d{12}):regional/(webacl|ipset|regexpatternset)/([\w\-]+)/"
                  r"([0-9a-f-]{36})")
MAX_LIMIT = 100


def arn_of(kind: str, region: str, account_id: str, name: str, entity_id: str) -> str:
    return f"arn:aws:wafv2:{region}:{account_id}:regional/{kind}/{name}/{entity_id}"


def row_arn(row: dict[str, Any]) -> str:
    return arn_of(row["kind"], row["region"], row["account_id"], row["name"], row["entity_id"])


@dataclass(frozen=True)
class ArnParts:
    region: str
    account_id: str
    kind: str
    name: str
    entity_id: str


def parse_arn(arn: str, field: str = "RESOURCE_ARN") -> ArnParts:
    match = _ARN.fullmatch(arn or "")
    if match is None:
        raise errors.invalid(field, arn)
    return ArnParts(*match.groups())


def check_scope(scope: str) -> None:
    """Cloudlet serves regional web ACLs only: CloudFront's scope belongs to us-east-1's CloudFront."""
    if scope != "REGIONAL":
        raise errors.invalid("SCOPE_VALUE", scope, "The scope is not valid.")


def check_name(name: str, field: str) -> None:
    if not _NAME.fullmatch(name or ""):
        raise errors.invalid(field, name)


def check_description(description: str | None, field: str) -> None:
    if description is not None and not _DESCRIPTION.fullmatch(description):
        raise errors.invalid(field, description)


def check_tags(tags: list[dict[str, str]]) -> list[dict[str, str]]:
    for tag in tags:
        if not _TAG_KEY.fullmatch(tag.get("Key") or "") or not _TAG_VALUE.fullmatch(tag.get("Value", "")):
            raise errors.invalid("TAGS", tag.get("Key"))
        if tag["Key"].lower().startswith("aws:"):
            raise errors.invalid("TAGS", tag["Key"], "Tag keys may not start with aws:.")
    if len(tags) > 50:
        raise errors.WAFLimitsExceededException("A resource can have at most 50 tags.", SourceType="TAGS")
    return [{"Key": tag["Key"], "Value": tag.get("Value", "")} for tag in tags]


def new_token() -> str:
    return str(uuid.uuid4())


def bump(conn: Connection, account_id: str, region: str) -> None:
    """Count a write in the region: compiled web ACLs cached against the revision go stale."""
    changed = conn.execute(update(revisions).where(revisions.c.account_id == account_id,
                                                   revisions.c.region == region)
                           .values(revision=revisions.c.revision + 1)).rowcount
    if not changed:
        conn.execute(insert(revisions).values(account_id=account_id, region=region, revision=1))


def find(conn: Connection, ctx: RequestContext, kind: str, scope: str, name: str, entity_id: str) -> dict[str, Any]:
    """The caller's entity named ``name`` with id ``entity_id``, or WAFNonexistentItemException."""
    check_scope(scope)
    row = conn.execute(select(entities).where(
        entities.c.entity_id == entity_id, entities.c.kind == kind, entities.c.account_id == ctx.account_id,
        entities.c.region == ctx.region, entities.c.scope == scope)).mappings().first()
    if row is None or row["name"] != name:
        raise errors.nonexistent()
    return dict(row)


def find_by_arn(conn: Connection, ctx: RequestContext, arn: str, kind: str | None = None,
                field: str = "RESOURCE_ARN") -> dict[str, Any]:
    parts = parse_arn(arn, field)
    if kind is not None and parts.kind != kind:
        raise errors.invalid(field, arn)
    if parts.account_id != ctx.account_id or parts.region != ctx.region:
        raise errors.nonexistent()
    return find(conn, ctx, parts.kind, "REGIONAL", parts.name, parts.entity_id)


def create(conn: Connection, ctx: RequestContext, kind: str, scope: str, name: str,
           build: Callable[[str, str], dict[str, Any]], tags: list[dict[str, str]]) -> dict[str, Any]:
    """Store a new entity; ``build(id, arn)`` makes its document. A taken name is WAFDuplicateItemException."""
    check_scope(scope)
    taken = conn.execute(select(entities.c.entity_id).where(
        entities.c.account_id == ctx.account_id, entities.c.region == ctx.region, entities.c.scope == scope,
        entities.c.kind == kind, entities.c.name == name)).first()
    if taken:
        raise errors.WAFDuplicateItemException(errors.DUPLICATE)
    entity_id = str(uuid.uuid4())
    row = {"entity_id": entity_id, "kind": kind, "account_id": ctx.account_id, "region": ctx.region,
           "scope": scope, "name": name, "lock_token": new_token(), "created_at": time.time(), "tags": tags}
    row["doc"] = build(entity_id, row_arn(row))
    conn.execute(insert(entities).values(**row))
    bump(conn, ctx.account_id, ctx.region)
    ctx.audit_resources.append(row_arn(row))
    return row


def check_token(row: dict[str, Any], lock_token: str) -> None:
    if row["lock_token"] != lock_token:
        raise errors.WAFOptimisticLockException(errors.STALE_LOCK)


def replace(conn: Connection, row: dict[str, Any], doc: dict[str, Any], lock_token: str) -> str:
    """Store ``doc`` for an entity read with ``lock_token``; returns the next lock token."""
    check_token(row, lock_token)
    token = new_token()
    done = conn.execute(update(entities).where(entities.c.entity_id == row["entity_id"],
                                               entities.c.lock_token == lock_token)
                        .values(doc=doc, lock_token=token)).rowcount
    if not done:
        raise errors.WAFOptimisticLockException(errors.STALE_LOCK)
    bump(conn, row["account_id"], row["region"])
    return token


def remove(conn: Connection, row: dict[str, Any], lock_token: str) -> None:
    check_token(row, lock_token)
    conn.execute(delete(entities).where(entities.c.entity_id == row["entity_id"]))
    bump(conn, row["account_id"], row["region"])


def referenced(conn: Connection, row: dict[str, Any]) -> bool:
    """Whether any web ACL of the account names the entity's ARN (AWS refuses to delete what is in use)."""
    arn = row_arn(row)
    docs = conn.execute(select(entities.c.doc).where(
        entities.c.kind == "webacl", entities.c.account_id == row["account_id"],
        entities.c.region == row["region"])).scalars()
    return any(arn in str(doc.get("Rules")) for doc in docs)


def get_entity(ctx: RequestContext, kind: str, params: Params, member: str) -> Params:
    """GetIPSet and GetRegexPatternSet: the stored document under ``member``, with its lock token."""
    with ctx.cloud.db.read() as conn:
        row = find(conn, ctx, kind, params["Scope"], params["Name"], params["Id"])
    return {member: row["doc"], "LockToken": row["lock_token"]}


def delete_unused(ctx: RequestContext, kind: str, params: Params) -> Params:
    """DeleteIPSet and DeleteRegexPatternSet: the lock token must be current and no web ACL may use it."""
    with ctx.cloud.db.begin() as conn:
        row = find(conn, ctx, kind, params["Scope"], params["Name"], params["Id"])
        check_token(row, params["LockToken"])
        if referenced(conn, row):
            raise errors.WAFAssociatedItemException(errors.ASSOCIATED)
        remove(conn, row, params["LockToken"])
    return {}


def set_tags(conn: Connection, row: dict[str, Any], tags: list[dict[str, str]]) -> None:
    conn.execute(update(entities).where(entities.c.entity_id == row["entity_id"]).values(tags=tags))


def summary(row: dict[str, Any]) -> Params:
    output: Params = {"Name": row["name"], "Id": row["entity_id"], "LockToken": row["lock_token"],
                      "ARN": row_arn(row)}
    if row["doc"].get("Description") is not None:
        output["Description"] = row["doc"]["Description"]
    return output


def list_page(ctx: RequestContext, kind: str, params: Params, key: str) -> Params:
    """One page of the caller's entities of ``kind`` as summaries, by name, with AWS's NextMarker."""
    check_scope(params["Scope"])
    limit = params.get("Limit", MAX_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.invalid("ENTITY_LIMIT", limit)
    with ctx.cloud.db.read() as conn:
        rows = [dict(r) for r in conn.execute(select(entities).where(
            entities.c.kind == kind, entities.c.account_id == ctx.account_id, entities.c.region == ctx.region,
            entities.c.scope == params["Scope"]).order_by(entities.c.name)).mappings()]
    start = 0
    marker = params.get("NextMarker")
    if marker:
        start = next((i for i, row in enumerate(rows) if row["name"] > marker), len(rows))
    chosen = rows[start:start + limit]
    output: Params = {key: [summary(row) for row in chosen]}
    if start + limit < len(rows):
        output["NextMarker"] = chosen[-1]["name"]      # names sort, and are unique in a scope
    return output


def entity_resources(kind: str) -> Callable[[RequestContext, Params], list[str]]:
    """The ARN an operation on one ``kind`` entity acts on (name and id from the input, else wildcards)."""
    def resources(ctx: RequestContext, params: Params) -> list[str]:
        for member in ("ARN", "WebACLArn", "WebAclArn", "ResourceARN"):
            if params.get(member):
                return [params[member]]
        return [arn_of(kind, ctx.region, ctx.account_id, params.get("Name", "*"), params.get("Id", "*"))]
    return resources


def operation(name: str, kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``name`` on the wafv2 ServiceApi, authorized on the ``kind`` entity it names."""
    return api.operation(name, resources=entity_resources(kind))
