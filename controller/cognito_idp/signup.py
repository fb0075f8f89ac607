"""Self-service sign-up and password recovery: SignUp, ConfirmSignUp, ResendConfirmationCode,
ForgotPassword, ConfirmForgotPassword.

These calls are unsigned (the app client is the only credential), so every one first checks the
client and, for a client with a secret, its SecretHash. Codes go to the delivery log
(:mod:`controller.cognito_idp.delivery`) since Cloudlet sends no mail.
"""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.cognito_idp import delivery, errors
from controller.cognito_idp.auth import check_secret_hash
from controller.cognito_idp.pools import find_client, find_pool
from controller.cognito_idp.service import api
from controller.cognito_idp.users import (
    check_attributes,
    check_password_policy,
    create_user,
    get_user,
    require_user,
    set_password,
    set_status,
    update_attributes,
)


def client_and_pool(ctx: RequestContext, params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The call's app client and its pool (the caller checks SecretHash: what it is made of varies)."""
    client = find_client(ctx.cloud, None, params["ClientId"])
    if client is None:
        raise errors.no_client(params["ClientId"])
    pool = find_pool(ctx.cloud, client["UserPoolId"])
    if pool is None:
        raise errors.no_pool(client["UserPoolId"])
    return client, pool


def attributes_of(params: dict[str, Any], member: str = "UserAttributes") -> dict[str, str]:
    return {entry["Name"]: entry.get("Value", "") for entry in params.get(member) or []}


@api.operation("SignUp", authorize=False)
def sign_up(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    client, pool = client_and_pool(ctx, params)
    username = params["Username"]
    check_secret_hash(client, params.get("SecretHash"), username)
    if pool["AdminCreateUserConfig"].get("AllowAdminCreateUserOnly"):
        raise errors.NotAuthorizedException("SignUp is not permitted for this user pool")
    password = params.get("Password")
    if not password:
        raise errors.InvalidParameterException("Missing required parameter Password")
    attributes = attributes_of(params)
    check_attributes(pool, attributes, creating=True)
    check_password_policy(pool, password)
    with ctx.cloud.db.begin() as conn:
        user = create_user(conn, pool["Id"], pool, username, attributes, status="UNCONFIRMED")
        set_password(conn, pool, user, password)
        target = delivery.destination_of(pool, user["attributes"])
        details = delivery.send_code(ctx.cloud, conn, pool["Id"], user, "signup", target) if target else None
    out: dict[str, Any] = {"UserConfirmed": False, "UserSub": user["sub"]}
    if details:
        out["CodeDeliveryDetails"] = details
    return out


@api.operation("ConfirmSignUp", authorize=False)
def confirm_sign_up(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    client, pool = client_and_pool(ctx, params)
    with ctx.cloud.db.begin() as conn:
        user = require_user(conn, pool["Id"], params["Username"])
        check_secret_hash(client, params.get("SecretHash"), params["Username"], user["username"])
        if user["status"] != "UNCONFIRMED":
            raise errors.NotAuthorizedException(
                f"User cannot be confirmed. Current status is {user['status']}")
        delivery.use_code(conn, user["user_id"], "signup", params["ConfirmationCode"])
        confirm(conn, pool, user)
    return {}


def confirm(conn: Any, pool: dict[str, Any], user: dict[str, Any]) -> None:
    """Confirm an UNCONFIRMED user; the attribute its code went to becomes verified."""
    target = delivery.destination_of(pool, user["attributes"])
    if target:
        update_attributes(conn, user, {f"{target[0]}_verified": "true"})
    set_status(conn, user, status="CONFIRMED")


@api.operation("ResendConfirmationCode", authorize=False)
def resend_confirmation_code(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    client, pool = client_and_pool(ctx, params)
    with ctx.cloud.db.begin() as conn:
        user = require_user(conn, pool["Id"], params["Username"])
        check_secret_hash(client, params.get("SecretHash"), params["Username"], user["username"])
        if user["status"] != "UNCONFIRMED":
            raise errors.InvalidParameterException("User is already confirmed.")
        target = delivery.destination_of(pool, user["attributes"])
        if target is None:
            raise errors.InvalidParameterException(
                "Auto verification not turned on or no verifiable attribute for the user.")
        details = delivery.send_code(ctx.cloud, conn, pool["Id"], user, "signup", target)
    return {"CodeDeliveryDetails": details}


def _recovery_target(user: dict[str, Any]) -> tuple[str, str, str]:
    """Where a password-reset code goes: a verified email, else a verified phone number."""
    attributes = user["attributes"]
    for attribute, medium in (("email", "EMAIL"), ("phone_number", "SMS")):
        if attributes.get(attribute) and attributes.get(f"{attribute}_verified") == "true":
            return attribute, medium, attributes[attribute]
    raise errors.InvalidParameterException(
        "Cannot reset password for the user as there is no registered/verified email or phone_number")


@api.operation("ForgotPassword", authorize=False)
def forgot_password(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    client, pool = client_and_pool(ctx, params)
    with ctx.cloud.db.begin() as conn:
        user = require_user(conn, pool["Id"], params["Username"])
        check_secret_hash(client, params.get("SecretHash"), params["Username"], user["username"])
        if not user["enabled"]:
            raise errors.NotAuthorizedException("User is disabled.")
        details = delivery.send_code(ctx.cloud, conn, pool["Id"], user, "forgot_password",
                                     _recovery_target(user))
    return {"CodeDeliveryDetails": details}


@api.operation("ConfirmForgotPassword", authorize=False)
def confirm_forgot_password(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    client, pool = client_and_pool(ctx, params)
    with ctx.cloud.db.begin() as conn:
        user = require_user(conn, pool["Id"], params["Username"])
        check_secret_hash(client, params.get("SecretHash"), params["Username"], user["username"])
        check_password_policy(pool, params["Password"])
        delivery.use_code(conn, user["user_id"], "forgot_password", params["ConfirmationCode"])
        status = "CONFIRMED" if user["status"] in ("RESET_REQUIRED", "FORCE_CHANGE_PASSWORD") else None
        set_password(conn, pool, get_user(conn, user["user_id"]), params["Password"], status=status)
    return {}
