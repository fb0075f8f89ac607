"""TOTP multi-factor authentication for pool users.

The pool's settings: SetUserPoolMfaConfig, GetUserPoolMfaConfig (MfaConfiguration OFF, OPTIONAL or ON, and
whether TOTP is on). A user's authenticator: AssociateSoftwareToken hands out a secret, VerifySoftwareToken
registers it with a first code (replacing any earlier one) and turns TOTP on for the user.
SetUserMFAPreference and AdminSetUserMFAPreference turn it off and on and make it preferred; GetUser and
AdminGetUser report UserMFASettingList and PreferredMfaSetting. At sign-in, :func:`second_factor` (a hook
of ``auth.SECOND_FACTORS``) asks for a code (SOFTWARE_TOKEN_MFA) from a user with TOTP on, or from anyone
with an authenticator when the pool requires MFA, and has a user without one set it up first (MFA_SETUP:
AssociateSoftwareToken and VerifySoftwareToken take the challenge's Session instead of an access token).

Only TOTP is served: SMS and email codes need a message sent, and Cloudlet sends none. Their pool settings
are stored and read back, so templates that set them work, but they are never offered at sign-in, a user
cannot turn them on, and SetUserPoolMfaConfig needs TOTP on to make MFA OPTIONAL or ON.

Codes are RFC 6238 (30-second steps, 6 digits, the previous and next step accepted too). A user's record
(``cognito_users.mfa``) keeps the step of the last code accepted, so no code is accepted twice. A wrong
answer to SOFTWARE_TOKEN_MFA leaves the session open for another try, up to :data:`MAX_TRIES` answers.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pyotp
from sqlalchemy import Connection, update

from controller.api import RequestContext
from controller.cognito_idp import auth, errors, state
from controller.cognito_idp.auth import AuthCall
from controller.cognito_idp.pools import find_pool, pool_resources, pool_row, pool_shape, totp_enabled
from controller.cognito_idp.self_users import token_user
from controller.cognito_idp.service import api
from controller.cognito_idp.users import find_user, get_user, require_user
from controller.errors import error
from controller.iam.mfa_codes import matching_step, time_step

SoftwareTokenMFANotFoundException = error("SoftwareTokenMFANotFoundException")
EnableSoftwareTokenMFAException = error("EnableSoftwareTokenMFAException")

TOTP = "SOFTWARE_TOKEN_MFA"
SETUP = "MFA_SETUP"
#: Answers one SOFTWARE_TOKEN_MFA session takes before it ends (Cognito starts locking out after five).
MAX_TRIES = 5
#: The factors a user could turn on elsewhere, which need a message Cloudlet never sends.
_UNSERVED = {"SMSMfaSettings": "SMS", "EmailMfaSettings": "Email", "WebAuthnMfaSettings": "WebAuthn"}


# --- pure rules ---------------------------------------------------------------------------------------

def new_secret() -> str:
    """A fresh TOTP secret: 32 Base32 characters (160 bits, RFC 4226's recommended length)."""
    return pyotp.random_base32()


def accepted_step(secret: str, code: str, now: float, after: int | None = None) -> int | None:
    """The step whose code ``code`` is, within a step of ``now``'s and later than ``after`` (the last
    step accepted): None for a wrong, stale or replayed code."""
    if len(code) != 6 or not code.isdigit():
        return None
    return matching_step(secret, code, time_step(dt.datetime.fromtimestamp(now, dt.UTC)), after=after)


def pool_mfa_config(config: dict[str, Any]) -> dict[str, Any]:
    """GetUserPoolMfaConfig's answer for a pool's settings."""
    out: dict[str, Any] = {"MfaConfiguration": config.get("MfaConfiguration", "OFF"),
                           "SoftwareTokenMfaConfiguration": {"Enabled": totp_enabled(config)}}
    sms = {k: config[k] for k in ("SmsAuthenticationMessage", "SmsConfiguration") if config.get(k)}
    if sms:
        out["SmsMfaConfiguration"] = sms
    out.update({k: config[k] for k in ("EmailMfaConfiguration", "WebAuthnConfiguration") if config.get(k)})
    return out


def merged_mfa_config(config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A pool's settings after SetUserPoolMfaConfig: each member given replaces its setting, the others
    stay. The SMS factor's message and configuration are the pool's own (DescribeUserPool shows them)."""
    merged = dict(config)
    for key in ("MfaConfiguration", "SoftwareTokenMfaConfiguration", "EmailMfaConfiguration",
                "WebAuthnConfiguration"):
        if key in params:
            merged[key] = params[key]
    if "SmsMfaConfiguration" in params:
        for key in ("SmsAuthenticationMessage", "SmsConfiguration"):
            merged.pop(key, None)
            if params["SmsMfaConfiguration"].get(key):
                merged[key] = params["SmsMfaConfiguration"][key]
    if merged.get("MfaConfiguration", "OFF") != "OFF" and not totp_enabled(merged):
        raise errors.InvalidParameterException(
            "Invalid MFA configuration given: MFA cannot be ON or OPTIONAL without software token MFA enabled "
            "(SMS and email codes are not sent here, so TOTP is the only factor served).")
    return merged


def with_preference(record: dict[str, Any], params: dict[str, Any], required: bool) -> dict[str, Any]:
    """A user's MFA record after (Admin)SetUserMFAPreference. TOTP goes on only for a user with a verified
    authenticator, and stays on where the pool requires MFA (Cognito: only the preference can change)."""
    for member, factor in _UNSERVED.items():
        if (params.get(member) or {}).get("Enabled") or (params.get(member) or {}).get("PreferredMfa"):
            raise errors.InvalidParameterException(
                f"{factor} MFA is not served here (no message is sent): only SOFTWARE_TOKEN_MFA can be enabled.")
    settings = params.get("SoftwareTokenMfaSettings")
    if settings is None:
        return record
    enabled, preferred_asked = settings.get("Enabled"), settings.get("PreferredMfa")
    listed = list(record.get("UserMFASettingList") or [])
    if enabled and not record.get("totp"):
        raise errors.InvalidParameterException("User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA")
    if enabled and TOTP not in listed:
        listed.append(TOTP)
    elif enabled is False and not required:
        listed = [factor for factor in listed if factor != TOTP]
    preferred = record.get("PreferredMfaSetting")
    if preferred_asked and TOTP not in listed:
        raise errors.InvalidParameterException("SOFTWARE_TOKEN_MFA cannot be preferred while it is not enabled.")
    if preferred_asked:
        preferred = TOTP
    elif preferred_asked is False and preferred == TOTP:
        preferred = None
    out = {k: v for k, v in record.items() if k not in ("UserMFASettingList", "PreferredMfaSetting")}
    if listed:
        out["UserMFASettingList"] = listed
    if preferred in listed:
        out["PreferredMfaSetting"] = preferred
    return out


def with_verified(record: dict[str, Any], secret: str, device: str | None, step: int) -> dict[str, Any]:
    """A user's MFA record once VerifySoftwareToken has a code of the associated ``secret`` (encrypted):
    it replaces any earlier authenticator and turns TOTP on."""
    out = {k: v for k, v in record.items() if k != "pending"}
    out["totp"] = {"secret": secret, "device": device, "last_step": step}
    out["UserMFASettingList"] = [*[m for m in record.get("UserMFASettingList") or [] if m != TOTP], TOTP]
    return out


def challenge_for(pool: dict[str, Any], record: dict[str, Any]) -> str | None:
    """The second factor a user with this MFA record must pass in this pool, if any."""
    mode = pool.get("MfaConfiguration", "OFF")
    if mode == "OFF":
        return None
    served = totp_enabled(pool)
    if served and record.get("totp") and (mode == "ON" or TOTP in (record.get("UserMFASettingList") or [])):
        return TOTP
    if mode != "ON":
        return None
    if not served:
        raise errors.InvalidUserPoolConfigurationException(
            "The user pool requires MFA but software token MFA is not enabled, and SMS codes are not sent here: "
            "enable SoftwareTokenMfaConfiguration with SetUserPoolMfaConfig.")
    return SETUP


# --- the records --------------------------------------------------------------------------------------

def _save(conn: Connection, user: dict[str, Any], record: dict[str, Any]) -> None:
    conn.execute(update(state.users).where(state.users.c.user_id == user["user_id"])
                 .values(mfa=record, modified_at=time.time()))


def _use_code(ctx: RequestContext, user: dict[str, Any], code: str) -> bool:
    """Check ``code`` against the user's authenticator and, when it holds, remember its step (no replay)."""
    with ctx.cloud.db.begin() as conn:
        record = dict(get_user(conn, user["user_id"])["mfa"] or {})
        totp = record.get("totp")
        if not totp:
            raise SoftwareTokenMFANotFoundException("Software Token MFA does not exist for the user.")
        step = accepted_step(ctx.cloud.secrets.decrypt(totp["secret"]), code, time.time(), totp.get("last_step"))
        if step is None:
            return False
        _save(conn, user, {**record, "totp": {**totp, "last_step": step}})
    return True


def _require_totp(pool: dict[str, Any]) -> None:
    if not totp_enabled(pool):
        raise SoftwareTokenMFANotFoundException("Software Token MFA has not been enabled by the userPool.")


def _setup_target(ctx: RequestContext, params: dict[str, Any]) -> tuple[dict, dict, dict | None]:
    """The pool and user an Associate/VerifySoftwareToken call is for, by access token or by an MFA_SETUP
    session (returned too, with its token, so the call can hand on a new one)."""
    if bool(params.get("AccessToken")) == bool(params.get("Session")):
        raise errors.InvalidParameterException("Exactly one of AccessToken or Session must be given.")
    if params.get("AccessToken"):
        with ctx.cloud.db.read() as conn:
            pool, user = token_user(conn, ctx, params["AccessToken"])
        return pool, user, None
    session = {**auth.open_session(ctx.cloud, params["Session"], SETUP), "token": params["Session"]}
    pool = find_pool(ctx.cloud, session["pool_id"])
    with ctx.cloud.db.read() as conn:
        user = find_user(conn, session["pool_id"], session["username"]) if pool else None
    if pool is None or user is None:
        raise errors.bad_session()
    return pool, user, session


def _next_session(ctx: RequestContext, session: dict[str, Any], **data: Any) -> str:
    """Hand an MFA_SETUP session on: the old one ends, a new one carries its data and ``data``."""
    auth.end_session(ctx.cloud, session["token"])
    kept = {k: v for k, v in session.items() if k not in ("token", "username", "pool_id")}
    return auth.new_session(ctx.cloud, session["pool_id"], session["username"], SETUP, {**kept, **data})


# --- the pool's settings ------------------------------------------------------------------------------

@api.operation("SetUserPoolMfaConfig", resources=pool_resources)
def set_user_pool_mfa_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        row = pool_row(conn, params["UserPoolId"], ctx)
        config = merged_mfa_config(row["config"], params)
        conn.execute(update(state.pools).where(state.pools.c.pool_id == row["pool_id"])
                     .values(config=config, modified_at=time.time()))
    return pool_mfa_config(config)


@api.operation("GetUserPoolMfaConfig", resources=pool_resources)
def get_user_pool_mfa_config(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.read() as conn:
        row = pool_row(conn, params["UserPoolId"], ctx)
    return pool_mfa_config(row["config"])


# --- a user's authenticator and preferences -----------------------------------------------------------

@api.operation("AssociateSoftwareToken", authorize=False)
def associate_software_token(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    pool, user, session = _setup_target(ctx, params)
    _require_totp(pool)
    secret = new_secret()
    with ctx.cloud.db.begin() as conn:
        record = dict(get_user(conn, user["user_id"])["mfa"] or {})
        _save(conn, user, {**record, "pending": {"secret": ctx.cloud.secrets.encrypt(secret)}})
    out = {"SecretCode": secret}
    if session is not None:
        out["Session"] = _next_session(ctx, session)
    return out


@api.operation("VerifySoftwareToken", authorize=False)
def verify_software_token(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    pool, user, session = _setup_target(ctx, params)
    _require_totp(pool)
    with ctx.cloud.db.begin() as conn:
        record = dict(get_user(conn, user["user_id"])["mfa"] or {})
        pending = record.get("pending")
        if not pending:
            raise SoftwareTokenMFANotFoundException(
                "No software token is associated with the user: call AssociateSoftwareToken first.")
        step = accepted_step(ctx.cloud.secrets.decrypt(pending["secret"]), params["UserCode"], time.time())
        if step is None:
            raise EnableSoftwareTokenMFAException("Code mismatch and fail enable Software Token MFA")
        _save(conn, user, with_verified(record, pending["secret"], params.get("FriendlyDeviceName"), step))
    out = {"Status": "SUCCESS"}
    if session is not None:
        out["Session"] = _next_session(ctx, session, verified=True)
    return out


@api.operation("SetUserMFAPreference", authorize=False)
def set_user_mfa_preference(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool, user = token_user(conn, ctx, params["AccessToken"])
        _save(conn, user, with_preference(user["mfa"] or {}, params, pool.get("MfaConfiguration") == "ON"))
    return {}


@api.operation("AdminSetUserMFAPreference", resources=pool_resources)
def admin_set_user_mfa_preference(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        pool = pool_shape(pool_row(conn, params["UserPoolId"], ctx))
        user = require_user(conn, pool["Id"], params["Username"])
        _save(conn, user, with_preference(user["mfa"] or {}, params, pool.get("MfaConfiguration") == "ON"))
    return {}


# --- sign-in ------------------------------------------------------------------------------------------

def second_factor(call: AuthCall, user: dict[str, Any]) -> dict[str, Any] | None:
    """The challenge a proved password leads to when the user must pass TOTP or set it up first."""
    challenge = challenge_for(call.pool, user["mfa"] or {})
    if challenge is None:
        return None
    parameters = {"USER_ID_FOR_SRP": user["username"]}
    if challenge == TOTP and (user["mfa"]["totp"].get("device")):
        parameters["FRIENDLY_DEVICE_NAME"] = user["mfa"]["totp"]["device"]
    if challenge == SETUP:
        parameters["MFAS_CAN_SETUP"] = json.dumps([TOTP])
    data = {"client_id": call.client["ClientId"], "tries": 0}
    session = auth.new_session(call.ctx.cloud, call.pool["Id"], user["username"], challenge, data)
    return {"ChallengeName": challenge, "Session": session, "ChallengeParameters": parameters}


def _challenged_user(call: AuthCall) -> dict[str, Any]:
    """The user a SOFTWARE_TOKEN_MFA or MFA_SETUP answer is for: its session must be this client's, and a
    client with a secret must send the SECRET_HASH of the USERNAME given."""
    if call.session is None:
        raise errors.InvalidParameterException("Missing required parameter Session")
    if call.session.get("client_id") != call.client["ClientId"]:
        raise errors.bad_session()
    given = call.parameters.get("USERNAME")
    if not given:
        raise errors.InvalidParameterException("Missing required parameter USERNAME")
    with call.ctx.cloud.db.read() as conn:
        user = find_user(conn, call.pool["Id"], call.session["username"])
    if user is None:
        raise errors.bad_session()
    auth.check_secret(call, given, user["username"], user["sub"])
    if not user["enabled"]:
        raise errors.NotAuthorizedException("User is disabled.")
    return user


def software_token_mfa(call: AuthCall) -> dict[str, Any]:
    """The answer to SOFTWARE_TOKEN_MFA: the authenticator's current code. A wrong one keeps the session
    for another try until :data:`MAX_TRIES` answers have been given."""
    user = _challenged_user(call)
    code = call.parameters.get("SOFTWARE_TOKEN_MFA_CODE")
    if not code:
        raise errors.InvalidParameterException("Missing required parameter SOFTWARE_TOKEN_MFA_CODE")
    session = call.session or {}
    if not _use_code(call.ctx, user, code):
        tries = int(session.get("tries", 0)) + 1
        if tries >= MAX_TRIES:
            auth.end_session(call.ctx.cloud, session["token"])
        else:
            data = {k: v for k, v in session.items() if k not in ("token", "username", "pool_id")}
            auth.update_session(call.ctx.cloud, session["token"], {**data, "tries": tries})
        raise errors.CodeMismatchException("Invalid code received for user")
    auth.end_session(call.ctx.cloud, session["token"])
    return auth.grant(call, user)


def mfa_setup(call: AuthCall) -> dict[str, Any]:
    """The answer to MFA_SETUP, once VerifySoftwareToken registered an authenticator with its session."""
    user = _challenged_user(call)
    session = call.session or {}
    if not session.get("verified"):
        raise errors.InvalidParameterException(
            "MFA is not set up yet: call AssociateSoftwareToken and VerifySoftwareToken with this session first.")
    auth.end_session(call.ctx.cloud, session["token"])
    return auth.grant(call, user)


auth.SECOND_FACTORS.append(second_factor)
auth.CHALLENGES.update({TOTP: software_token_mfa, SETUP: mfa_setup})
