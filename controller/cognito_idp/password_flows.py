"""The flows that prove a user with a password or a refresh token, and the NEW_PASSWORD_REQUIRED answer.

USER_PASSWORD_AUTH (and, for the Admin* calls, ADMIN_USER_PASSWORD_AUTH / its legacy name
ADMIN_NO_SRP_AUTH) checks the password, then :func:`auth.finish` decides what follows.
REFRESH_TOKEN_AUTH (legacy REFRESH_TOKEN) mints new id and access tokens from a live refresh token of
the same client, with the sign-in's ``auth_time`` and ``origin_jti``.
"""

from __future__ import annotations

from typing import Any

from controller.cognito_idp import auth, errors, tokens
from controller.cognito_idp.auth import AuthCall
from controller.cognito_idp.passwords import check_password
from controller.cognito_idp.users import (
    check_attributes,
    find_user,
    get_user,
    set_password,
    update_attributes,
)


def user_for(call: AuthCall, name: str) -> dict[str, Any]:
    """The user ``name`` names, or Cognito's answer for an unknown one (which the client's
    PreventUserExistenceErrors decides: UserNotFoundException under LEGACY, else a wrong password)."""
    with call.ctx.cloud.db.read() as conn:
        user = find_user(conn, call.pool["Id"], name)
    if user is None:
        if call.client.get("PreventUserExistenceErrors") == "ENABLED":
            raise errors.bad_credentials()
        raise errors.no_user()
    return user


def password_auth(call: AuthCall) -> dict[str, Any]:
    name, password = call.parameters.get("USERNAME"), call.parameters.get("PASSWORD")
    if not name:
        raise errors.InvalidParameterException("Missing required parameter USERNAME")
    if not password:
        raise errors.InvalidParameterException("Missing required parameter PASSWORD")
    user = user_for(call, name)
    auth.check_secret(call, name, user["username"])
    if not check_password(user["password_hash"], password):
        raise errors.bad_credentials()
    return auth.finish(call, user)


def refresh_auth(call: AuthCall) -> dict[str, Any]:
    token = call.parameters.get("REFRESH_TOKEN")
    if not token:
        raise errors.InvalidParameterException("Missing required parameter REFRESH_TOKEN")
    with call.ctx.cloud.db.read() as conn:
        row = tokens.find_refresh_token(conn, token)
        user = get_user(conn, row["user_id"]) if row else None
    if row is None or user is None or row["client_id"] != call.client["ClientId"]:
        raise errors.NotAuthorizedException("Invalid Refresh Token")
    auth.check_secret(call, call.parameters.get("USERNAME", ""), user["username"], user["sub"])
    if not user["enabled"]:
        raise errors.NotAuthorizedException("User is disabled.")
    result = tokens.issue(call.ctx.cloud, call.pool, call.client, user, scopes=row["scopes"],
                          auth_time=row["auth_time"], origin_jti=row["origin_jti"])
    return {"ChallengeParameters": {}, "AuthenticationResult": result}


def new_password_required(call: AuthCall) -> dict[str, Any]:
    """The answer to NEW_PASSWORD_REQUIRED: a new password (and any attributes) replaces the temporary one."""
    if call.session is None:
        raise errors.InvalidParameterException("Missing required parameter Session")
    password = call.parameters.get("NEW_PASSWORD")
    if not password:
        raise errors.InvalidParameterException("Missing required parameter NEW_PASSWORD")
    given = call.parameters.get("USERNAME", "")
    changes = {k.removeprefix("userAttributes."): v for k, v in call.parameters.items()
               if k.startswith("userAttributes.")}
    with call.ctx.cloud.db.begin() as conn:
        user = find_user(conn, call.pool["Id"], call.session["username"])
        if user is None or user["status"] != "FORCE_CHANGE_PASSWORD":
            raise errors.bad_session()
        auth.check_secret(call, given, user["username"])
        set_password(conn, call.pool, user, password, status="CONFIRMED")
        if changes:
            check_attributes(call.pool, changes, creating=False)
            update_attributes(conn, user, changes)
        user = get_user(conn, user["user_id"])
    auth.end_session(call.ctx.cloud, call.session["token"])
    return auth.finish(call, user)


auth.FLOWS.update({"USER_PASSWORD_AUTH": password_auth, "ADMIN_USER_PASSWORD_AUTH": password_auth,
                   "ADMIN_NO_SRP_AUTH": password_auth, "REFRESH_TOKEN_AUTH": refresh_auth,
                   "REFRESH_TOKEN": refresh_auth})
auth.CHALLENGES["NEW_PASSWORD_REQUIRED"] = new_password_required
