"""Sign-in: InitiateAuth, AdminInitiateAuth, RespondToAuthChallenge, AdminRespondToAuthChallenge.

The four operations only check what every flow shares (the client, whether it allows the flow, that a
client with a secret got a SECRET_HASH, the session) and hand an :class:`AuthCall` to the flow's
handler in :data:`FLOWS` or the challenge's in :data:`CHALLENGES`. Flows register themselves:
password and refresh flows in ``password_flows.py``, SRP in ``srp_flow.py``. Once a flow has proved who
the user is, :func:`finish` decides what comes next: a new password, a second factor (each hook of
:data:`SECOND_FACTORS`, which ``mfa.py`` fills, may answer a challenge instead), or the tokens
(:func:`grant`).

Challenge sessions are rows valid 3 minutes (Cognito's default AuthSessionValidity); an unknown or
expired one is Cognito's NotAuthorizedException "Invalid session for the user, session is expired.".
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from controller.api import RequestContext
from controller.cognito_idp import errors, state, tokens
from controller.cognito_idp.passwords import secret_hash
from controller.cognito_idp.pools import find_client, find_pool, pool_resources
from controller.cognito_idp.service import api

SESSION_SECONDS = 180


@dataclass
class AuthCall:
    """One InitiateAuth/RespondToAuthChallenge call as a flow sees it.

    ``parameters`` are AuthParameters or ChallengeResponses; ``session`` is the opened session's data
    (with ``username``, ``pool_id`` and ``token``, the session string :func:`end_session` takes) or
    None when the call carried none; ``admin`` is True for the
    Admin* operations (IAM-authorized, ADMIN_* flows allowed)."""

    ctx: RequestContext
    pool: dict[str, Any]
    client: dict[str, Any]
    parameters: dict[str, str]
    session: dict[str, Any] | None
    admin: bool


#: AuthFlow -> handler returning InitiateAuth's output.
FLOWS: dict[str, Callable[[AuthCall], dict[str, Any]]] = {}
#: ChallengeName -> handler returning RespondToAuthChallenge's output.
CHALLENGES: dict[str, Callable[[AuthCall], dict[str, Any]]] = {}
#: Hooks :func:`finish` asks, in order, once the password is proved: a hook answers the challenge the
#: user must pass next (SOFTWARE_TOKEN_MFA, MFA_SETUP...), or None to let sign-in go on.
SECOND_FACTORS: list[Callable[[AuthCall, dict[str, Any]], dict[str, Any] | None]] = []

#: The ExplicitAuthFlows entries that allow each AuthFlow (the ALLOW_ form and the legacy one).
_ALLOWED_BY = {
    "USER_PASSWORD_AUTH": ("ALLOW_USER_PASSWORD_AUTH", "USER_PASSWORD_AUTH"),
    "ADMIN_USER_PASSWORD_AUTH": ("ALLOW_ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"),
    "ADMIN_NO_SRP_AUTH": ("ALLOW_ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"),
    "USER_SRP_AUTH": ("ALLOW_USER_SRP_AUTH",),
    "REFRESH_TOKEN_AUTH": ("ALLOW_REFRESH_TOKEN_AUTH",),
    "REFRESH_TOKEN": ("ALLOW_REFRESH_TOKEN_AUTH",),
    "CUSTOM_AUTH": ("ALLOW_CUSTOM_AUTH", "CUSTOM_AUTH_FLOW_ONLY"),
}
#: Flows a legacy client (no ALLOW_* entry at all) always has, as Cognito grants them.
_LEGACY_ALWAYS = ("USER_SRP_AUTH", "REFRESH_TOKEN_AUTH", "REFRESH_TOKEN")
_ADMIN_ONLY = ("ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH")
_NOT_FOR_ADMIN = ("USER_PASSWORD_AUTH",)


def flow_allowed(client: dict[str, Any], flow: str) -> bool:
    """Whether the client's ExplicitAuthFlows allow ``flow``."""
    explicit = client.get("ExplicitAuthFlows") or []
    if any(entry in explicit for entry in _ALLOWED_BY.get(flow, ())):
        return True
    return flow in _LEGACY_ALWAYS and not any(entry.startswith("ALLOW_") for entry in explicit)


def check_secret(call: AuthCall, *names: str) -> None:
    """A client with a secret must get a SECRET_HASH made with one of ``names`` (the username given, the
    user's username or sub): NotAuthorizedException otherwise, as Cognito words it."""
    check_secret_hash(call.client, call.parameters.get("SECRET_HASH"), *names)


def check_secret_hash(client: dict[str, Any], given: str | None, *names: str) -> None:
    """:func:`check_secret` for the calls that carry SecretHash as a member (SignUp, ForgotPassword...)."""
    secret = client.get("ClientSecret")
    if not secret:
        return
    client_id = client["ClientId"]
    if not given:
        raise errors.NotAuthorizedException(
            f"Client {client_id} is configured with secret but SECRET_HASH was not received")
    if not any(name and hmac.compare_digest(secret_hash(secret, name, client_id), given) for name in names):
        raise errors.NotAuthorizedException(f"Unable to verify secret hash for client {client_id}")


# --- sessions -----------------------------------------------------------------------------------------

def new_session(cloud: Any, pool_id: str, username: str, challenge: str, data: dict[str, Any]) -> str:
    """A challenge session for ``username``, valid 3 minutes; expired ones are swept on the way."""
    session = secrets.token_urlsafe(96)
    now = time.time()
    with cloud.db.begin() as conn:
        conn.execute(delete(state.sessions).where(state.sessions.c.expires_at < now))
        conn.execute(insert(state.sessions).values(
            session_id=tokens.hash_token(session), pool_id=pool_id, username=username, challenge=challenge,
            data=data, expires_at=now + SESSION_SECONDS))
    return session


def open_session(cloud: Any, session: str, challenge: str) -> dict[str, Any]:
    """The data of a live session issued for ``challenge``, with its ``username`` and ``pool_id``."""
    with cloud.db.read() as conn:
        row = conn.execute(select(state.sessions).where(
            state.sessions.c.session_id == tokens.hash_token(session or ""))).mappings().first()
    if row is None or row["challenge"] != challenge or row["expires_at"] < time.time():
        raise errors.bad_session()
    return {**row["data"], "username": row["username"], "pool_id": row["pool_id"]}


def update_session(cloud: Any, session: str, data: dict[str, Any]) -> None:
    """Replace a live session's data (a challenge that allows several answers counts them there)."""
    with cloud.db.begin() as conn:
        conn.execute(update(state.sessions).where(state.sessions.c.session_id == tokens.hash_token(session))
                     .values(data=data))


def end_session(cloud: Any, session: str) -> None:
    """Forget a session once its challenge is answered (it cannot be replayed)."""
    with cloud.db.begin() as conn:
        conn.execute(delete(state.sessions).where(state.sessions.c.session_id == tokens.hash_token(session)))


# --- what comes after the password --------------------------------------------------------------------

def finish(call: AuthCall, user: dict[str, Any]) -> dict[str, Any]:
    """After the password (or SRP) proved ``user``: NEW_PASSWORD_REQUIRED, a second factor's
    challenge, or the tokens."""
    if not user["enabled"]:
        raise errors.NotAuthorizedException("User is disabled.")
    if user["status"] == "UNCONFIRMED":
        raise errors.UserNotConfirmedException("User is not confirmed.")
    if user["status"] == "RESET_REQUIRED":
        raise errors.PasswordResetRequiredException("Password reset required for the user")
    pool_id = call.pool["Id"]
    if user["status"] == "FORCE_CHANGE_PASSWORD":
        if user["password_expires_at"] is not None and user["password_expires_at"] < time.time():
            raise errors.NotAuthorizedException(
                "Temporary password has expired and must be reset by an administrator.")
        attributes = {k: v for k, v in user["attributes"].items() if k != "sub"}
        return {"ChallengeName": "NEW_PASSWORD_REQUIRED",
                "Session": new_session(call.ctx.cloud, pool_id, user["username"], "NEW_PASSWORD_REQUIRED", {}),
                "ChallengeParameters": {"USER_ID_FOR_SRP": user["username"], "requiredAttributes": "[]",
                                        "userAttributes": json.dumps(attributes)}}
    for second_factor in SECOND_FACTORS:
        challenge = second_factor(call, user)
        if challenge is not None:
            return challenge
    return grant(call, user)


def grant(call: AuthCall, user: dict[str, Any]) -> dict[str, Any]:
    """The tokens of a sign-in that has passed every challenge."""
    result = tokens.issue(call.ctx.cloud, call.pool, call.client, user, auth_time=int(time.time()))
    return {"ChallengeParameters": {}, "AuthenticationResult": result}


# --- the operations -----------------------------------------------------------------------------------

def _call(ctx: RequestContext, pool_id: str | None, client_id: str, parameters: dict[str, str] | None,
          admin: bool) -> AuthCall:
    client = find_client(ctx.cloud, pool_id, client_id)
    if client is None:
        raise errors.no_client(client_id)
    pool = find_pool(ctx.cloud, client["UserPoolId"])
    if pool is None:
        raise errors.no_pool(client["UserPoolId"])
    if admin and pool["Arn"].split(":")[4] != ctx.account_id:
        raise errors.no_pool(client["UserPoolId"])
    return AuthCall(ctx=ctx, pool=pool, client=client, parameters=dict(parameters or {}), session=None,
                    admin=admin)


def _initiate(call: AuthCall, flow: str) -> dict[str, Any]:
    if (flow in _ADMIN_ONLY and not call.admin) or (flow in _NOT_FOR_ADMIN and call.admin) or flow not in FLOWS:
        raise errors.InvalidParameterException("Initiate Auth method not supported.")
    if not flow_allowed(call.client, flow):
        raise errors.InvalidParameterException(f"{flow} flow not enabled for this client")
    if call.client.get("ClientSecret") and not call.parameters.get("SECRET_HASH"):
        check_secret(call)
    return FLOWS[flow](call)


@api.operation("InitiateAuth", authorize=False)
def initiate_auth(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    call = _call(ctx, None, params["ClientId"], params.get("AuthParameters"), admin=False)
    return _initiate(call, params["AuthFlow"])


@api.operation("AdminInitiateAuth", resources=pool_resources)
def admin_initiate_auth(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    call = _call(ctx, params["UserPoolId"], params["ClientId"], params.get("AuthParameters"), admin=True)
    return _initiate(call, params["AuthFlow"])


def _respond(call: AuthCall, params: dict[str, Any]) -> dict[str, Any]:
    name = params["ChallengeName"]
    handler = CHALLENGES.get(name)
    if handler is None:
        raise errors.InvalidParameterException(f"Unsupported challenge: {name}")
    if params.get("Session"):
        call.session = open_session(call.ctx.cloud, params["Session"], name)
        call.session["token"] = params["Session"]
        if call.session["pool_id"] != call.pool["Id"]:
            raise errors.bad_session()
    if call.client.get("ClientSecret") and not call.parameters.get("SECRET_HASH"):
        check_secret(call)
    return handler(call)


@api.operation("RespondToAuthChallenge", authorize=False)
def respond_to_auth_challenge(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    call = _call(ctx, None, params["ClientId"], params.get("ChallengeResponses"), admin=False)
    return _respond(call, params)


@api.operation("AdminRespondToAuthChallenge", resources=pool_resources)
def admin_respond_to_auth_challenge(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    call = _call(ctx, params["UserPoolId"], params["ClientId"], params.get("ChallengeResponses"), admin=True)
    return _respond(call, params)
