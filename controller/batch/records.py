"""What every Batch module shares: ARNs, name rules, pagination tokens and the tag table.

Kept apart from the operation modules so that ``resolve.py`` (which the jobs code imports) and the
operations read and write resources one way.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, RowMapping, Table, delete, insert, select

from controller.api import RequestContext
from controller.batch import state
from controller.batch.errors import ClientException

T = TypeVar("T")

#: Compute environment, job queue, scheduling policy and job definition names (AWS: up to 128 letters,
#: numbers, hyphens and underscores).
NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
ARN = re.compile(r"^arn:[a-z-]+:batch:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<kind>[a-z-]+)/(?P<rest>.+)$")
MAX_TAGS = 50


def now() -> float:
    return time.time()


def arn(ctx: RequestContext, kind: str, name: str) -> str:
    """``arn:<partition>:batch:<region>:<account>:<kind>/<name>`` for the caller."""
    return f"arn:{ctx.cloud.config.partition}:batch:{ctx.region}:{ctx.account_id}:{kind}/{name}"


def parse_arn(text: str) -> re.Match[str] | None:
    return ARN.match(text)


def ref_name(ref: str, kind: str, account_id: str, region: str) -> str | None:
    """The name a name-or-ARN reference means in the caller's account and region; None for an ARN of another
    kind, account or region (which then names nothing the caller has)."""
    if not ref.startswith("arn:"):
        return ref
    match = ARN.match(ref)
    if match is None or match["kind"] != kind or match["account"] != account_id or match["region"] != region:
        return None
    return match["rest"]


def ref_pattern(ctx: RequestContext, kind: str, ref: str | None) -> list[str]:
    """The ARN IAM authorizes a name-or-ARN reference against."""
    if not ref:
        return ["*"]
    return [ref if ref.startswith("arn:") else arn(ctx, kind, ref)]


def check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ClientException(f"{what} must be 1-128 characters long and contain only letters, numbers, "
                              "hyphens (-) and underscores (_).")
    return value


def describe(ctx: RequestContext, params: dict[str, Any], table: Table, *, refs_member: str,
             find: Callable[[Connection, str, str, str], RowMapping | None],
             show: Callable[[Connection, RowMapping], dict[str, Any]]) -> dict[str, Any]:
    """A Describe call's answer: the resources ``params[refs_member]`` names (each once, unknown ones left
    out, as AWS leaves them), else all of the caller's in creation order; one page of them, shown."""
    refs = params.get(refs_member) or []
    if len(refs) > 100:
        raise ClientException(f"{refs_member} can contain at most 100 items")
    with ctx.cloud.db.read() as conn:
        if refs:
            found = [row for ref in dict.fromkeys(refs) if (row := find(conn, ctx.account_id, ctx.region, ref))]
            rows = list({row["arn"]: row for row in found}.values())
        else:
            rows = list(conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                         table.c.region == ctx.region)
                                     .order_by(table.c.created_at, table.c.name)).mappings())
        chunk, token = page(rows, params)
        out: dict[str, Any] = {refs_member: [show(conn, row) for row in chunk]}
    if token:
        out["nextToken"] = token
    return out


def page(items: Sequence[T], params: dict[str, Any], *, limit: int = 100) -> tuple[list[T], str | None]:
    """One page of ``items`` for maxResults/nextToken, and the token of the next page (None at the end)."""
    size = params.get("maxResults")
    if size is None:
        size = limit
    if not isinstance(size, int) or not 1 <= size <= limit:
        raise ClientException(f"maxResults must be between 1 and {limit}.")
    start = 0
    token = params.get("nextToken")
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["o"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise ClientException("Invalid nextToken provided.") from None
        if start < 0:
            raise ClientException("Invalid nextToken provided.")
    chunk = list(items[start:start + size])
    end = start + size
    if end >= len(items):
        return chunk, None
    return chunk, base64.urlsafe_b64encode(json.dumps({"o": end}).encode()).decode()


def check_tags(tags: Any) -> dict[str, str]:
    """A tags map as AWS accepts it: 1-50 tags, keys 1-128 characters not starting ``aws:``, values <= 256."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise ClientException("tags must be a map of strings")
    if len(tags) > MAX_TAGS:
        raise ClientException(f"Number of tags must not exceed {MAX_TAGS}.")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise ClientException("Tag keys must be between 1 and 128 characters long.")
        if key.lower().startswith("aws:"):
            raise ClientException("Tag keys starting with 'aws:' are reserved for internal use.")
        if not isinstance(value, str) or len(value) > 256:
            raise ClientException("Tag values must be at most 256 characters long.")
    return dict(tags)


def tags_of(conn: Connection, resource_arn: str) -> dict[str, str]:
    rows = conn.execute(select(state.tags.c.key, state.tags.c.value).where(state.tags.c.arn == resource_arn)
                        .order_by(state.tags.c.key))
    return {row.key: row.value for row in rows}


def put_tags(conn: Connection, resource_arn: str, account_id: str, tags: dict[str, str]) -> None:
    """Add or overwrite ``tags`` on ``resource_arn``; AWS's limit of 50 counts the tags it ends up with."""
    current = tags_of(conn, resource_arn)
    if len({**current, **tags}) > MAX_TAGS:
        raise ClientException(f"Number of tags must not exceed {MAX_TAGS}.")
    if tags:
        conn.execute(delete(state.tags).where(state.tags.c.arn == resource_arn, state.tags.c.key.in_(list(tags))))
        conn.execute(insert(state.tags), [{"arn": resource_arn, "key": key, "value": value,
                                           "account_id": account_id} for key, value in tags.items()])


def drop_tags(conn: Connection, resource_arn: str, keys: Sequence[str] | None = None) -> None:
    """Remove ``keys`` (every tag when None, as when the resource itself goes)."""
    query = delete(state.tags).where(state.tags.c.arn == resource_arn)
    if keys is not None:
        query = query.where(state.tags.c.key.in_(list(keys)))
    conn.execute(query)
