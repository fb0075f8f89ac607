"""Verifying OpenID Connect JWTs from any issuer: this cloud's user pools, or a remote OIDC provider.

STS (AssumeRoleWithWebIdentity), identity pools (Logins) and HTTP APIs' JWT authorizers all ask
:func:`verify_jwt`. A token whose ``iss`` is one of this cloud's user pools is checked against the
pool's JWKS in-process (``cognito_idp.tokens.jwks``): no HTTP round trip to ourselves. Any other issuer
is asked for ``{iss}/.well-known/openid-configuration`` and its ``jwks_uri``, with a short timeout;
both are kept for ``CACHE_SECONDS`` in ``cloud.oidc_keys`` and fetched again, at most every
``REFETCH_SECONDS``, when a token names a key id the cached set does not hold (the issuer rotated).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import jwt

#: How long a remote issuer's keys are trusted before they are fetched again.
CACHE_SECONDS = 300.0
#: The least time between two fetches for an unknown ``kid`` (a token cannot make us hammer the issuer).
REFETCH_SECONDS = 10.0
#: Seconds to wait for a remote issuer's discovery document or JWKS.
FETCH_TIMEOUT = 3.0
#: Most bytes read from a discovery document or JWKS.
MAX_DOCUMENT = 512 * 1024
#: Clock skew allowed on exp/nbf/iat.
LEEWAY_SECONDS = 5
#: The issuer of Cognito identity pools' OpenID tokens (GetOpenIdToken), answered in-process.
COGNITO_IDENTITY_ISSUER = "https://cognito-identity.amazonaws.com"
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"]


class InvalidIdentityToken(Exception):
    """A token that does not hold: malformed, bad signature, wrong issuer or audience, unknown key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExpiredIdentityToken(InvalidIdentityToken):
    """A well-signed token past its ``exp`` (STS answers ExpiredTokenException for it)."""


class IssuerUnreachable(InvalidIdentityToken):
    """The issuer's discovery document or JWKS could not be fetched (STS: IDPCommunicationError)."""


@dataclass
class _Entry:
    keys: list[dict[str, Any]]
    fetched_at: float


@dataclass
class KeyCache:
    """Remote issuers' JWKS by issuer URL, with the time they were fetched (the ``cloud.oidc_keys`` slot)."""

    entries: dict[str, _Entry] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keys(self, issuer: str, kid: str | None, now: float | None = None) -> list[dict[str, Any]]:
        """The issuer's keys; fetched when absent, stale, or (rate-limited) when ``kid`` is not among them."""
        now = time.time() if now is None else now
        with self.lock:
            entry = self.entries.get(issuer)
        fresh = entry is not None and now - entry.fetched_at < CACHE_SECONDS
        known = entry is not None and any(key.get("kid") == kid for key in entry.keys)
        if fresh and (known or kid is None or now - entry.fetched_at < REFETCH_SECONDS):
            return entry.keys
        keys = fetch_jwks(issuer)
        with self.lock:
            self.entries[issuer] = _Entry(keys, now)
        return keys


def _get_json(url: str) -> dict[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise IssuerUnreachable(f"Unsupported URL scheme: {url}")
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "cloudlet-oidc"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 (scheme checked)
            document = json.loads(response.read(MAX_DOCUMENT + 1)[:MAX_DOCUMENT])
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise IssuerUnreachable(f"Couldn't retrieve verification key from your identity provider ({url}): "
                                f"{getattr(exc, 'reason', exc)}") from None
    if not isinstance(document, dict):
        raise IssuerUnreachable(f"The document at {url} is not a JSON object")
    return document


def fetch_jwks(issuer: str) -> list[dict[str, Any]]:
    """An issuer's signing keys through its discovery document's ``jwks_uri``."""
    discovery = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    jwks_uri = discovery.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise IssuerUnreachable(f"The discovery document of {issuer} names no jwks_uri")
    keys = _get_json(jwks_uri).get("keys")
    if not isinstance(keys, list):
        raise IssuerUnreachable(f"The JWKS at {jwks_uri} holds no keys")
    return [key for key in keys if isinstance(key, dict)]


def own_pool_id(cloud: Any, issuer: str) -> str | None:
    """The user pool id when ``issuer`` is one of this cloud's pools' issuers, else None."""
    prefix = cloud.config.endpoint_url.rstrip("/") + "/"
    if not issuer.startswith(prefix):
        return None
    rest = issuer[len(prefix):]
    return rest if rest and "/" not in rest and "_" in rest else None


def issuer_keys(cloud: Any, issuer: str, kid: str | None) -> list[dict[str, Any]]:
    """The keys that may have signed a token of ``issuer`` (in-process for this cloud's pools)."""
    pool_id = own_pool_id(cloud, issuer)
    if pool_id is not None:
        from controller.cognito_idp import tokens  # a service's documented function, not its tables

        return tokens.jwks(cloud, pool_id)["keys"]
    if issuer == COGNITO_IDENTITY_ISSUER:      # GetOpenIdToken's tokens: this cloud is that issuer
        from controller.cognito_identity import open_id

        return open_id.jwks(cloud)
    if cloud.oidc_keys is None:
        cloud.oidc_keys = KeyCache()
    return cloud.oidc_keys.keys(issuer, kid)


def audiences_of(claims: dict[str, Any]) -> list[str]:
    """A token's audiences: ``aud`` (string or list), else ``client_id`` (Cognito access tokens)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [item for item in aud if isinstance(item, str)]
    client_id = claims.get("client_id")
    return [client_id] if isinstance(client_id, str) else []


def unverified_claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a token without checking anything, or InvalidIdentityToken when it is no JWT."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidIdentityToken("The ID Token provided is not a valid JWT. (You may see this error if you "
                                   "sent an Access Token)") from None
    return header, claims


def check_signed(token: str, keys: list[dict[str, Any]], header: dict[str, Any], issuer: str,
                 now: float | None = None) -> dict[str, Any]:
    """Pure: the claims once the signature by one of ``keys``, ``iss``, ``exp``/``nbf``/``iat`` hold."""
    kid = header.get("kid")
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        raise InvalidIdentityToken(f"Unsupported signing algorithm: {algorithm}")
    candidates = [key for key in keys if kid is None or key.get("kid") == kid]
    if not candidates:
        raise InvalidIdentityToken("No matching signing key found in the identity provider's JWKS "
                                   f"(kid {kid})")
    options = {"verify_aud": False, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
               "require": ["exp", "iss"]}
    last: Exception | None = None
    for jwk in candidates:
        try:
            key = jwt.PyJWK(jwk, algorithm).key
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            last = exc
            continue
        try:
            claims = jwt.decode(token, key, algorithms=[algorithm], issuer=issuer, options=options)
        except jwt.InvalidSignatureError as exc:
            last = exc
            continue
        except jwt.PyJWTError as exc:
            raise InvalidIdentityToken(f"Invalid token: {exc}") from None
        _check_times(claims, time.time() if now is None else now)
        return claims
    raise InvalidIdentityToken(f"Invalid token signature ({last})")


def _check_times(claims: dict[str, Any], now: float) -> None:
    try:
        exp = float(claims["exp"])
        nbf = float(claims.get("nbf", 0))
    except (TypeError, ValueError):
        raise InvalidIdentityToken("The token's exp or nbf is not a number") from None
    if exp + LEEWAY_SECONDS <= now:
        raise _expired_at(exp, now)
    if nbf - LEEWAY_SECONDS > now:
        raise InvalidIdentityToken("The token is not yet valid (nbf)")


def _expired_at(exp: float, now: float) -> ExpiredIdentityToken:
    def stamp(epoch: float) -> str:
        return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(epoch))

    return ExpiredIdentityToken(f"Token expired: current date/time {stamp(now)} must be before the "
                                f"expiration date/time {stamp(exp)}")


def verify_jwt(cloud: Any, token: str, *, issuer: str | None = None,
               audiences: list[str] | None = None) -> dict[str, Any]:
    """The claims of ``token`` once its issuer's key signed it, it is in date, and (when given) its
    issuer is ``issuer`` and one of its audiences (``aud``, else ``client_id``) is in ``audiences``."""
    header, unverified = unverified_claims(token)
    iss = unverified.get("iss")
    if not isinstance(iss, str) or not iss:
        raise InvalidIdentityToken("The token has no issuer (iss)")
    if issuer is not None and iss.rstrip("/") != issuer.rstrip("/"):
        raise InvalidIdentityToken(f"Invalid token issuer: {iss}")
    claims = check_signed(token, issuer_keys(cloud, iss, header.get("kid")), header, iss)
    if audiences is not None and not set(audiences_of(claims)) & set(audiences):
        raise InvalidIdentityToken("Incorrect token audience")
    return claims
