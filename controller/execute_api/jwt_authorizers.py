"""JWT authorizers of HTTP APIs: the token from the identity source, its issuer and audience, the scopes.

AWS's rules: the token (``Bearer`` prefix optional) must be a JWT signed by a key of the issuer's JWKS,
unexpired, with ``iss`` the configured issuer and ``aud`` (or, for access tokens without ``aud``,
``client_id``) one of the configured audiences: otherwise 401. A route with authorization scopes needs the
token's ``scope`` (or ``scp``) claim to hold at least one of them: otherwise 403. The signature and
issuer checks are :func:`controller.auth.oidc.verify_jwt`'s; the rest is pure and here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.execute_api.request import InvokeRequest


@dataclass
class Denied(Exception):
    """The request may not use the route: ``status`` 401 (no or bad token) or 403 (missing scope)."""

    status: int
    message: str
    description: str = ""

    def www_authenticate(self) -> str:
        error = "insufficient_scope" if self.status == 403 else "invalid_token"
        return f'Bearer scope="" error="{error}" error_description="{self.description or self.message}"'


def token_from(request: InvokeRequest, identity_source: str) -> str | None:
    """The token the identity source names (``$request.header.X`` or ``$request.querystring.X``)."""
    if identity_source.startswith("$request.header."):
        value = request.header(identity_source.removeprefix("$request.header."))
    elif identity_source.startswith("$request.querystring."):
        name = identity_source.removeprefix("$request.querystring.")
        value = next((v for n, v in request.query if n == name), "")
    else:
        value = ""
    value = value.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or None


def check_audience(claims: dict[str, Any], audiences: list[str]) -> None:
    """401 unless ``aud`` (or ``client_id`` when there is no ``aud``) is one of ``audiences``."""
    aud = claims.get("aud")
    named = ([aud] if isinstance(aud, str) else list(aud or [])) or (
        [claims["client_id"]] if claims.get("client_id") else [])
    if not set(named) & set(audiences):
        raise Denied(401, "Unauthorized", "the token's audience is not one this API accepts")


def token_scopes(claims: dict[str, Any]) -> list[str]:
    value = claims.get("scope", claims.get("scp", ""))
    return value.split() if isinstance(value, str) else [str(item) for item in value]


def check_scopes(claims: dict[str, Any], required: list[str]) -> None:
    """403 unless the token has at least one of the route's authorization scopes (none required: fine)."""
    if required and not set(token_scopes(claims)) & set(required):
        raise Denied(403, "Forbidden", "the token has none of the scopes this route requires")


def authorize(cloud: Any, authorizer: dict[str, Any], route: dict[str, Any],
              request: InvokeRequest) -> dict[str, Any]:
    """``{"claims": ..., "scopes": ...}`` for the request's token, or :class:`Denied`."""
    token = token_from(request, authorizer["IdentitySource"][0])
    if token is None:
        raise Denied(401, "Unauthorized", "no token in " + authorizer["IdentitySource"][0])
    config = authorizer["JwtConfiguration"]
    from controller.auth import oidc

    try:
        claims = oidc.verify_jwt(cloud, token, issuer=config["Issuer"])
    except oidc.InvalidIdentityToken as exc:
        raise Denied(401, "Unauthorized", str(exc).replace('"', "'")) from exc
    check_audience(claims, config["Audience"])
    check_scopes(claims, route.get("AuthorizationScopes") or [])
    return {"claims": flat_claims(claims), "scopes": token_scopes(claims) or None}


def flat_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as the events carry them: every value a string, lists as ``[a b]`` (``cognito:groups``)."""
    flat = {}
    for name, value in claims.items():
        if isinstance(value, list):
            flat[name] = "[" + " ".join(str(item) for item in value) + "]"
        elif isinstance(value, bool):
            flat[name] = str(value).lower()
        else:
            flat[name] = str(value)
    return flat
