"""The pure OAuth 2.0 rules of the hosted UI (controller/cognito_idp/oauth.py) and its Host routing."""

from __future__ import annotations

import base64

import pytest

from controller.cognito_idp import oauth
from controller.cognito_idp.hosted_ui import auth_domains, hosted_path
from controller.cognito_idp.hosted_ui_pages import login_page

# RFC 7636 appendix B's example.
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_s256_matches_the_rfc_example_only() -> None:
    assert oauth.pkce_matches(VERIFIER, CHALLENGE)
    assert not oauth.pkce_matches(VERIFIER[:-1] + "N", CHALLENGE)
    assert not oauth.pkce_matches(VERIFIER, CHALLENGE[:-1] + "N")
    # Too short, or characters RFC 7636 does not allow, even when the digest would match.
    assert not oauth.pkce_matches("short", oauth_challenge("short"))
    assert not oauth.pkce_matches("a" * 42 + "+", oauth_challenge("a" * 42 + "+"))


def oauth_challenge(verifier: str) -> str:
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def test_scopes_parse_in_order_once() -> None:
    assert oauth.parse_scopes(" openid  email openid\tprofile ") == ["openid", "email", "profile"]
    assert oauth.parse_scopes(None) == []


def test_granted_scopes() -> None:
    allowed = ["openid", "email", "orders/read"]
    assert oauth.granted_scopes([], allowed) == allowed
    assert oauth.granted_scopes(["email"], allowed) == ["email"]
    with pytest.raises(oauth.OAuthError) as excinfo:
        oauth.granted_scopes(["orders/write"], allowed)
    assert excinfo.value.error == "invalid_scope" and excinfo.value.status == 400


def test_basic_credentials() -> None:
    header = "Basic " + base64.b64encode(b"client:s%3Acret").decode()
    assert oauth.basic_credentials(header) == ("client", "s:cret")
    assert oauth.basic_credentials(None) is None
    assert oauth.basic_credentials("Bearer abc") is None
    for broken in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()):
        with pytest.raises(oauth.OAuthError) as excinfo:
            oauth.basic_credentials(broken)
        assert excinfo.value.error == "invalid_client"


def test_redirect_with_keeps_the_query_and_drops_missing_values() -> None:
    assert oauth.redirect_with("https://app/cb", {"code": "c", "state": None}) == "https://app/cb?code=c"
    assert oauth.redirect_with("https://app/cb?x=1", {"code": "a b"}) == "https://app/cb?x=1&code=a+b"
    assert oauth.redirect_with("https://app/cb", {"access_token": "t"}, fragment=True) == \
        "https://app/cb#access_token=t"


@pytest.mark.parametrize(("url", "ok"), [
    ("https://app.example.com/cb", True), ("http://localhost:3000/cb", True), ("myapp://callback", True),
    ("http://app.example.com/cb", False), ("https://app.example.com/cb#frag", False), ("/relative", False),
])
def test_callback_urls(url: str, ok: bool) -> None:
    assert (oauth.url_problem(url, "CallbackURLs") is None) is ok


def settings(**config: object) -> dict[str, object]:
    return {"AllowedOAuthFlowsUserPoolClient": True, "CallbackURLs": ["https://app/cb"], **config}


def test_client_settings_as_cognito_checks_them() -> None:
    custom = {"orders/read"}
    assert oauth.settings_problem(settings(AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid"]),
                                  False, custom) is None
    assert oauth.settings_problem({}, False, custom) is None
    problems = {
        "flags without flows": (settings(AllowedOAuthScopes=["openid"]), False),
        "unknown flow": (settings(AllowedOAuthFlows=["password"], AllowedOAuthScopes=["openid"]), False),
        "credentials with code": (settings(AllowedOAuthFlows=["code", "client_credentials"],
                                           AllowedOAuthScopes=["orders/read"]), True),
        "credentials without secret": (settings(AllowedOAuthFlows=["client_credentials"],
                                                AllowedOAuthScopes=["orders/read"]), False),
        "credentials with openid": (settings(AllowedOAuthFlows=["client_credentials"],
                                             AllowedOAuthScopes=["openid"]), True),
        "unknown scope": (settings(AllowedOAuthFlows=["code"], AllowedOAuthScopes=["orders/write"]), False),
        "no callback": (settings(AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid"], CallbackURLs=[]), False),
        "default not a callback": (settings(AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid"],
                                            DefaultRedirectURI="https://other/cb"), False),
        "unknown provider": (settings(AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid"],
                                      SupportedIdentityProviders=["COGNITO", "Google"]), False),
    }
    codes = {name: oauth.settings_problem(config, secret, custom) for name, (config, secret) in problems.items()}
    assert all(codes.values()), codes
    assert codes["credentials without secret"] == (
        "InvalidOAuthFlowException", "client_credentials flow can not be selected if client does not have a client secret.")
    assert codes["unknown scope"] == ("ScopeDoesNotExistException", "Invalid scope requested: orders/write")


def test_userinfo_releases_what_the_scopes_allow() -> None:
    attributes = {"sub": "s-1", "email": "a@example.com", "email_verified": "true", "phone_number": "+15550100",
                  "name": "Alice"}
    assert oauth.userinfo_claims("alice", attributes, ["openid"]) == {**attributes, "username": "alice"}
    assert oauth.userinfo_claims("alice", attributes, ["openid", "email"]) == {
        "sub": "s-1", "username": "alice", "email": "a@example.com", "email_verified": "true"}
    assert oauth.userinfo_claims("alice", attributes, ["openid", "profile"]) == {
        "sub": "s-1", "username": "alice", "name": "Alice"}


def test_host_routing_maps_prefix_names_onto_the_path_form() -> None:
    domains = auth_domains("home-1", "amazonaws.com")
    assert hosted_path("my-app.auth.home-1.amazonaws.com", "/login", domains) == "/_cloudlet/cognito/my-app/login"
    assert hosted_path("my-app.auth.localhost:8080", "/oauth2/token", domains) == \
        "/_cloudlet/cognito/my-app/oauth2/token"
    assert hosted_path("my-app.auth.localhost", "/_cloudlet/cognito/my-app/login", domains) == \
        "/_cloudlet/cognito/my-app/login"
    assert hosted_path("a.b.auth.localhost", "/login", domains) is None
    assert hosted_path("127.0.0.1:8080", "/login", domains) is None
    assert hosted_path("abc.execute-api.localhost", "/login", domains) is None


def test_login_page_escapes_what_requests_carry() -> None:
    html = login_page(query="a=1&b=<x>", csrf='"><script>', client_name="<b>app</b>", message="<i>no</i>")
    assert "<script>" not in html and "<b>app</b>" not in html and "<i>" not in html
    assert "&lt;b&gt;app&lt;/b&gt;" in html and 'role="alert"' in html
