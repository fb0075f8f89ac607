"""ListUsers: a pool's users in creation order, filtered by one attribute, in pages of at most 60."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import select

from controller.api import RequestContext
from controller.cognito_idp import errors, state, user_filter
from controller.cognito_idp.pools import pool_resources, pool_row
from controller.cognito_idp.service import api
from controller.cognito_idp.users import user_shape

MAX_LIMIT = 60


def encode_token(user_id: int) -> str:
    return base64.urlsafe_b64encode(f"u:{user_id}".encode()).decode()


def decode_token(token: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "u":
            raise ValueError(token)
        return int(value)
    except (ValueError, binascii.Error, UnicodeError):
        raise errors.InvalidParameterException("Invalid pagination token.") from None


@api.operation("ListUsers", resources=pool_resources)
def list_users(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = params.get("Limit") or MAX_LIMIT
    if not 0 < limit <= MAX_LIMIT:
        raise errors.InvalidParameterException(f"Limit must be between 1 and {MAX_LIMIT}.")
    try:
        wanted = user_filter.parse(params.get("Filter"))
    except ValueError as exc:
        raise errors.InvalidParameterException(str(exc)) from None
    after = decode_token(params["PaginationToken"]) if params.get("PaginationToken") else 0
    names = params.get("AttributesToGet")
    page: list[dict[str, Any]] = []
    more = False
    with ctx.cloud.db.read() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        rows = conn.execute(select(state.users).where(state.users.c.pool_id == pool["pool_id"],
                                                      state.users.c.user_id > after)
                            .order_by(state.users.c.user_id)).mappings()
        for row in rows:
            if wanted is not None and not wanted.matches(row):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(dict(row))
    out: dict[str, Any] = {"Users": [user_shape(user, names) for user in page]}
    if more:
        out["PaginationToken"] = encode_token(page[-1]["user_id"])
    return out
