"""What a pool's OAuth 2.0 endpoints decide, apart from HTTP: the hosted UI's sign-in, authorization codes,
the token endpoint's grants, /oauth2/userInfo and /oauth2/revoke. :mod:`controller.cognito_idp.hosted_ui`
turns requests into these calls and their answers (or :class:`~.oauth.OAuthError`) into responses.

Authorization codes are single-use and live :data:`CODE_SECONDS` (Cognito's five minutes); they are kept
as their sha256 with the redirect URI, scopes and PKCE challenge they were issued for. Tokens come from
:func:`tokens.issue` with the granted scopes in the access token's ``scope`` claim; the id token is
handed out only when ``openid`` was granted, as Cognito does.

Token endpoint errors are RFC 6749 JSON, all HTTP 400 as Cognito's token endpoint documents them.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import delete, insert, select, update

from controller.api import RequestContext
from controller.cognito_idp import auth, errors, state, tokens
from controller.cognito_idp.auth import AuthCall
from controller.cognito_idp.errors import ServiceError
from controller.cognito_idp.oauth import (
    OAuthError,
    basic_credentials,
    granted_scopes,
    parse_scopes,
    pkce_matches,
)
from controller.cognito_idp.oauth import userinfo_claims as released_claims
from controller.cognito_idp.password_flows import password_auth
from controller.cognito_idp.passwords import secret_hash
from controller.cognito_idp.pools import find_client
from controller.cognito_idp.resource_servers import custom_scopes
from controller.cognito_idp.users import find_user, get_user

CODE_SECONDS = 300
#: The challenges the login page can ask for (a TOTP set-up needs an authenticator app's enrolment, which
#: the API's AssociateSoftwareToken/VerifySoftwareToken serve).
PAGE_CHALLENGES = ("NEW_PASSWORD_REQUIRED", "SOFTWARE_TOKEN_MFA")


class SignInRefused(Exception):
    """The hosted UI cannot sign this user in: ``message`` is what the page shows; ``retry`` says whether the
    same challenge may be answered again (a wrong TOTP code, a password the policy refuses) or sign-in
    starts over."""

    def __init__(self, message: str, retry: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retry = retry


#: Errors after which a challenge's session stays open for another answer.
_RETRIED = ("CodeMismatchException", "InvalidPasswordException")


@dataclass
class Challenge:
    """What the user must answer next on the login page: ``name`` (one of :data:`PAGE_CHALLENGES`) and the
    challenge session the answer goes back with."""

    name: str
    session: str


# --- the login page -----------------------------------------------------------------------------------
#
# The page signs in through the API's own flows: USER_PASSWORD_AUTH's handler, then the handlers of the
# challenges that follow (a new password, a TOTP code), so every rule of sign-in (the password check, the
# user's status, MFA) is the one InitiateAuth applies. The hosted UI is the client's trusted server side:
# it makes the SECRET_HASH a client with a secret needs. What a flow's last step answers is the API's
# AuthenticationResult, unscoped: it is dropped (and its refresh token forgotten), and the user gets an
# authorization code whose exchange mints the tokens of the granted scopes.

def sign_in(ctx: RequestContext, pool: dict[str, Any], client: dict[str, Any], username: str,
            password: str) -> dict[str, Any] | Challenge:
    """The user ``username`` and ``password`` prove, or the challenge they must answer next;
    :class:`SignInRefused` with Cognito's message when sign-in fails."""
    if not username or not password:
        raise SignInRefused("Enter your username and password.")
    call = _call(ctx, pool, client, username, {"PASSWORD": password})
    return _step(call, lambda: password_auth(call))


def answer(ctx: RequestContext, pool: dict[str, Any], client: dict[str, Any], username: str, challenge: str,
           session: str, responses: dict[str, str]) -> dict[str, Any] | Challenge:
    """The next step after the user answered ``challenge`` (``responses`` as RespondToAuthChallenge's
    ChallengeResponses), as :func:`sign_in` answers."""
    if challenge not in PAGE_CHALLENGES:
        raise SignInRefused("Your sign-in expired: please sign in again.")
    call = _call(ctx, pool, client, username, responses)

    def respond() -> dict[str, Any]:
        call.session = {**auth.open_session(ctx.cloud, session, challenge), "token": session}
        if call.session["pool_id"] != pool["Id"]:
            raise errors.bad_session()
        return auth.CHALLENGES[challenge](call)

    return _step(call, respond)


def _call(ctx: RequestContext, pool: dict[str, Any], client: dict[str, Any], username: str,
          parameters: dict[str, str]) -> AuthCall:
    parameters = {**parameters, "USERNAME": username}
    if client.get("ClientSecret"):
        parameters["SECRET_HASH"] = secret_hash(client["ClientSecret"], username, client["ClientId"])
    return AuthCall(ctx=ctx, pool=pool, client=client, parameters=parameters, session=None, admin=False)


def _step(call: AuthCall, run: Callable[[], dict[str, Any]]) -> dict[str, Any] | Challenge:
    try:
        result = run()
    except ServiceError as exc:
        raise SignInRefused(exc.message, retry=exc.code in _RETRIED) from None
    if "AuthenticationResult" not in result:
        name = result.get("ChallengeName", "")
        if name not in PAGE_CHALLENGES:
            raise SignInRefused(f"This user must answer {name}, which this sign-in page does not offer: set it "
                                "up through the API (InitiateAuth) first.")
        return Challenge(name=name, session=result["Session"])
    issued = result["AuthenticationResult"]
    claims = jwt.decode(issued["AccessToken"], options={"verify_signature": False})
    with call.ctx.cloud.db.begin() as conn:
        conn.execute(delete(state.refresh_tokens).where(
            state.refresh_tokens.c.token_hash == tokens.hash_token(issued["RefreshToken"])))
        user = find_user(conn, call.pool["Id"], claims["sub"])
    if user is None:
        raise SignInRefused("User does not exist.")
    return user


def new_code(cloud: Any, client: dict[str, Any], user: dict[str, Any], redirect_uri: str, scopes: list[str],
             code_challenge: str | None, nonce: str | None = None) -> str:
    """An authorization code for ``user`` signed in through ``client`` (expired codes are swept)."""
    code = secrets.token_urlsafe(32)
    now = time.time()
    with cloud.db.begin() as conn:
        conn.execute(delete(state.authorization_codes).where(state.authorization_codes.c.expires_at < now))
        conn.execute(insert(state.authorization_codes).values(
            code_hash=tokens.hash_token(code), pool_id=client["UserPoolId"], client_id=client["ClientId"],
            user_id=user["user_id"], redirect_uri=redirect_uri, scopes=scopes, code_challenge=code_challenge,
            nonce=nonce, auth_time=int(now), expires_at=now + CODE_SECONDS))
    return code


def implicit_tokens(cloud: Any, pool: dict[str, Any], client: dict[str, Any], user: dict[str, Any],
                    scopes: list[str], nonce: str | None = None) -> dict[str, str]:
    """The implicit grant's fragment parameters: access (and id) token, never a refresh token."""
    body = token_body(tokens.issue(cloud, pool, client, user, scopes=scopes, nonce=nonce), scopes)
    body.pop("refresh_token", None)
    return {key: str(value) for key, value in body.items()}


# --- the token endpoint -------------------------------------------------------------------------------

def token_body(result: dict[str, Any], scopes: list[str] | None) -> dict[str, Any]:
    """An AuthenticationResult as the token endpoint's JSON."""
    body: dict[str, Any] = {"access_token": result["AccessToken"], "expires_in": result["ExpiresIn"],
                            "token_type": "Bearer"}
    if "IdToken" in result and (scopes is None or "openid" in scopes):
        body["id_token"] = result["IdToken"]
    if "RefreshToken" in result:
        body["refresh_token"] = result["RefreshToken"]
    return body


def authenticate_client(cloud: Any, pool_id: str, form: dict[str, str], header: str | None) -> dict[str, Any]:
    """The app client the request authenticates as: by HTTP Basic (client_secret_basic), by client_id and
    client_secret in the body (client_secret_post), or by client_id alone for a client without a secret."""
    basic = basic_credentials(header)
    client_id, given = basic if basic else (form.get("client_id"), form.get("client_secret"))
    if basic and form.get("client_id") not in (None, client_id):
        raise OAuthError("invalid_client", "client_id differs from the authenticated client.")
    client = find_client(cloud, pool_id, client_id) if client_id else None
    if client is None:
        raise OAuthError("invalid_client", "Client authentication failed.")
    secret = client.get("ClientSecret")
    if secret and not hmac.compare_digest(secret, given or ""):
        raise OAuthError("invalid_client", "Client authentication failed.")
    if not client.get("AllowedOAuthFlowsUserPoolClient"):
        raise OAuthError("unauthorized_client", "The client is not allowed to use OAuth flows.")
    return client


def token(cloud: Any, pool: dict[str, Any], form: dict[str, str], header: str | None) -> dict[str, Any]:
    """POST /oauth2/token: the grant ``grant_type`` names, for the client the request authenticates."""
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError("invalid_request", "grant_type is required.")
    handler = _GRANTS.get(grant)
    if handler is None:
        raise OAuthError("unsupported_grant_type", f"Unsupported grant_type: {grant}")
    client = authenticate_client(cloud, pool["Id"], form, header)
    return handler(cloud, pool, client, form)


def _authorization_code(cloud: Any, pool: dict[str, Any], client: dict[str, Any],
                        form: dict[str, str]) -> dict[str, Any]:
    code = form.get("code")
    if not code:
        raise OAuthError("invalid_request", "code is required.")
    if "code" not in (client.get("AllowedOAuthFlows") or []):
        raise OAuthError("unauthorized_client", "The client is not allowed the authorization code grant.")
    table = state.authorization_codes
    with cloud.db.begin() as conn:
        row = conn.execute(select(table).where(table.c.code_hash == tokens.hash_token(code))).mappings().first()
        if row is not None:  # single use: consumed by the first attempt, whatever its outcome
            conn.execute(delete(table).where(table.c.code_hash == row["code_hash"]))
    if row is None or row["expires_at"] < time.time() or row["client_id"] != client["ClientId"]:
        raise OAuthError("invalid_grant", "Authorization code has been consumed already or does not exist.")
    if form.get("redirect_uri") != row["redirect_uri"]:
        raise OAuthError("invalid_grant", "redirect_uri differs from the one the code was issued for.")
    if row["code_challenge"] and not pkce_matches(form.get("code_verifier") or "", row["code_challenge"]):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge.")
    with cloud.db.read() as conn:
        user = get_user(conn, row["user_id"])
    if not user["enabled"]:
        raise OAuthError("invalid_grant", "User is disabled.")
    result = tokens.issue(cloud, pool, client, user, scopes=row["scopes"], auth_time=row["auth_time"],
                          nonce=row["nonce"])
    return token_body(result, row["scopes"])


def _refresh_token(cloud: Any, pool: dict[str, Any], client: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    given = form.get("refresh_token")
    if not given:
        raise OAuthError("invalid_request", "refresh_token is required.")
    if not auth.flow_allowed(client, "REFRESH_TOKEN_AUTH"):
        raise OAuthError("unauthorized_client", "The client is not allowed to refresh tokens.")
    with cloud.db.read() as conn:
        row = tokens.find_refresh_token(conn, given)
        user = get_user(conn, row["user_id"]) if row else None
    if row is None or user is None or row["client_id"] != client["ClientId"]:
        raise OAuthError("invalid_grant", "Invalid Refresh Token")
    if not user["enabled"]:
        raise OAuthError("invalid_grant", "User is disabled.")
    result = tokens.issue(cloud, pool, client, user, scopes=row["scopes"], auth_time=row["auth_time"],
                          origin_jti=row["origin_jti"])
    return token_body(result, row["scopes"])


def _client_credentials(cloud: Any, pool: dict[str, Any], client: dict[str, Any],
                        form: dict[str, str]) -> dict[str, Any]:
    """An access token for the client itself, with custom scopes of the pool's resource servers only:
    those asked for, or every one the client is allowed when it asks for none."""
    if "client_credentials" not in (client.get("AllowedOAuthFlows") or []):
        raise OAuthError("unauthorized_client", "The client is not allowed the client_credentials grant.")
    with cloud.db.read() as conn:
        defined = custom_scopes(conn, pool["Id"])
    allowed = [scope for scope in client.get("AllowedOAuthScopes") or [] if scope in defined]
    scopes = granted_scopes(parse_scopes(form.get("scope")), allowed)
    if not scopes:
        raise OAuthError("invalid_scope", "The client is allowed no scope of a resource server.")
    return token_body(tokens.issue(cloud, pool, client, None, scopes=scopes), scopes)


_GRANTS = {"authorization_code": _authorization_code, "refresh_token": _refresh_token,
           "client_credentials": _client_credentials}


# --- userInfo and revoke ------------------------------------------------------------------------------

def userinfo(cloud: Any, pool_id: str, header: str | None) -> dict[str, Any]:
    """GET /oauth2/userInfo: the attributes an access token with the ``openid`` scope may read (RFC 6750
    errors: 401 invalid_token, 403 insufficient_scope)."""
    scheme, _, access_token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not access_token.strip():
        raise OAuthError("invalid_token", "Access token is missing.", status=401)
    try:
        claims = tokens.verify(cloud, access_token.strip(), pool_id=pool_id, token_use="access")
    except tokens.InvalidToken as exc:
        raise OAuthError("invalid_token", exc.message, status=401) from None
    scopes = parse_scopes(claims.get("scope"))
    if "openid" not in scopes:
        raise OAuthError("insufficient_scope", "The access token does not have the openid scope.", status=403)
    with cloud.db.read() as conn:
        user = find_user(conn, pool_id, claims["sub"]) if "username" in claims else None
    if user is None:
        raise OAuthError("invalid_token", "The access token is not a user's.", status=401)
    return released_claims(user["username"], user["attributes"], scopes)


def revoke(cloud: Any, pool_id: str, form: dict[str, str], header: str | None) -> None:
    """POST /oauth2/revoke: a refresh token and every token minted from it. An unknown token is no error
    (RFC 7009 2.2); another client's is."""
    client = authenticate_client(cloud, pool_id, form, header)
    if not form.get("token"):
        raise OAuthError("invalid_request", "token is required.")
    if not client.get("EnableTokenRevocation", True):
        raise OAuthError("unsupported_token_type", "Token revocation is not enabled for this client.")
    with cloud.db.begin() as conn:
        row = tokens.find_refresh_token(conn, form["token"])
        if row is None:
            return
        if row["client_id"] != client["ClientId"]:
            raise OAuthError("invalid_request", "The token was not issued to this client.")
        conn.execute(update(state.refresh_tokens).where(state.refresh_tokens.c.token_hash == row["token_hash"])
                     .values(revoked=True))
