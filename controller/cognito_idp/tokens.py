"""User pools' tokens: RS256 id and access tokens with AWS's claims, opaque refresh tokens, and the JWKS.

Each pool signs with one RSA key at a time (``kid`` in every token's header). A key older than
:data:`KEY_LIFETIME` is replaced when the pool next signs; the replaced key stays in the JWKS for
:data:`RETIRED_KEPT` (the longest an id or access token can live), so tokens it signed keep verifying
until they expire. Refresh tokens are random strings stored as their sha256: revoking one
(RevokeToken, GlobalSignOut) revokes its ``origin_jti``, which every id and access token minted from
it carries, so :func:`verify` refuses those too, as Cognito does.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Connection, delete, insert, select, update

from controller.cognito_idp import state

#: How long one signing key signs before the pool moves to a new one.
KEY_LIFETIME = 7 * 86400
#: How long a replaced key stays in the JWKS: one day, the longest id/access token validity Cognito allows.
RETIRED_KEPT = 86400
#: Seconds per unit of TokenValidityUnits.
UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
DEFAULT_SCOPE = "aws.cognito.signin.user.admin"


class InvalidToken(Exception):
    """A token that does not hold: bad signature, expired, wrong issuer/audience/use, or revoked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def issuer(cloud: Any, pool_id: str) -> str:
    """The ``iss`` of a pool's tokens: this cloud's endpoint followed by the pool id."""
    return f"{cloud.config.endpoint_url.rstrip('/')}/{pool_id}"


# --- keys ---------------------------------------------------------------------------------------------

def create_key(conn: Connection, cloud: Any, pool_id: str, now: float | None = None) -> str:
    """Make a new signing key for ``pool_id``, retire the current one and forget long-retired ones."""
    now = time.time() if now is None else now
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.public_key().public_numbers()
    kid = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")
    jwk = {"alg": "RS256", "e": _b64int(numbers.e), "kid": kid, "kty": "RSA", "n": _b64int(numbers.n),
           "use": "sig"}
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    conn.execute(update(state.keys).where(state.keys.c.pool_id == pool_id, state.keys.c.retired_at.is_(None))
                 .values(retired_at=now))
    conn.execute(delete(state.keys).where(state.keys.c.pool_id == pool_id,
                                          state.keys.c.retired_at < now - RETIRED_KEPT))
    conn.execute(insert(state.keys).values(kid=kid, pool_id=pool_id, private_pem=cloud.secrets.encrypt(pem),
                                           public_jwk=jwk, created_at=now, retired_at=None))
    return kid


def _b64int(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _signing_key(cloud: Any, pool_id: str) -> tuple[str, Any]:
    """The pool's current (kid, private key), rotating first when the key is past its lifetime."""
    with cloud.db.read() as conn:
        row = conn.execute(select(state.keys).where(state.keys.c.pool_id == pool_id,
                                                    state.keys.c.retired_at.is_(None))).mappings().first()
    if row is None or row["created_at"] < time.time() - KEY_LIFETIME:
        with cloud.db.begin() as conn:
            create_key(conn, cloud, pool_id)
        return _signing_key(cloud, pool_id)
    pem = cloud.secrets.decrypt(row["private_pem"]).encode()
    # Our own key, made by create_key: skipping the (slow) consistency checks is safe.
    key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    return row["kid"], key


def jwks(cloud: Any, pool_id: str) -> dict[str, Any]:
    """The pool's JWKS document: its signing key and the retired keys whose tokens may still be alive."""
    now = time.time()
    with cloud.db.read() as conn:
        rows = conn.execute(select(state.keys.c.public_jwk, state.keys.c.retired_at)
                            .where(state.keys.c.pool_id == pool_id)
                            .order_by(state.keys.c.created_at.desc())).all()
    return {"keys": [jwk for jwk, retired in rows if retired is None or retired >= now - RETIRED_KEPT]}


# --- issuing ------------------------------------------------------------------------------------------

def validity_seconds(client: dict[str, Any], kind: str) -> int:
    """A client's validity for ``kind`` (AccessToken, IdToken, RefreshToken) in seconds."""
    defaults = {"AccessToken": (60, "minutes"), "IdToken": (60, "minutes"), "RefreshToken": (30, "days")}
    value, unit = defaults[kind]
    value = client.get(f"{kind}Validity") or value
    unit = (client.get("TokenValidityUnits") or {}).get(kind) or unit
    return int(value) * UNITS[unit]


def issue(cloud: Any, pool: dict[str, Any], client: dict[str, Any], user: dict[str, Any] | None, *,
          scopes: list[str] | None = None, auth_time: int | None = None,
          refresh_token: str | None = None, origin_jti: str | None = None,
          nonce: str | None = None) -> dict[str, Any]:
    """AWS's AuthenticationResult for ``user`` signed in through ``client``.

    A new sign-in mints a refresh token (and its ``origin_jti``); REFRESH_TOKEN_AUTH passes the
    refresh token's ``origin_jti`` and gets no new refresh token, as Cognito answers without rotation.
    ``user`` None is the client_credentials grant: an access token for the client alone. ``nonce`` (the
    hosted UI's OIDC nonce) goes into the id token.
    """
    now = int(time.time())
    auth_time = auth_time or now
    pool_id = pool["Id"]
    kid, key = _signing_key(cloud, pool_id)
    headers = {"kid": kid, "alg": "RS256"}
    access_ttl = validity_seconds(client, "AccessToken")
    scope = " ".join(scopes) if scopes is not None else DEFAULT_SCOPE
    base = {"iss": issuer(cloud, pool_id), "iat": now, "auth_time": auth_time}
    if user is None:
        access = {**base, "sub": client["ClientId"], "token_use": "access", "scope": scope,
                  "client_id": client["ClientId"], "exp": now + access_ttl, "jti": str(uuid.uuid4()),
                  "version": 2}
        return {"AccessToken": jwt.encode(access, key, algorithm="RS256", headers=headers),
                "ExpiresIn": access_ttl, "TokenType": "Bearer"}
    result: dict[str, Any] = {}
    if origin_jti is None:
        origin_jti = str(uuid.uuid4())
        refresh_token = _new_refresh_token(cloud, pool_id, client, user, origin_jti, auth_time, scopes)
        result["RefreshToken"] = refresh_token
    groups = user_groups(cloud, pool_id, user["user_id"])
    event_id = str(uuid.uuid4())
    common = {**base, "sub": user["sub"], "origin_jti": origin_jti, "event_id": event_id}
    if groups:
        common["cognito:groups"] = [group["name"] for group in groups]
    access = {**common, "token_use": "access", "scope": scope, "client_id": client["ClientId"],
              "username": user["username"], "exp": now + access_ttl, "jti": str(uuid.uuid4())}
    identity = {**common, **id_attributes(user["attributes"]), "token_use": "id", "aud": client["ClientId"],
                "cognito:username": user["username"], "exp": now + validity_seconds(client, "IdToken"),
                "jti": str(uuid.uuid4())}
    identity.update(role_claims(groups))
    if nonce is not None:
        identity["nonce"] = nonce
    return {"AccessToken": jwt.encode(access, key, algorithm="RS256", headers=headers),
            "ExpiresIn": access_ttl, "TokenType": "Bearer",
            "IdToken": jwt.encode(identity, key, algorithm="RS256", headers=headers), **result}


def id_attributes(attributes: dict[str, str]) -> dict[str, Any]:
    """A user's attributes as id-token claims: ``*_verified`` as booleans, the rest as stored."""
    claims: dict[str, Any] = {}
    for name, value in attributes.items():
        if name == "sub":
            continue
        claims[name] = value.lower() == "true" if name.endswith("_verified") else value
    return claims


def role_claims(groups: list[dict[str, Any]]) -> dict[str, Any]:
    """``cognito:roles`` (every group's role) and ``cognito:preferred_role`` (the role of the group with
    the lowest precedence; none when two such groups tie, as Cognito leaves it out)."""
    with_roles = [group for group in groups if group.get("role_arn")]
    if not with_roles:
        return {}
    claims: dict[str, Any] = {"cognito:roles": sorted({group["role_arn"] for group in with_roles})}
    ranked = sorted(with_roles, key=lambda group: _precedence(group))
    best = ranked[0]
    if len(ranked) == 1 or _precedence(ranked[1]) != _precedence(best):
        claims["cognito:preferred_role"] = best["role_arn"]
    return claims


def _precedence(group: dict[str, Any]) -> int:
    """A group without Precedence ranks after every numbered one."""
    return group["precedence"] if group.get("precedence") is not None else 1 << 31


def user_groups(cloud: Any, pool_id: str, user_id: int) -> list[dict[str, Any]]:
    """The groups ``user_id`` belongs to, by precedence then name."""
    with cloud.db.read() as conn:
        rows = conn.execute(select(state.groups).join(
            state.members, (state.members.c.pool_id == state.groups.c.pool_id)
            & (state.members.c.group_name == state.groups.c.name))
            .where(state.members.c.user_id == user_id)).mappings().all()
    return sorted((dict(row) for row in rows), key=lambda group: (_precedence(group), group["name"]))


def _new_refresh_token(cloud: Any, pool_id: str, client: dict[str, Any], user: dict[str, Any],
                       origin_jti: str, auth_time: int, scopes: list[str] | None) -> str:
    token = secrets.token_urlsafe(48)
    with cloud.db.begin() as conn:
        conn.execute(insert(state.refresh_tokens).values(
            token_hash=hash_token(token), user_id=user["user_id"], pool_id=pool_id,
            client_id=client["ClientId"], origin_jti=origin_jti, auth_time=auth_time, scopes=scopes,
            expires_at=time.time() + validity_seconds(client, "RefreshToken"), revoked=False))
    return token


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_refresh_token(conn: Connection, token: str) -> dict[str, Any] | None:
    """A live (unrevoked, unexpired) refresh token's row, or None."""
    row = conn.execute(select(state.refresh_tokens).where(
        state.refresh_tokens.c.token_hash == hash_token(token))).mappings().first()
    if row is None or row["revoked"] or row["expires_at"] < time.time():
        return None
    return dict(row)


def revoke_user_tokens(conn: Connection, user_id: int) -> None:
    """GlobalSignOut: every refresh token of the user, and so every token minted from them."""
    conn.execute(update(state.refresh_tokens).where(state.refresh_tokens.c.user_id == user_id)
                 .values(revoked=True))


# --- verifying ----------------------------------------------------------------------------------------

def verify(cloud: Any, token: str, *, pool_id: str | None = None, client_ids: list[str] | None = None,
           token_use: str | None = None) -> dict[str, Any]:
    """The claims of a token this cloud's pool signed, or :class:`InvalidToken` saying what fails."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidToken("Invalid token") from None
    iss = unverified.get("iss")
    prefix = cloud.config.endpoint_url.rstrip("/") + "/"
    if not isinstance(iss, str) or not iss.startswith(prefix):
        raise InvalidToken("Invalid token issuer")
    token_pool = iss[len(prefix):]
    if pool_id is not None and token_pool != pool_id:
        raise InvalidToken("Invalid token issuer")
    jwk = next((key for key in jwks(cloud, token_pool)["keys"] if key["kid"] == header.get("kid")), None)
    if jwk is None:
        raise InvalidToken("Invalid token: unknown signing key")
    try:
        claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"], issuer=iss,
                            options={"verify_aud": False, "require": ["exp", "iat", "token_use"]})
    except jwt.ExpiredSignatureError:
        kind = "Access" if unverified.get("token_use") == "access" else "Id"
        raise InvalidToken(f"{kind} Token has expired") from None
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"Invalid token: {exc}") from None
    if token_use is not None and claims["token_use"] != token_use:
        raise InvalidToken(f"Invalid token_use: expected {token_use}")
    audience = claims.get("aud") if claims["token_use"] == "id" else claims.get("client_id")
    if client_ids is not None and audience not in client_ids:
        raise InvalidToken("Invalid token audience")
    if "origin_jti" in claims:
        _check_session(cloud, token_pool, claims)
    return claims


def _check_session(cloud: Any, pool_id: str, claims: dict[str, Any]) -> None:
    """A user's token also needs its user enabled and its sign-in (origin_jti) not revoked."""
    with cloud.db.read() as conn:
        user = conn.execute(select(state.users.c.enabled).where(
            state.users.c.pool_id == pool_id, state.users.c.sub == claims["sub"])).first()
        revoked = conn.execute(select(state.refresh_tokens.c.revoked).where(
            state.refresh_tokens.c.origin_jti == claims["origin_jti"])).first()
    if user is None:
        raise InvalidToken("User does not exist.")
    if not user.enabled:
        raise InvalidToken("User is disabled.")
    if revoked is not None and revoked.revoked:
        kind = "Access" if claims["token_use"] == "access" else "Id"
        raise InvalidToken(f"{kind} Token has been revoked")

