"""Switching role, as AWS's console does it: the session acts as a role, and goes back to the user.

The switch is STS AssumeRole called through :class:`~controller.console.calls.ConsoleApi` as the signed-in
user, so everything a signed AssumeRole meets applies: the role's trust policy, the user's own
``sts:AssumeRole`` permission, conditions on the user's session (its MFA: AssumeRole carries the caller's
``mfa_authenticated_at`` into the role session, which is the honest equivalent of AWS's console carrying
its MFA context; the code typed at sign-in is spent and cannot be sent again as ``TokenCode``), and the
CloudTrail event that names the user as the caller. Like AWS's console, every switch is authorized with
the signed-in user's credentials, also from one role to another, so the console never chains roles.

The role session is named after the user (AWS's console does the same, so CloudTrail shows who acted as
the role) and lasts :data:`ROLE_SECONDS` or the console session's remaining time, whichever is shorter.
When its credentials stop authenticating, the session is the user's again (:func:`acting`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from controller.api import Principal
from controller.console import state
from controller.console.calls import ConsoleApi
from controller.console.sessions import key_principal
from controller.console.state import ActiveRole, RoleChoice, StoredSession
from controller.iam.console_signin import account_id_named, retire_credentials
from controller.sts.limits import min_session_seconds

#: One hour, AWS's console's role sessions. It fits every role: IAM's MaxSessionDuration is 3600 seconds
#: at least, and STS's limit for a chained session (which the console never makes) is one hour too.
ROLE_SECONDS = 3600
#: The colours AWS's console offers for a role's label -> their names (CSS class ``role-<colour>``).
COLOURS = {"": "None", "red": "Red", "orange": "Orange", "yellow": "Yellow", "green": "Green", "blue": "Blue"}
#: What AWS's console says when the form names no role it can ask for.
INVALID = "Invalid information in one or more fields. Check your information or contact your administrator."
DISPLAY_NAME_LENGTH = 64
#: A role's name, with its path when it has one (``engineering/Deploy``).
_ROLE_NAME = re.compile(r"^[\w+=,.@-]+(/[\w+=,.@-]+)*$")


class SwitchRefused(Exception):
    """The form cannot be switched to: ``message`` is what the form shows (the API's refusals are
    :class:`~controller.service_calls.ServiceCallError`, shown with their AWS code)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def choice_from(cloud: Any, form: Mapping[str, str]) -> RoleChoice:
    """The role a switch-role form (or a history entry's button) names; SwitchRefused when it names none.

    The account may be given by id or alias, as on AWS; the display name defaults to ``role @ account``.
    """
    role_name = form.get("role_name", "").strip()
    colour = form.get("colour", "")
    display_name = form.get("display_name", "").strip()
    with cloud.db.read() as conn:
        account_id = account_id_named(conn, form.get("account", "").strip())
    if account_id is None or not _ROLE_NAME.fullmatch(role_name) or len(role_name) > 512 or \
            colour not in COLOURS or len(display_name) > DISPLAY_NAME_LENGTH:
        raise SwitchRefused(INVALID)
    return RoleChoice(account_id=account_id, role_name=role_name,
                      display_name=display_name or f"{role_name.rsplit('/', 1)[-1]} @ {account_id}", colour=colour)


def switch(api: ConsoleApi, session: StoredSession, choice: RoleChoice, now: dt.datetime) -> ActiveRole:
    """Assume the role as the signed-in user (``api`` is theirs) and make the session act as it.

    ServiceCallError when STS refuses (untrusted caller, unknown role, a condition unmet); SwitchRefused
    when the console session ends too soon for the shortest role session STS grants.
    """
    remaining = int((session.signed_in.expiration - now).total_seconds())
    if remaining < min_session_seconds():
        raise SwitchRefused(f"Your console session ends in less than {min_session_seconds() // 60} minutes. "
                            "Sign in again to switch roles.")
    arn = f"arn:{api.cloud.config.partition}:iam::{choice.account_id}:role/{choice.role_name}"
    answer = api.call("sts", "AssumeRole", {"RoleArn": arn, "RoleSessionName": session.signed_in.user_name,
                                            "DurationSeconds": min(ROLE_SECONDS, remaining)})
    credentials = answer["Credentials"]
    role = ActiveRole(choice=choice, principal_arn=answer["AssumedRoleUser"]["Arn"],
                      access_key_id=credentials["AccessKeyId"], secret_access_key=credentials["SecretAccessKey"],
                      session_token=credentials["SessionToken"], expiration=credentials["Expiration"])
    state.enter_role(api.cloud.db, api.cloud.secrets, session.token_hash, role)
    if session.role is not None:
        retire(api.cloud, session.role)
    return role


def go_back(cloud: Any, session: StoredSession) -> None:
    """Make the session the signed-in user's again, and retire the role session's credentials: the console
    held the only copy, and nothing should act as the role once the user left it."""
    if session.role is None:
        return
    state.leave_role(cloud.db, session.token_hash)
    retire(cloud, session.role)


def retire(cloud: Any, role: ActiveRole) -> None:
    retire_credentials(cloud, role.access_key_id, role.session_token)


def acting(cloud: Any, session: StoredSession, user: Principal,
           now: dt.datetime) -> tuple[StoredSession, Principal, RoleChoice | None]:
    """Who the session acts as: (session, principal, the role whose session just ended or None).

    The role's principal while its credentials authenticate; the signed-in ``user`` otherwise, the session
    then having left the role (so the header and the next request agree with what the calls run as).
    """
    if session.role is None:
        return session, user, None
    principal = key_principal(cloud, session.role.access_key_id, session.role.session_token, now)
    if principal is not None:
        return session, principal, None
    go_back(cloud, session)
    return dataclasses.replace(session, role=None), user, session.role.choice
