"""IAM users' console passwords: Create/Get/Update/DeleteLoginProfile and ChangePassword.

A login profile is a user's password, kept as a scrypt hash (``auth/passwords.py``) and never returned.
Every new password meets the account's password policy (``password_policy.py``); ChangePassword, the
user's own change, also proves the old password and may not reuse the last PasswordReusePrevention ones.
The console's sign-in (``console_signin.py``) reads the profile through :func:`profile_of` and records
its use, which GetUser and ListUsers show as ``PasswordLastUsed``.

A deleted profile keeps its row with no hash: AWS still reports when a user's password was last used,
and remembers earlier passwords for reuse prevention.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, select, update

from controller.api import Params, RequestContext
from controller.auth import passwords
from controller.errors import error
from controller.iam import password_policy, state
from controller.iam.directory import USER, Row, arn_of, require
from controller.iam.enforce import check_action, check_granted
from controller.iam.errors import EntityAlreadyExists, NoSuchEntity, ValidationError
from controller.iam.service import api
from controller.state import upsert, utcnow

InvalidUserType = error("InvalidUserType", 400)
AccessDenied = error("AccessDenied", 403)

profiles = state.login_profiles
#: Earlier password hashes kept per user: PasswordReusePrevention's maximum.
HISTORY_LENGTH = 24
#: The login profile operations name a user, or act on the calling IAM user when they name none.
profile_user_arn = arn_of(USER, caller_when_unnamed=True)


# -- what sign-in and the user operations read ------------------------------------------------------
def profile_of(conn: Connection, user_id: str) -> Row | None:
    """The user's login profile, None when it has none (or had one that was deleted)."""
    row = conn.execute(select(profiles).where(profiles.c.user_id == user_id)).mappings().first()
    return row if row is not None and row["password_hash"] else None


def record_sign_in(conn: Connection, user_id: str, now: dt.datetime) -> None:
    """Note a console sign-in with the user's password (``PasswordLastUsed``)."""
    conn.execute(update(profiles).where(profiles.c.user_id == user_id).values(last_used_at=now))


def password_last_used(conn: Connection, user_ids: Iterable[str]) -> dict[str, dt.datetime]:
    """When each of these users last signed in with a password (users who never did are absent)."""
    rows = conn.execute(select(profiles.c.user_id, profiles.c.last_used_at).where(
        profiles.c.user_id.in_(list(user_ids)), profiles.c.last_used_at.is_not(None)))
    return {user_id: when for user_id, when in rows}


def forget_user(conn: Connection, user_id: str) -> None:
    """DeleteUser's part: what remains of a deleted profile goes with its user."""
    conn.execute(delete(profiles).where(profiles.c.user_id == user_id))


# -- operations -------------------------------------------------------------------------------------
@api.operation("CreateLoginProfile", resources=profile_user_arn)
def create_login_profile(ctx: RequestContext, params: Params) -> Params:
    password = _required(params, "Password")
    with ctx.cloud.db.read() as conn:
        user = _target_user(conn, ctx, params)
        _refuse_existing(conn, user)
        password_policy.check_new_password(ctx, conn, password)
    password_hash = passwords.hash_password(password)  # slow on purpose: outside the write transaction
    now = utcnow()
    reset = bool(params.get("PasswordResetRequired", False))
    with ctx.cloud.db.begin() as conn:
        user = require(conn, USER, ctx.account_id, user["user_name"])
        _refuse_existing(conn, user)
        old = conn.execute(select(profiles).where(profiles.c.user_id == user["user_id"])).mappings().first()
        values = {"password_hash": password_hash, "reset_required": reset, "created_at": now,
                  "password_set_at": now, "history": _history(password_hash, old)}
        conn.execute(upsert(profiles).values(user_id=user["user_id"], account_id=ctx.account_id, **values)
                     .on_conflict_do_update(index_elements=["user_id"], set_=values))
    ctx.audit_resources.append(user["arn"])
    return {"LoginProfile": {"UserName": user["user_name"], "CreateDate": now, "PasswordResetRequired": reset}}


@api.operation("GetLoginProfile", resources=profile_user_arn)
def get_login_profile(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        user = _target_user(conn, ctx, params)
        profile = _require_profile(conn, user)
    return {"LoginProfile": {"UserName": user["user_name"], "CreateDate": profile["created_at"],
                             "PasswordResetRequired": profile["reset_required"]}}


@api.operation("UpdateLoginProfile", resources=profile_user_arn)
def update_login_profile(ctx: RequestContext, params: Params) -> Params:
    """An administrator's reset: a new password (policy checked, reuse allowed) and/or the reset flag."""
    password = params.get("Password")
    with ctx.cloud.db.read() as conn:
        user = _target_user(conn, ctx, params)
        _require_profile(conn, user)
        if password is not None:
            password_policy.check_new_password(ctx, conn, password)
    password_hash = passwords.hash_password(password) if password is not None else None
    with ctx.cloud.db.begin() as conn:
        profile = _require_profile(conn, user)
        values: dict[str, Any] = {}
        if password_hash is not None:
            values.update(password_hash=password_hash, password_set_at=utcnow(),
                          history=_history(password_hash, profile))
        if params.get("PasswordResetRequired") is not None:
            values["reset_required"] = params["PasswordResetRequired"]
        if values:
            conn.execute(update(profiles).where(profiles.c.user_id == user["user_id"]).values(**values))
    ctx.audit_resources.append(user["arn"])
    return {}


@api.operation("DeleteLoginProfile", resources=profile_user_arn)
def delete_login_profile(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        user = _target_user(conn, ctx, params)
        _require_profile(conn, user)
        conn.execute(update(profiles).where(profiles.c.user_id == user["user_id"]).values(
            password_hash=None, reset_required=False, created_at=None, password_set_at=None))
    ctx.audit_resources.append(user["arn"])
    return {}


@api.operation("ChangePassword", authorize=False)
def change_password(ctx: RequestContext, params: Params) -> Params:
    """The calling IAM user's own change; authorized here, since the account's policy can grant it.

    AllowUsersToChangePassword lets every user change its own password, and a user whose password must be
    reset may always do so (AWS's console attaches IAMUserChangePassword for that); otherwise the caller
    needs ``iam:ChangePassword`` on itself.
    """
    caller = ctx.principal
    if caller.kind != "user":
        raise InvalidUserType("Only IAM Users can change their own password.")
    old, new = params["OldPassword"], params["NewPassword"]
    with ctx.cloud.db.read() as conn:
        user = require(conn, USER, ctx.account_id, caller.name)
        profile = _require_profile(conn, user)
        policy = password_policy.account_policy(conn, ctx.account_id)
        if (policy or {}).get("AllowUsersToChangePassword") or profile["reset_required"]:
            check_granted(ctx, "iam:ChangePassword")
        else:
            check_action(ctx, "iam:ChangePassword", [user["arn"]], params)
        if not passwords.verify(old, profile["password_hash"]):
            raise AccessDenied("The old password is incorrect.")
        password_policy.check_new_password(ctx, conn, new)
    if password_policy.reused(new, profile["history"], policy):
        raise password_policy.PasswordPolicyViolation(
            "Policy constraint violation with password reuse prevention during password change.")
    password_hash = passwords.hash_password(new)
    with ctx.cloud.db.begin() as conn:
        profile = _require_profile(conn, user)
        conn.execute(update(profiles).where(profiles.c.user_id == user["user_id"]).values(
            password_hash=password_hash, password_set_at=utcnow(), reset_required=False,
            history=_history(password_hash, profile)))
    ctx.audit_resources.append(user["arn"])
    return {}


# -- helpers ----------------------------------------------------------------------------------------
def _required(params: Params, member: str) -> str:
    value = params.get(member)
    if value is None:
        raise ValidationError(f"1 validation error detected: Value null at '{member[0].lower()}{member[1:]}' "
                              "failed to satisfy constraint: Member must not be null")
    return value


def _target_user(conn: Connection, ctx: RequestContext, params: Params) -> Row:
    """The user the call names, or the calling IAM user."""
    name = params.get("UserName")
    if name is None:
        if ctx.principal.kind != "user":
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = ctx.principal.name
    return require(conn, USER, ctx.account_id, name)


def _refuse_existing(conn: Connection, user: Row) -> None:
    if profile_of(conn, user["user_id"]) is not None:
        raise EntityAlreadyExists(f"Login Profile for user {user['user_name']} already exists.")


def _require_profile(conn: Connection, user: Row) -> Row:
    profile = profile_of(conn, user["user_id"])
    if profile is None:
        raise NoSuchEntity(f"Login Profile for User {user['user_name']} cannot be found.")
    return profile


def _history(new_hash: str, old: Row | None) -> list[str]:
    """The new password's hash first, then the earlier ones (at most :data:`HISTORY_LENGTH` in all)."""
    earlier = list(old["history"]) if old is not None else []
    return [new_hash, *earlier][:HISTORY_LENGTH]
