"""What a signed-in user does with their own access token: GetUser, DeleteUser, UpdateUserAttributes,
DeleteUserAttributes, ChangePassword, GlobalSignOut; and RevokeToken with a refresh token.

These calls are unsigned: the access token is the credential. It must verify (signature, expiry, not
revoked, user enabled) and carry the ``aws.cognito.signin.user.admin`` scope, as Cognito requires.
"""

from __future__ import annotations

import hmac
from typing import Any

from sqlalchemy import Connection, delete, update

from controller.api import RequestContext
from controller.cognito_idp import delivery, errors, state, tokens
from controller.cognito_idp.admin_users import (
    apply_attribute_changes,
    mfa_members,
    remove_attributes,
    send_verification,
)
from controller.cognito_idp.passwords import check_password
from controller.cognito_idp.pools import find_client, pool_row, pool_shape
from controller.cognito_idp.service import api
from controller.cognito_idp.signup import attributes_of
from controller.cognito_idp.users import get_user, set_password, update_attributes, user_shape


def token_user(conn: Connection, ctx: RequestContext, access_token: str) -> tuple[dict, dict]:
    """The pool and user an access token belongs to, or NotAuthorizedException saying why not."""
    try:
        claims = tokens.verify(ctx.cloud, access_token, token_use="access")
    except tokens.InvalidToken as exc:
        raise errors.NotAuthorizedException(exc.message) from None
    if tokens.DEFAULT_SCOPE not in claims.get("scope", "").split():
        raise errors.NotAuthorizedException("Access Token does not have required scopes")
    pool_id = claims["iss"].rsplit("/", 1)[1]
    pool = pool_shape(pool_row(conn, pool_id))
    row = conn.execute(state.users.select().where(state.users.c.pool_id == pool_id,
                                                  state.users.c.sub == claims["sub"])).mappings().first()
    if row is None:
        raise errors.no_user()
    return pool, dict(row)


@api.operation("GetUser", authorize=False)
def get_user_operation(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        _, user = token_user(conn, ctx, params["AccessToken"])
    shape = user_shape(user)
    return {"Username": shape["Username"], "UserAttributes": shape["Attributes"], **mfa_members(user)}


@api.operation("DeleteUser", authorize=False)
def delete_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        _, user = token_user(conn, ctx, params["AccessToken"])
        conn.execute(delete(state.users).where(state.users.c.user_id == user["user_id"]))
    return {}


@api.operation("UpdateUserAttributes", authorize=False)
def update_user_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    changes = attributes_of(params)
    for name in changes:
        if name.endswith("_verified"):
            raise errors.InvalidParameterException(f"Cannot modify the non-mutable attribute {name}")
    with ctx.cloud.db.begin() as conn:
        pool, user = token_user(conn, ctx, params["AccessToken"])
        deliveries = apply_attribute_changes(ctx.cloud, conn, pool, user, changes)
    return {"CodeDeliveryDetailsList": deliveries}


_VERIFIABLE = ("email", "phone_number")


@api.operation("GetUserAttributeVerificationCode", authorize=False)
def get_user_attribute_verification_code(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = params["AttributeName"]
    if attribute not in _VERIFIABLE:
        raise errors.InvalidParameterException(f"Attribute {attribute} cannot be verified.")
    with ctx.cloud.db.begin() as conn:
        pool, user = token_user(conn, ctx, params["AccessToken"])
        address = user["attributes"].get(attribute)
        if not address:
            raise errors.InvalidParameterException(f"The user has no {attribute} to verify.")
        details = send_verification(ctx.cloud, conn, pool, user, attribute, address)
    return {"CodeDeliveryDetails": details}


@api.operation("VerifyUserAttribute", authorize=False)
def verify_user_attribute(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    attribute = params["AttributeName"]
    if attribute not in _VERIFIABLE:
        raise errors.InvalidParameterException(f"Attribute {attribute} cannot be verified.")
    with ctx.cloud.db.begin() as conn:
        _, user = token_user(conn, ctx, params["AccessToken"])
        delivery.use_code(conn, user["user_id"], f"verify:{attribute}", params["Code"])
        update_attributes(conn, user, {f"{attribute}_verified": "true"})
    return {}


@api.operation("DeleteUserAttributes", authorize=False)
def delete_user_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool, user = token_user(conn, ctx, params["AccessToken"])
        remove_attributes(conn, pool, user, params["UserAttributeNames"])
    return {}


@api.operation("ChangePassword", authorize=False)
def change_password(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool, user = token_user(conn, ctx, params["AccessToken"])
        if not check_password(user["password_hash"], params.get("PreviousPassword") or ""):
            raise errors.bad_credentials()
        set_password(conn, pool, get_user(conn, user["user_id"]), params["ProposedPassword"])
    return {}


@api.operation("GlobalSignOut", authorize=False)
def global_sign_out(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        _, user = token_user(conn, ctx, params["AccessToken"])
        tokens.revoke_user_tokens(conn, user["user_id"])
    return {}


@api.operation("RevokeToken", authorize=False)
def revoke_token(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """Revoke a refresh token and every access/id token minted from it. An unknown token is no error
    (RFC 7009); one of another client is refused."""
    client = find_client(ctx.cloud, None, params["ClientId"])
    if client is None:
        raise errors.no_client(params["ClientId"])
    secret = client.get("ClientSecret")
    if secret and not hmac.compare_digest(secret, params.get("ClientSecret") or ""):
        raise errors.UnauthorizedException("Client secret is not valid.")
    if not client.get("EnableTokenRevocation", True):
        raise errors.UnsupportedOperationException("Token revocation is not enabled for this client.")
    with ctx.cloud.db.begin() as conn:
        row = tokens.find_refresh_token(conn, params["Token"])
        if row is not None:
            if row["client_id"] != client["ClientId"]:
                raise errors.UnauthorizedException("The token was not issued to this client.")
            conn.execute(update(state.refresh_tokens).where(
                state.refresh_tokens.c.token_hash == row["token_hash"]).values(revoked=True))
    return {}
