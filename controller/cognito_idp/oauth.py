"""Pure OAuth 2.0 rules of the hosted UI and the token endpoint: PKCE, scopes, redirect URIs, client
credentials in a Basic header, app clients' OAuth settings, and the claims /oauth2/userInfo answers.

Nothing here touches state: :mod:`controller.cognito_idp.hosted_ui` and :mod:`~.oauth_grants` call these.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

#: The scopes every pool knows; any other must be a resource server's ``identifier/scope``.
STANDARD_SCOPES = ("phone", "email", "openid", "profile", "aws.cognito.signin.user.admin")
#: Attributes each OIDC scope releases (OIDC Core 5.4); ``profile`` releases the rest but for those.
SCOPE_ATTRIBUTES = {"email": ("email", "email_verified"), "phone": ("phone_number", "phone_number_verified")}
FLOWS = ("code", "implicit", "client_credentials")
#: RFC 7636 4.1: 43 to 128 unreserved characters.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


class OAuthError(Exception):
    """An RFC 6749 error: ``error`` is its code, ``status`` the HTTP status Cognito answers it with."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(description or error)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, **({"error_description": self.description} if self.description else {})}


def parse_scopes(value: str | None) -> list[str]:
    """A ``scope`` parameter's scopes, in order, each once."""
    return list(dict.fromkeys((value or "").split()))


def pkce_matches(verifier: str, challenge: str) -> bool:
    """Whether ``verifier`` is the proof of ``challenge`` under S256, the one method Cognito accepts:
    BASE64URL(SHA256(verifier)) without padding (RFC 7636 4.6)."""
    if not _VERIFIER.fullmatch(verifier or ""):
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return hmac.compare_digest(digest, challenge)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client id, secret) of an ``Authorization: Basic`` header, or None when there is no such header.

    A header that is Basic but cannot be read is :class:`OAuthError` invalid_client."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "Malformed Basic authorization header.") from None
    if not sep:
        raise OAuthError("invalid_client", "Malformed Basic authorization header.")
    # RFC 6749 2.3.1: both parts are form-urlencoded before they are joined.
    return unquote(client_id), unquote(secret)


def redirect_with(uri: str, params: dict[str, str], fragment: bool = False) -> str:
    """``uri`` with ``params`` added to its query (or, for the implicit grant, as its fragment)."""
    encoded = urlencode({k: v for k, v in params.items() if v is not None})
    if fragment:
        return f"{uri}#{encoded}"
    return f"{uri}{'&' if urlsplit(uri).query else '?'}{encoded}"


def url_problem(url: str, member: str) -> str | None:
    """What Cognito refuses in a callback or sign-out URL: a relative one, a fragment, or plain http
    anywhere but localhost (app schemes like ``myapp://`` are fine)."""
    parts = urlsplit(url)
    if not parts.scheme or not (parts.netloc or parts.path):
        return f"{member} must be absolute URLs: {url}"
    if parts.fragment:
        return f"{member} cannot contain a fragment: {url}"
    if parts.scheme.lower() == "http" and (parts.hostname or "") != "localhost":
        return f"{member} must use HTTPS, except http://localhost: {url}"
    return None


def settings_problem(config: dict[str, Any], has_secret: bool, custom: set[str]) -> tuple[str, str] | None:
    """(error code, message) for OAuth settings of an app client that Cognito refuses, or None.

    ``custom`` is every ``identifier/scope`` the pool's resource servers define."""
    flows = config.get("AllowedOAuthFlows") or []
    scopes = config.get("AllowedOAuthScopes") or []
    bad = next((flow for flow in flows if flow not in FLOWS), None)
    if bad:
        return "InvalidOAuthFlowException", f"Invalid OAuth flow: {bad}. Valid flows are {', '.join(FLOWS)}."
    if config.get("AllowedOAuthFlowsUserPoolClient") and (not flows or not scopes):
        return ("InvalidParameterException",
                "AllowedOAuthFlows and AllowedOAuthScopes are required if user pool client is allowed to use OAuth "
                "flows.")
    if "client_credentials" in flows:
        if len(flows) > 1:
            return ("InvalidOAuthFlowException",
                    "client_credentials flow can not be selected along with code flow or implicit flow.")
        if not has_secret:
            return ("InvalidOAuthFlowException",
                    "client_credentials flow can not be selected if client does not have a client secret.")
        standard = next((scope for scope in scopes if scope in STANDARD_SCOPES), None)
        if standard:
            return "InvalidOAuthFlowException", f"{standard} is not supported with client_credentials flow"
    unknown = next((scope for scope in scopes if scope not in STANDARD_SCOPES and scope not in custom), None)
    if unknown:
        return "ScopeDoesNotExistException", f"Invalid scope requested: {unknown}"
    callbacks = config.get("CallbackURLs") or []
    if {"code", "implicit"} & set(flows) and config.get("AllowedOAuthFlowsUserPoolClient") and not callbacks:
        return "InvalidParameterException", "CallbackURLs are required when the code or implicit flow is allowed."
    for member in ("CallbackURLs", "LogoutURLs"):
        problem = next(filter(None, (url_problem(url, member) for url in config.get(member) or [])), None)
        if problem:
            return "InvalidParameterException", problem
    default = config.get("DefaultRedirectURI")
    if default and default not in callbacks:
        return "InvalidParameterException", "DefaultRedirectURI must be one of the CallbackURLs."
    providers = [p for p in config.get("SupportedIdentityProviders") or [] if p != "COGNITO"]
    if providers:
        return ("InvalidParameterException",
                f"The provider {providers[0]} does not exist for User Pool (only COGNITO is served here).")
    return None


def granted_scopes(requested: list[str], allowed: list[str]) -> list[str]:
    """The scopes a sign-in gets: what it asked for (every allowed scope when it asked for none), each of
    which the client must allow; :class:`OAuthError` invalid_scope otherwise."""
    if not requested:
        return list(allowed)
    refused = [scope for scope in requested if scope not in allowed]
    if refused:
        raise OAuthError("invalid_scope", f"Scope not allowed for this client: {refused[0]}")
    return requested


def userinfo_claims(username: str, attributes: dict[str, str], scopes: list[str]) -> dict[str, Any]:
    """What /oauth2/userInfo answers for a token with ``scopes``: ``sub`` and ``username`` always; the
    attributes the OIDC scopes release (all of them for ``aws.cognito.signin.user.admin``, or for
    ``openid`` alone), as stored: Cognito sends ``*_verified`` there as the strings "true"/"false"."""
    oidc = {"email", "phone", "profile"} & set(scopes)
    if "aws.cognito.signin.user.admin" in scopes or not oidc:
        released = set(attributes)
    else:
        named = {name for names in SCOPE_ATTRIBUTES.values() for name in names}
        released = {name for scope in oidc & SCOPE_ATTRIBUTES.keys() for name in SCOPE_ATTRIBUTES[scope]}
        if "profile" in oidc:
            released |= {name for name in attributes if name not in named}
    claims = {name: value for name, value in attributes.items() if name in released}
    return {**claims, "sub": attributes["sub"], "username": username}
