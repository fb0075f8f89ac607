"""A user pool's hosted UI and OAuth 2.0 endpoints over HTTP against a real ``cloudlet up``: the authorization
code grant with PKCE as a browser and an app drive it (tokens verified by PyJWT against the JWKS), codes
that cannot be used twice or with the wrong verifier, the client credentials grant with a resource server's
scope, and the control plane's errors (domains, resource servers, clients' OAuth settings) through boto3."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pyotp
import pytest
import requests
from botocore.exceptions import ClientError

from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e
PASSWORD = "Passw0rd!"
CALLBACK = "http://localhost:8765/callback"


@pytest.fixture
def idp(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("cognito-idp")


@pytest.fixture
def pool(idp: Any, unique: str) -> Iterator[str]:
    pool_id = idp.create_user_pool(PoolName=unique, AutoVerifiedAttributes=["email"])["UserPool"]["Id"]
    yield pool_id
    idp.delete_user_pool(UserPoolId=pool_id)


@pytest.fixture
def site(cloudlet: CloudletProcess, idp: Any, pool: str, unique: str) -> str:
    """The pool's domain (the test's unique prefix), as the base URL of its pages."""
    idp.create_user_pool_domain(UserPoolId=pool, Domain=unique)
    return f"{cloudlet.endpoint}/_cloudlet/cognito/{unique}"


@pytest.fixture
def web_client(idp: Any, pool: str) -> str:
    """A public app client allowed the code grant, and a user ``alice`` with a permanent password."""
    client_id = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="web", AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "email", "profile"], CallbackURLs=[CALLBACK],
        LogoutURLs=["http://localhost:8765/bye"], SupportedIdentityProviders=["COGNITO"],
    )["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="alice", MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": "alice@example.com"},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool, Username="alice", Password=PASSWORD, Permanent=True)
    return client_id


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def login_form(session: requests.Session, site: str, client_id: str, challenge: str,
               **extra: str) -> requests.Response:
    """GET /oauth2/authorize, followed to the login page it redirects to."""
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": CALLBACK,
              "scope": "openid email profile", "state": "st4te", "code_challenge": challenge,
              "code_challenge_method": "S256", **extra}
    page = session.get(f"{site}/oauth2/authorize", params=params, timeout=10)
    assert page.history and page.history[0].status_code == 302
    return page


def post_form(session: requests.Session, page: requests.Response, **fields: str) -> requests.Response:
    """Post a page's form as a browser does (its hidden fields included), without following the redirect."""
    hidden = {name: html.unescape(value)
              for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)}
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    return session.post(requests.compat.urljoin(page.url, action), allow_redirects=False, timeout=10,
                        data={**hidden, **fields})


def submit(session: requests.Session, page: requests.Response, username: str, password: str) -> requests.Response:
    return post_form(session, page, username=username, password=password)


def code_of(answer: requests.Response) -> str:
    """The authorization code of a redirect to the callback."""
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st4te"]
    return query["code"][0]


def sign_in(site: str, client_id: str, challenge: str, **extra: str) -> str:
    """The authorization code the callback receives after alice signs in."""
    session = requests.Session()
    return code_of(submit(session, login_form(session, site, client_id, challenge, **extra), "alice", PASSWORD))


def exchange(site: str, client_id: str, code: str, verifier: str) -> requests.Response:
    return requests.post(f"{site}/oauth2/token", timeout=10, data={
        "grant_type": "authorization_code", "client_id": client_id, "code": code, "redirect_uri": CALLBACK,
        "code_verifier": verifier})


def test_code_grant_with_pkce(cloudlet: CloudletProcess, pool: str, site: str, web_client: str) -> None:
    discovery = requests.get(f"{cloudlet.endpoint}/{pool}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["authorization_endpoint"] == f"{site}/oauth2/authorize"
    assert discovery["token_endpoint"] == f"{site}/oauth2/token"
    verifier, challenge = pkce()
    code = sign_in(site, web_client, challenge, nonce="n-0S6_WzA2Mj")

    answer = exchange(site, web_client, code, verifier)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["refresh_token"]
    signing_key = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(body["id_token"])
    identity = jwt.decode(body["id_token"], signing_key.key, algorithms=["RS256"], audience=web_client,
                          issuer=discovery["issuer"])
    assert identity["cognito:username"] == "alice" and identity["email"] == "alice@example.com"
    assert identity["token_use"] == "id" and identity["nonce"] == "n-0S6_WzA2Mj"
    access = jwt.decode(body["access_token"], signing_key.key, algorithms=["RS256"], issuer=discovery["issuer"],
                        options={"verify_aud": False})
    assert access["scope"] == "openid email profile" and access["client_id"] == web_client

    info = requests.get(discovery["userinfo_endpoint"], timeout=10,
                        headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.json() == {"sub": identity["sub"], "username": "alice", "email": "alice@example.com",
                           "email_verified": "true"}

    again = exchange(site, web_client, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    refreshed = requests.post(f"{site}/oauth2/token", timeout=10, data={
        "grant_type": "refresh_token", "client_id": web_client, "refresh_token": body["refresh_token"]}).json()
    assert "refresh_token" not in refreshed and refreshed["id_token"] and refreshed["access_token"]
    revoked = requests.post(f"{site}/oauth2/revoke", timeout=10,
                            data={"token": body["refresh_token"], "client_id": web_client})
    assert revoked.status_code == 200
    refused = requests.post(f"{site}/oauth2/token", timeout=10, data={
        "grant_type": "refresh_token", "client_id": web_client, "refresh_token": body["refresh_token"]})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    after = requests.get(discovery["userinfo_endpoint"], timeout=10,
                         headers={"Authorization": f"Bearer {body['access_token']}"})
    assert after.status_code == 401 and after.json()["error"] == "invalid_token"


def test_codes_need_the_right_verifier_and_client(site: str, web_client: str) -> None:
    verifier, challenge = pkce()
    code = sign_in(site, web_client, challenge)
    wrong = exchange(site, web_client, code, pkce()[0])
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The failed attempt consumed the code: the right verifier comes too late.
    late = exchange(site, web_client, code, verifier)
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"

    code = sign_in(site, web_client, challenge)
    missing = requests.post(f"{site}/oauth2/token", timeout=10, data={
        "grant_type": "authorization_code", "client_id": web_client, "code": code, "redirect_uri": CALLBACK})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    unknown = requests.post(f"{site}/oauth2/token", timeout=10, data={
        "grant_type": "authorization_code", "client_id": "nosuchclient", "code": code, "redirect_uri": CALLBACK})
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_client"
    odd = requests.post(f"{site}/oauth2/token", timeout=10, data={"grant_type": "password", "client_id": web_client})
    assert odd.status_code == 400 and odd.json()["error"] == "unsupported_grant_type"


def test_login_page_refusals(site: str, web_client: str) -> None:
    _, challenge = pkce()
    session = requests.Session()
    page = login_form(session, site, web_client, challenge)
    assert page.status_code == 200 and '<label for="password">' in page.text
    wrong = submit(session, page, "alice", "Wr0ng-password!")
    assert wrong.status_code == 200 and "Incorrect username or password." in wrong.text
    forged = session.post(page.url, allow_redirects=False, timeout=10,
                          data={"username": "alice", "password": PASSWORD, "_csrf": "forged"})
    assert forged.status_code == 200 and "expired" in forged.text

    mismatch = session.get(f"{site}/oauth2/authorize", timeout=10, params={
        "response_type": "code", "client_id": web_client, "redirect_uri": "http://localhost:8765/elsewhere"})
    assert mismatch.status_code == 400 and "callback URLs" in mismatch.text
    scope = session.get(f"{site}/oauth2/authorize", allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": web_client, "redirect_uri": CALLBACK, "scope": "phone",
        "state": "s1"})
    query = parse_qs(urlsplit(scope.headers["Location"]).query)
    assert scope.status_code == 302 and query["error"] == ["invalid_scope"] and query["state"] == ["s1"]
    implicit = session.get(f"{site}/oauth2/authorize", allow_redirects=False, timeout=10, params={
        "response_type": "token", "client_id": web_client, "redirect_uri": CALLBACK})
    assert parse_qs(urlsplit(implicit.headers["Location"]).fragment)["error"] == ["unauthorized_client"]

    logout = session.get(f"{site}/logout", allow_redirects=False, timeout=10,
                         params={"client_id": web_client, "logout_uri": "http://localhost:8765/bye"})
    assert logout.status_code == 302 and logout.headers["Location"] == "http://localhost:8765/bye"



def test_pages_by_name(cloudlet: CloudletProcess, web_client: str, unique: str, site: str) -> None:
    """``{prefix}.auth.localhost`` serves the same pages at the root, with every link relative."""
    port = urlsplit(cloudlet.endpoint).port
    session = requests.Session()
    session.headers["Host"] = f"{unique}.auth.localhost:{port}"
    verifier, challenge = pkce()
    page = login_form(session, f"http://127.0.0.1:{port}", web_client, challenge)
    assert urlsplit(page.url).path == "/login" and page.status_code == 200
    assert session.cookies.get("XSRF-TOKEN", path="/")
    code = code_of(submit(session, page, "alice", PASSWORD))
    assert exchange(site, web_client, code, verifier).status_code == 200


def test_new_password_and_totp_on_the_login_page(idp: Any, pool: str, site: str, web_client: str) -> None:
    """A user with a temporary password chooses a new one on the page; once TOTP is on, the page asks for a
    code after the password, lets a wrong one be retried, and signs in with the right one."""
    idp.admin_create_user(UserPoolId=pool, Username="bob", TemporaryPassword="Temp0rary!", MessageAction="SUPPRESS")
    verifier, challenge = pkce()
    session = requests.Session()
    page = submit(session, login_form(session, site, web_client, challenge), "bob", "Temp0rary!")
    assert page.status_code == 200 and "Change password" in page.text
    mismatch = post_form(session, page, new_password="N3w-password!", confirm_password="other")
    assert "do not match" in mismatch.text
    weak = post_form(session, mismatch, new_password="short", confirm_password="short")
    assert "Password did not conform with policy" in weak.text and "Change password" in weak.text
    code = code_of(post_form(session, weak, new_password="N3w-password!", confirm_password="N3w-password!"))
    assert exchange(site, web_client, code, verifier).status_code == 200

    api_client = idp.create_user_pool_client(UserPoolId=pool, ClientName="api",
                                             ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"])["UserPoolClient"]
    idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="OPTIONAL",
                                 SoftwareTokenMfaConfiguration={"Enabled": True})
    access = idp.admin_initiate_auth(UserPoolId=pool, ClientId=api_client["ClientId"],
                                     AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": "bob", "PASSWORD": "N3w-password!"},
                                     )["AuthenticationResult"]["AccessToken"]
    totp, now = pyotp.TOTP(idp.associate_software_token(AccessToken=access)["SecretCode"]), time.time()
    assert idp.verify_software_token(AccessToken=access, UserCode=totp.at(now))["Status"] == "SUCCESS"
    idp.admin_set_user_mfa_preference(UserPoolId=pool, Username="bob",
                                      SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})

    session = requests.Session()
    page = submit(session, login_form(session, site, web_client, challenge), "bob", "N3w-password!")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.text
    wrong = post_form(session, page, code="000000" if totp.at(now + 30) != "000000" else "111111")
    assert "Invalid code received for user" in wrong.text
    code = code_of(post_form(session, wrong, code=totp.at(now + 30)))  # the next step: one code is used once
    tokens = exchange(site, web_client, code, verifier).json()
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["cognito:username"] == "bob"


def test_client_credentials_with_resource_server_scopes(cloudlet: CloudletProcess, idp: Any, pool: str,
                                                        site: str) -> None:
    idp.create_resource_server(UserPoolId=pool, Identifier="orders", Name="Orders API", Scopes=[
        {"ScopeName": "read", "ScopeDescription": "Read orders"},
        {"ScopeName": "write", "ScopeDescription": "Write orders"}])
    client = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="worker", GenerateSecret=True, AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthFlows=["client_credentials"], AllowedOAuthScopes=["orders/read", "orders/write"],
    )["UserPoolClient"]
    basic = (client["ClientId"], client["ClientSecret"])

    answer = requests.post(f"{site}/oauth2/token", auth=basic, timeout=10,
                           data={"grant_type": "client_credentials", "scope": "orders/read"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    jwks = jwt.PyJWKClient(f"{cloudlet.endpoint}/{pool}/.well-known/jwks.json")
    claims = jwt.decode(body["access_token"], jwks.get_signing_key_from_jwt(body["access_token"]).key,
                        algorithms=["RS256"], issuer=f"{cloudlet.endpoint}/{pool}")
    assert claims["scope"] == "orders/read" and claims["token_use"] == "access"
    assert claims["sub"] == client["ClientId"] == claims["client_id"]

    every = requests.post(f"{site}/oauth2/token", auth=basic, timeout=10, data={"grant_type": "client_credentials"})
    assert jwt.decode(every.json()["access_token"], options={"verify_signature": False})["scope"] == \
        "orders/read orders/write"
    posted = requests.post(f"{site}/oauth2/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": basic[0], "client_secret": basic[1]})
    assert posted.status_code == 200
    bad_secret = requests.post(f"{site}/oauth2/token", auth=(basic[0], "nope"), timeout=10,
                               data={"grant_type": "client_credentials"})
    assert bad_secret.status_code == 400 and bad_secret.json()["error"] == "invalid_client"
    other = requests.post(f"{site}/oauth2/token", auth=basic, timeout=10,
                          data={"grant_type": "client_credentials", "scope": "orders/delete"})
    assert other.status_code == 400 and other.json()["error"] == "invalid_scope"
    code = requests.post(f"{site}/oauth2/token", auth=basic, timeout=10,
                         data={"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK})
    assert code.status_code == 400 and code.json()["error"] == "unauthorized_client"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_domain_errors(idp: Any, pool: str, unique: str) -> None:
    assert idp.create_user_pool_domain(UserPoolId=pool, Domain=unique)["ManagedLoginVersion"] == 1
    described = idp.describe_user_pool_domain(Domain=unique)["DomainDescription"]
    assert described["UserPoolId"] == pool and described["Domain"] == unique and described["Status"] == "ACTIVE"
    assert idp.describe_user_pool_domain(Domain=unique + "x")["DomainDescription"] == {}
    assert idp.describe_user_pool(UserPoolId=pool)["UserPool"]["Domain"] == unique
    with pytest.raises(ClientError) as excinfo:
        idp.create_user_pool_domain(UserPoolId=pool, Domain=unique + "x")
    assert error_of(excinfo) == ("InvalidParameterException", "User pool already has a domain configured.")
    other = idp.create_user_pool(PoolName=unique + "-2")["UserPool"]["Id"]
    try:
        with pytest.raises(ClientError) as excinfo:
            idp.create_user_pool_domain(UserPoolId=other, Domain=unique)
        assert error_of(excinfo) == ("InvalidParameterException", "Domain already associated with another user pool.")
        with pytest.raises(ClientError) as excinfo:
            idp.delete_user_pool_domain(UserPoolId=other, Domain=unique)
        assert error_of(excinfo) == ("InvalidParameterException", "No such domain or user pool exists.")
        for bad in ("Upper", "-edge", "my-cognito-app"):
            with pytest.raises(ClientError) as excinfo:
                idp.create_user_pool_domain(UserPoolId=other, Domain=bad)
            assert error_of(excinfo)[0] == "InvalidParameterException"
        with pytest.raises(ClientError) as excinfo:
            idp.create_user_pool_domain(UserPoolId=other, Domain="auth.example.com", CustomDomainConfig={
                "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"})
        assert "certificate" in error_of(excinfo)[1]
        idp.create_user_pool_domain(UserPoolId=other, Domain=unique + "-o")
    finally:
        idp.delete_user_pool(UserPoolId=other)
    assert idp.describe_user_pool_domain(Domain=unique + "-o")["DomainDescription"] == {}  # gone with its pool
    assert idp.update_user_pool_domain(UserPoolId=pool, Domain=unique, ManagedLoginVersion=2)[
        "ManagedLoginVersion"] == 2
    assert idp.describe_user_pool_domain(Domain=unique)["DomainDescription"]["ManagedLoginVersion"] == 2
    idp.delete_user_pool_domain(UserPoolId=pool, Domain=unique)
    assert idp.describe_user_pool_domain(Domain=unique)["DomainDescription"] == {}


def test_resource_server_and_client_settings_errors(idp: Any, pool: str) -> None:
    scopes = [{"ScopeName": "read", "ScopeDescription": "Read"}]
    created = idp.create_resource_server(UserPoolId=pool, Identifier="https://api.example.com", Name="api",
                                         Scopes=scopes)["ResourceServer"]
    assert created == {"UserPoolId": pool, "Identifier": "https://api.example.com", "Name": "api", "Scopes": scopes}
    with pytest.raises(ClientError) as excinfo:
        idp.create_resource_server(UserPoolId=pool, Identifier="https://api.example.com", Name="again")
    assert error_of(excinfo)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as excinfo:
        idp.create_resource_server(UserPoolId=pool, Identifier="bad", Name="bad", Scopes=[
            {"ScopeName": "a/b", "ScopeDescription": "slash"}])
    assert error_of(excinfo)[0] == "InvalidParameterException"
    idp.create_resource_server(UserPoolId=pool, Identifier="billing", Name="billing")
    first = idp.list_resource_servers(UserPoolId=pool, MaxResults=1)
    second = idp.list_resource_servers(UserPoolId=pool, MaxResults=1, NextToken=first["NextToken"])
    assert [s["Identifier"] for s in first["ResourceServers"] + second["ResourceServers"]] == [
        "billing", "https://api.example.com"] and "NextToken" not in second
    updated = idp.update_resource_server(UserPoolId=pool, Identifier="billing", Name="Billing", Scopes=scopes)
    assert idp.describe_resource_server(UserPoolId=pool, Identifier="billing")["ResourceServer"] == \
        updated["ResourceServer"]

    def refused(**settings: Any) -> tuple[str, str]:
        with pytest.raises(ClientError) as excinfo:
            idp.create_user_pool_client(UserPoolId=pool, ClientName="c", **settings)
        return error_of(excinfo)

    machine = {"AllowedOAuthFlowsUserPoolClient": True, "AllowedOAuthScopes": ["billing/read"]}
    assert refused(AllowedOAuthFlows=["client_credentials"], **machine) == (
        "InvalidOAuthFlowException", "client_credentials flow can not be selected if client does not have a client secret.")
    assert refused(AllowedOAuthFlows=["client_credentials", "code"], GenerateSecret=True, CallbackURLs=[CALLBACK],
                   **machine)[0] == "InvalidOAuthFlowException"
    assert refused(AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["code"], CallbackURLs=[CALLBACK],
                   AllowedOAuthScopes=["billing/delete"]) == (
        "ScopeDoesNotExistException", "Invalid scope requested: billing/delete")
    assert refused(AllowedOAuthFlowsUserPoolClient=True, AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid"],
                   CallbackURLs=["http://app.example.com/cb"])[0] == "InvalidParameterException"
    assert refused(AllowedOAuthFlowsUserPoolClient=True)[0] == "InvalidParameterException"

    idp.delete_resource_server(UserPoolId=pool, Identifier="billing")
    with pytest.raises(ClientError) as excinfo:
        idp.describe_resource_server(UserPoolId=pool, Identifier="billing")
    assert error_of(excinfo)[0] == "ResourceNotFoundException"
