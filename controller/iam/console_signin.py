"""The console's sign-in: a password (and an MFA code) in, temporary credentials of the user out.

The web console calls :func:`sign_in` with what the sign-in page posted and keeps the returned
:class:`ConsoleSession`; its keys are ordinary temporary credentials in the credential store (``ASIA``
keys with a session token, as STS's GetSessionToken stores them), so every call the console makes with
them is signed with SigV4, authenticated, authorized and audited like any other, as the user itself: the
user's own policies apply, and ``aws:MultiFactorAuthPresent`` is true when a code was given. Unlike
GetSessionToken's, these credentials may call IAM without MFA (their record says ``console``, which
``iam/enforce.py`` reads), since the console is where users manage themselves.

An IAM user signs in with its login profile (``login_profiles.py``), the account root user, named
``root``, with the password ``cloudlet account root-password`` set. A wrong password, an unknown user or
account, or a user without a password get the same refusal, after the same work (``auth/passwords.py``
checks a decoy hash), so the page cannot be used to find out which users exist. Each finished attempt is
a CloudTrail ``ConsoleLogin`` event, as on AWS. The account is named, as on AWS's sign-in page, by its
12-digit id or by its alias (CreateAccountAlias, ``account_aliases.py``); the session names it by id.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

from controller.api import Principal
from controller.audit import CallRecord
from controller.auth import passwords
from controller.auth.console_session import ConsoleSession
from controller.auth.lookup import account_exists
from controller.auth.store import root_principal
from controller.iam import login_profiles, mfa_codes, password_policy
from controller.iam.account_aliases import account_of_alias
from controller.iam.directory import USER, Row, find
from controller.iam.mfa_devices import claim_step, devices_of_user, seed_of
from controller.state import utcnow
from controller.sts.limits import min_session_seconds, new_session_token

#: What every refused sign-in says, whatever was wrong (AWS's console says the same).
REFUSED = "Your authentication information is incorrect. Please try again."
MFA_NEEDED = "Enter the authentication code from your MFA device."
EXPIRED = "Your password has expired. Ask your administrator to reset it."
#: Console sessions last 12 hours at most, as AWS's.
MAX_SESSION_SECONDS = 43200
ROOT_NAME = "root"
_ACCOUNT_ID = re.compile(r"\d{12}")


class SignInRefused(Exception):
    """reason: a sentence safe to show (never says which part was wrong); mfa_required: the password was
    right and the user has an MFA device, so ask for a code."""

    def __init__(self, reason: str, *, mfa_required: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.mfa_required = mfa_required


@dataclass(frozen=True)
class _Attempt:
    """Who is signing in, as far as the sign-in knows them (for the credentials and the trail)."""

    account_id: str
    principal: Principal | None
    source_ip: str


def sign_in(cloud: Any, *, account: str, user_name: str, password: str, mfa_code: str | None = None,
            source_ip: str = "", duration_seconds: int = 43200) -> ConsoleSession:
    """Check a console sign-in and mint the session's credentials; SignInRefused when it fails.

    ``account`` is the account's 12-digit id or its alias; an unknown one is refused like a wrong password.
    """
    if not min_session_seconds() <= duration_seconds <= MAX_SESSION_SECONDS:
        raise ValueError(f"duration_seconds must lie between {min_session_seconds()} and {MAX_SESSION_SECONDS}")
    cloud.db.sync()
    now = utcnow()
    with cloud.db.read() as conn:
        account_id = account_id_named(conn, account)
        if user_name == ROOT_NAME:
            user, profile = None, None
            stored = passwords.root_password_hash(conn, account_id) if account_id else None
        else:
            user = find(conn, USER, account_id, user_name) if account_id else None
            profile = login_profiles.profile_of(conn, user["user_id"]) if user is not None else None
            stored = profile["password_hash"] if profile is not None else None
    attempt = _Attempt(account_id or "", _principal(account_id, user, user_name) if account_id else None,
                       source_ip)
    if not passwords.verify(password, stored):  # spends the same time when there is nothing to check
        _record(cloud, attempt, now, success=False, mfa_used=False)
        raise SignInRefused(REFUSED)
    reset_required = False
    if user is not None:
        reset_required = _password_age_check(cloud, attempt, user, profile, now)
    with cloud.db.begin() as conn:
        serial = _check_mfa(cloud, conn, attempt, user, mfa_code, now)
        if user is None:
            passwords.record_root_sign_in(conn, attempt.account_id, now)
        else:
            login_profiles.record_sign_in(conn, user["user_id"], now)
        session = _mint(cloud, conn, attempt, now, duration_seconds, serial)
    _record(cloud, attempt, now, success=True, mfa_used=serial is not None)
    return ConsoleSession(
        account_id=attempt.account_id, principal_arn=attempt.principal.arn, user_name=user_name if user is None
        else user["user_name"], access_key_id=session[0], secret_access_key=session[1], session_token=session[2],
        expiration=session[3], password_reset_required=reset_required, mfa_authenticated=serial is not None)


def sign_out(cloud: Any, session: ConsoleSession) -> None:
    """Revoke the session's credentials (in every process of the cloud); nothing when they are gone already."""
    retire_credentials(cloud, session.access_key_id, session.session_token)


def retire_credentials(cloud: Any, access_key_id: str, session_token: str) -> None:
    """Delete temporary credentials the console holds (sign-in's, or a role session it switched to), when
    the key still carries that token: a key id reused since then is someone else's."""
    credential = cloud.credentials.resolve(access_key_id)
    if credential is not None and credential.token_matches(session_token):
        cloud.credentials.delete_key(access_key_id)


# -- steps ------------------------------------------------------------------------------------------
def account_id_named(conn: Any, account: str) -> str | None:
    """The id of the account named by its id or its alias, as the sign-in and switch-role pages accept it;
    None when there is no such account."""
    if _ACCOUNT_ID.fullmatch(account):
        return account if account_exists(conn, account) else None
    return account_of_alias(conn, account)


def _principal(account_id: str, user: Row | None, user_name: str) -> Principal:
    if user_name == ROOT_NAME:
        return root_principal(account_id)
    if user is None:  # unknown: the trail names nobody, as AWS's does
        return Principal(account_id=account_id, arn="", kind="user", user_id="",
                         name="HIDDEN_DUE_TO_SECURITY_REASONS")
    return Principal(account_id=account_id, arn=user["arn"], kind="user", user_id=user["user_id"],
                     name=user["user_name"])


def _password_age_check(cloud: Any, attempt: _Attempt, user: Row, profile: Row, now: dt.datetime) -> bool:
    """Whether the user must choose a new password first: an administrator asked, or it expired.

    An expired password under HardExpiry refuses the sign-in: only an administrator can reset it.
    """
    with cloud.db.read() as conn:
        policy = password_policy.account_policy(conn, attempt.account_id)
    if not password_policy.expired(policy, profile["password_set_at"], now):
        return bool(profile["reset_required"])
    if (policy or {}).get("HardExpiry"):
        _record(cloud, attempt, now, success=False, mfa_used=False)
        raise SignInRefused(EXPIRED)
    return True


def _check_mfa(cloud: Any, conn: Any, attempt: _Attempt, user: Row | None, code: str | None,
               now: dt.datetime) -> str | None:
    """The serial of the device whose code was accepted; None when the user has no device.

    A code is spent like one given to STS (``mfa_devices.claim_step``): the same code cannot sign in twice.
    """
    devices = devices_of_user(conn, user["user_id"]) if user is not None else []
    if not devices:
        return None
    if not code:
        raise SignInRefused(MFA_NEEDED, mfa_required=True)
    now_step = mfa_codes.time_step(now)
    for device in devices:
        step = mfa_codes.matching_step(seed_of(cloud, device), code, now_step, drift=device["drift_steps"],
                                       after=device["last_step"])
        if step is not None and claim_step(conn, device["serial_number"], step):
            return device["serial_number"]
    _record(cloud, attempt, now, success=False, mfa_used=True)
    raise SignInRefused(REFUSED, mfa_required=True)


def _mint(cloud: Any, conn: Any, attempt: _Attempt, now: dt.datetime, duration: int,
          serial: str | None) -> tuple[str, str, str, dt.datetime]:
    """Temporary credentials of the signed-in principal, stored as GetSessionToken stores its own."""
    expires_at = now.replace(microsecond=0) + dt.timedelta(seconds=duration)
    token = new_session_token()
    session = {"console": True, "mfa_authenticated_at": now.isoformat() if serial else None,
               "serial_number": serial, "source_ip": attempt.source_ip}
    key_id, secret = cloud.credentials.create_key(attempt.principal, prefix="ASIA", expires_at=expires_at,
                                                  session_token=token, session=session, conn=conn)
    return key_id, secret, token, expires_at


def _record(cloud: Any, attempt: _Attempt, now: dt.datetime, *, success: bool, mfa_used: bool) -> None:
    """The attempt's CloudTrail ``ConsoleLogin`` event (none for an account that does not exist)."""
    if not attempt.account_id or attempt.principal is None:
        return
    principal = attempt.principal
    cloud.audit.record(CallRecord(
        request_id=str(uuid.uuid4()), time=now, account_id=attempt.account_id, service="signin",
        event_source="signin.amazonaws.com", operation="ConsoleLogin", region=cloud.config.region,
        principal_kind=principal.kind, principal_arn=principal.arn, principal_id=principal.user_id,
        principal_name=principal.name, source_ip=attempt.source_ip, user_agent="Cloudlet console",
        response={"ConsoleLogin": "Success" if success else "Failure"},
        error_message=None if success else "Failed authentication", event_type="AwsConsoleSignIn",
        additional_data={"LoginTo": cloud.config.endpoint_url, "MobileVersion": "No",
                         "MFAUsed": "Yes" if mfa_used else "No"}))
