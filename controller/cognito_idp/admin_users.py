"""Users as an administrator manages them (IAM-authorized): AdminCreateUser, AdminGetUser,
AdminDeleteUser, AdminSetUserPassword, AdminResetUserPassword, AdminUpdateUserAttributes,
AdminDeleteUserAttributes, AdminConfirmSignUp, AdminDisableUser, AdminEnableUser,
AdminUserGlobalSignOut."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete

from controller.api import RequestContext
from controller.cognito_idp import delivery, errors, state, tokens
from controller.cognito_idp.passwords import policy_of, temporary_password
from controller.cognito_idp.pools import pool_resources, pool_row, pool_shape
from controller.cognito_idp.service import api
from controller.cognito_idp.signup import attributes_of, confirm
from controller.cognito_idp.users import (
    check_attributes,
    check_password_policy,
    check_unique,
    create_user,
    get_user,
    require_user,
    set_password,
    set_status,
    update_attributes,
    user_shape,
)


def admin_target(conn: Connection, ctx: RequestContext, params: dict[str, Any]) -> tuple[dict, dict]:
    """The pool (of the caller's account) and the user an Admin* call names."""
    pool = pool_shape(pool_row(conn, params["UserPoolId"], ctx))
    return pool, require_user(conn, pool["Id"], params["Username"])


def mfa_members(user: dict[str, Any]) -> dict[str, Any]:
    """The MFA members AdminGetUser/GetUser report, as kept in ``user["mfa"]``."""
    return {k: v for k, v in (user.get("mfa") or {}).items() if k in ("PreferredMfaSetting", "UserMFASettingList")}


@api.operation("AdminCreateUser", resources=pool_resources)
def admin_create_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    action = params.get("MessageAction")
    with ctx.cloud.db.begin() as conn:
        pool = pool_shape(pool_row(conn, params["UserPoolId"], ctx))
        password = params.get("TemporaryPassword") or temporary_password(policy_of(pool))
        check_password_policy(pool, password)
        if action == "RESEND":
            user = require_user(conn, pool["Id"], params["Username"])
            if user["status"] != "FORCE_CHANGE_PASSWORD":
                raise errors.UnsupportedUserStateException(
                    f"User in status {user['status']} cannot be resent a temporary password.")
        else:
            attributes = attributes_of(params)
            check_attributes(pool, attributes, creating=True)
            user = create_user(conn, pool["Id"], pool, params["Username"], attributes,
                               status="FORCE_CHANGE_PASSWORD")
        set_password(conn, pool, user, password, temporary=True)
        user = get_user(conn, user["user_id"])
        if action != "SUPPRESS":
            target = _invitation_target(user, params.get("DesiredDeliveryMediums") or ["SMS"])
            if target:
                delivery.send_code(ctx.cloud, conn, pool["Id"], user, "temporary_password", target,
                                   code=password)
    return {"User": user_shape(user)}


def _invitation_target(user: dict[str, Any], mediums: list[str]) -> tuple[str, str, str] | None:
    """Where the invitation goes: the mediums asked for, among the attributes the user has."""
    attributes = user["attributes"]
    for attribute, medium in (("email", "EMAIL"), ("phone_number", "SMS")):
        if medium in mediums and attributes.get(attribute):
            return attribute, medium, attributes[attribute]
    email = attributes.get("email")
    return ("email", "EMAIL", email) if email else None


@api.operation("AdminGetUser", resources=pool_resources)
def admin_get_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        _, user = admin_target(conn, ctx, params)
    shape = user_shape(user)
    return {"Username": shape["Username"], "UserAttributes": shape["Attributes"],
            "UserCreateDate": shape["UserCreateDate"], "UserLastModifiedDate": shape["UserLastModifiedDate"],
            "Enabled": shape["Enabled"], "UserStatus": shape["UserStatus"], **mfa_members(user)}


@api.operation("AdminDeleteUser", resources=pool_resources)
def admin_delete_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        _, user = admin_target(conn, ctx, params)
        conn.execute(delete(state.users).where(state.users.c.user_id == user["user_id"]))
    return {}


@api.operation("AdminSetUserPassword", resources=pool_resources)
def admin_set_user_password(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool, user = admin_target(conn, ctx, params)
        if params.get("Permanent"):
            set_password(conn, pool, user, params["Password"], status="CONFIRMED")
        else:
            set_password(conn, pool, user, params["Password"], temporary=True)
    return {}


@api.operation("AdminResetUserPassword", resources=pool_resources)
def admin_reset_user_password(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The user must choose a new password with a code (ForgotPassword's) before signing in again."""
    with ctx.cloud.db.begin() as conn:
        pool, user = admin_target(conn, ctx, params)
        if not user["enabled"]:
            raise errors.NotAuthorizedException("User is disabled.")
        target = delivery.destination_of({"AutoVerifiedAttributes": ["email", "phone_number"]}, user["attributes"])
        if target is None:
            raise errors.InvalidParameterException(
                "Cannot reset password for the user as there is no registered/verified email or phone_number")
        set_status(conn, user, status="RESET_REQUIRED")
        delivery.send_code(ctx.cloud, conn, pool["Id"], user, "forgot_password", target)
    return {}


@api.operation("AdminUpdateUserAttributes", resources=pool_resources)
def admin_update_user_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    changes = attributes_of(params)
    with ctx.cloud.db.begin() as conn:
        pool, user = admin_target(conn, ctx, params)
        apply_attribute_changes(ctx.cloud, conn, pool, user, changes)
    return {}


def apply_attribute_changes(cloud: Any, conn: Connection, pool: dict[str, Any], user: dict[str, Any],
                            changes: dict[str, str]) -> list[dict[str, str]]:
    """Write attribute changes after the schema and uniqueness checks. A changed email or phone number
    is unverified again unless the same call says it is verified; when the pool auto-verifies it, a
    verification code goes to the new address (VerifyUserAttribute takes it). Returns the deliveries."""
    check_attributes(pool, changes, creating=False)
    check_unique(conn, pool["Id"], pool, user["username"], {**user["attributes"], **changes},
                 exclude_user=user["user_id"])
    changed = [attribute for attribute in ("email", "phone_number")
               if attribute in changes and changes[attribute] != user["attributes"].get(attribute)
               and changes.get(f"{attribute}_verified") != "true"]
    for attribute in changed:
        changes[f"{attribute}_verified"] = "false"
    attributes = update_attributes(conn, user, changes)
    return [send_verification(cloud, conn, pool, user, attribute, attributes[attribute]) for attribute in changed
            if attribute in (pool.get("AutoVerifiedAttributes") or [])]


def send_verification(cloud: Any, conn: Connection, pool: dict[str, Any], user: dict[str, Any], attribute: str,
                      address: str) -> dict[str, str]:
    """A code proving ``attribute`` (email or phone_number) belongs to the user."""
    medium = "EMAIL" if attribute == "email" else "SMS"
    return delivery.send_code(cloud, conn, pool["Id"], user, f"verify:{attribute}", (attribute, medium, address))


@api.operation("AdminDeleteUserAttributes", resources=pool_resources)
def admin_delete_user_attributes(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool, user = admin_target(conn, ctx, params)
        remove_attributes(conn, pool, user, params["UserAttributeNames"])
    return {}


def remove_attributes(conn: Connection, pool: dict[str, Any], user: dict[str, Any], names: list[str]) -> None:
    """Delete attributes; required ones and ``sub`` stay (InvalidParameterException)."""
    required = {e["Name"] for e in pool["SchemaAttributes"] if e.get("Required")}
    for name in names:
        if name in required:
            raise errors.InvalidParameterException(f"Cannot delete a required attribute: {name}")
    update_attributes(conn, user, {}, removed=names)


@api.operation("AdminConfirmSignUp", resources=pool_resources)
def admin_confirm_sign_up(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool, user = admin_target(conn, ctx, params)
        if user["status"] != "UNCONFIRMED":
            raise errors.NotAuthorizedException(f"User cannot be confirmed. Current status is {user['status']}")
        confirm(conn, pool, user)
    return {}


@api.operation("AdminDisableUser", resources=pool_resources)
def admin_disable_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        _, user = admin_target(conn, ctx, params)
        set_status(conn, user, enabled=False)
    return {}


@api.operation("AdminEnableUser", resources=pool_resources)
def admin_enable_user(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        _, user = admin_target(conn, ctx, params)
        set_status(conn, user, enabled=True)
    return {}


@api.operation("AdminUserGlobalSignOut", resources=pool_resources)
def admin_user_global_sign_out(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        _, user = admin_target(conn, ctx, params)
        tokens.revoke_user_tokens(conn, user["user_id"])
    return {}

