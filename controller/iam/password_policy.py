"""The account password policy: its operations, and the pure rules every new console password must meet.

UpdateAccountPasswordPolicy replaces the whole policy (an omitted parameter returns to its default, as
on AWS); the botocore model's ranges (length 6-128, age 1-1095 days, reuse 1-24) are checked by the
protocol layer, and again here for callers that skip it. Without a policy, passwords meet AWS's default
one: at least 8 characters, three of the four character classes, and not the account's name or email.

The rules are pure (:func:`violation`, :func:`expired`) so the login profile operations, ChangePassword
and the console's sign-in (``console_signin.py``) apply the same ones, and tests check them without state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, select

from controller.api import Params, RequestContext
from controller.auth import passwords
from controller.errors import error
from controller.iam import state
from controller.iam.enforce import check_action, check_granted
from controller.iam.errors import NoSuchEntity, ValidationError
from controller.iam.service import api
from controller.state import upsert

PasswordPolicyViolation = error("PasswordPolicyViolation", 400)

#: AWS's symbols for RequireSymbols (the default policy counts any non-alphanumeric character).
SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|'")
DEFAULT_MINIMUM_LENGTH = 6
#: The parameters' ranges, as the IAM API reference gives them.
RANGES = {"MinimumPasswordLength": (6, 128), "MaxPasswordAge": (1, 1095), "PasswordReusePrevention": (1, 24)}
_FLAGS = ("RequireSymbols", "RequireNumbers", "RequireUppercaseCharacters", "RequireLowercaseCharacters",
          "AllowUsersToChangePassword")
#: AWS's default policy, when the account has none.
_DEFAULT_POLICY_LENGTH, _DEFAULT_POLICY_CLASSES = 8, 3
DEFAULT_POLICY_MESSAGE = "Password does not conform to the account password policy."

Policy = Mapping[str, Any]


# -- pure rules -------------------------------------------------------------------------------------
def policy_from_request(params: Params) -> dict[str, Any]:
    """The policy UpdateAccountPasswordPolicy stores: every flag (false unless given) and the given numbers."""
    for member, (low, high) in RANGES.items():
        value = params.get(member)
        if value is not None and not low <= value <= high:
            raise ValidationError(f"1 validation error detected: Value '{value}' at '{member[0].lower()}"
                                  f"{member[1:]}' failed to satisfy constraint: Member must have value "
                                  f"{'greater' if value < low else 'less'} than or equal to "
                                  f"{low if value < low else high}")
    policy: dict[str, Any] = {flag: bool(params.get(flag, False)) for flag in _FLAGS}
    policy["MinimumPasswordLength"] = params.get("MinimumPasswordLength") or DEFAULT_MINIMUM_LENGTH
    for member in ("MaxPasswordAge", "PasswordReusePrevention", "HardExpiry"):
        if params.get(member) is not None:
            policy[member] = params[member]
    return policy


def policy_output(policy: Policy) -> dict[str, Any]:
    """GetAccountPasswordPolicy's ``PasswordPolicy``: the stored policy plus ``ExpirePasswords``."""
    return {**policy, "ExpirePasswords": bool(policy.get("MaxPasswordAge"))}


def violation(password: str, policy: Policy | None, account_names: Iterable[str] = ()) -> str | None:
    """Why ``password`` breaks the account's policy (AWS's words), or None when it meets it.

    ``account_names`` (the account's name and email) only matter to AWS's default policy.
    """
    if policy is None:
        classes = sum((any(c.isupper() for c in password), any(c.islower() for c in password),
                       any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
        if len(password) < _DEFAULT_POLICY_LENGTH or classes < _DEFAULT_POLICY_CLASSES or \
                password.lower() in {name.lower() for name in account_names if name}:
            return DEFAULT_POLICY_MESSAGE
        return None
    minimum = policy.get("MinimumPasswordLength") or DEFAULT_MINIMUM_LENGTH
    checks = (
        (len(password) >= minimum, f"Password should have a minimum length of {minimum}"),
        (not policy.get("RequireUppercaseCharacters") or any("A" <= c <= "Z" for c in password),
         "Password should have at least one uppercase letter"),
        (not policy.get("RequireLowercaseCharacters") or any("a" <= c <= "z" for c in password),
         "Password should have at least one lowercase letter"),
        (not policy.get("RequireNumbers") or any("0" <= c <= "9" for c in password),
         "Password should have at least one number"),
        (not policy.get("RequireSymbols") or any(c in SYMBOLS for c in password),
         "Password should have at least one symbol"),
    )
    return next((message for passed, message in checks if not passed), None)


def expired(policy: Policy | None, password_set_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a password set at ``password_set_at`` is older than the policy's MaxPasswordAge."""
    age = (policy or {}).get("MaxPasswordAge")
    return bool(age) and password_set_at is not None and now >= password_set_at + dt.timedelta(days=age)


def reused(password: str, history: list[str], policy: Policy | None) -> bool:
    """Whether ``password`` is one of the last PasswordReusePrevention passwords (``history``: newest first)."""
    keep = (policy or {}).get("PasswordReusePrevention") or 0
    return any(passwords.verify(password, stored) for stored in history[:keep])


# -- state ------------------------------------------------------------------------------------------
def account_policy(conn: Connection, account_id: str) -> dict[str, Any] | None:
    """The account's password policy, or None when it has none (AWS's default policy applies)."""
    return conn.execute(select(state.password_policies.c.policy).where(
        state.password_policies.c.account_id == account_id)).scalar()


def check_new_password(ctx: RequestContext, conn: Connection, password: str) -> None:
    """PasswordPolicyViolation unless ``password`` meets the caller's account's policy."""
    account = ctx.cloud.credentials.get_account(ctx.account_id) or {}
    why = violation(password, account_policy(conn, ctx.account_id), (account.get("name", ""),
                                                                      account.get("email", "")))
    if why:
        raise PasswordPolicyViolation(why)


def users_may_change_password(conn: Connection, account_id: str) -> bool:
    """AllowUsersToChangePassword: every IAM user may call ChangePassword (and read the policy) for itself."""
    return bool((account_policy(conn, account_id) or {}).get("AllowUsersToChangePassword"))


# -- operations -------------------------------------------------------------------------------------
@api.operation("UpdateAccountPasswordPolicy")
def update_account_password_policy(ctx: RequestContext, params: Params) -> Params:
    policy = policy_from_request(params)
    table = state.password_policies
    with ctx.cloud.db.begin() as conn:
        statement = upsert(table).values(account_id=ctx.account_id, policy=policy)
        conn.execute(statement.on_conflict_do_update(index_elements=["account_id"], set_={"policy": policy}))
    return {}


@api.operation("GetAccountPasswordPolicy", authorize=False)
def get_account_password_policy(ctx: RequestContext, params: Params) -> Params:
    """Authorized here: AllowUsersToChangePassword lets every IAM user of the account read the policy."""
    with ctx.cloud.db.read() as conn:
        policy = account_policy(conn, ctx.account_id)
    if ctx.principal.kind == "user" and (policy or {}).get("AllowUsersToChangePassword"):
        check_granted(ctx, "iam:GetAccountPasswordPolicy")
    else:
        check_action(ctx, "iam:GetAccountPasswordPolicy", ["*"], params)
    if policy is None:
        raise NoSuchEntity(f"The Password Policy with domain name {ctx.account_id} cannot be found.")
    return {"PasswordPolicy": policy_output(policy)}


@api.operation("DeleteAccountPasswordPolicy")
def delete_account_password_policy(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.begin() as conn:
        removed = conn.execute(delete(state.password_policies).where(
            state.password_policies.c.account_id == ctx.account_id)).rowcount
    if not removed:
        raise NoSuchEntity("The account policy with name PasswordPolicy cannot be found.")
    return {}
