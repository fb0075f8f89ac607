"""OIDC JWT verification against a remote issuer (a JWKS served on 127.0.0.1), and the web identity trust rules."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from controller.auth import oidc
from controller.iam.oidc_providers import provider_url_key
from controller.sts.web_identity import claim_keys, trust_allows


class Issuer:
    """A local OIDC issuer: discovery + JWKS over HTTP, and tokens signed with its key; counts fetches."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                issuer.fetches += 1
                if self.path.endswith("/.well-known/openid-configuration"):
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/keys"}
                elif self.path.endswith("/keys"):
                    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key()))
                    body = {"keys": [{**jwk, "kid": issuer.kid, "alg": "RS256", "use": "sig"}]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/tenant"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": "user-1", "aud": "app", "iat": now, "exp": now + 300, **claims}
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    served = Issuer()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture
def cloud() -> SimpleNamespace:
    """What verify_jwt reads of a Cloud: its endpoint (for its own pools) and the key cache slot."""
    return SimpleNamespace(config=SimpleNamespace(endpoint_url="http://127.0.0.1:1/"), oidc_keys=None)


def test_remote_token_verifies_and_keys_are_cached(issuer: Issuer, cloud: SimpleNamespace) -> None:
    claims = oidc.verify_jwt(cloud, issuer.token(), issuer=issuer.url, audiences=["app"])
    assert claims["sub"] == "user-1"
    fetched = issuer.fetches
    oidc.verify_jwt(cloud, issuer.token(sub="user-2"), audiences=["app"])
    assert issuer.fetches == fetched == 2  # discovery + JWKS once


def test_wrong_audience_issuer_and_signature_are_refused(issuer: Issuer, cloud: SimpleNamespace) -> None:
    with pytest.raises(oidc.InvalidIdentityToken, match="audience"):
        oidc.verify_jwt(cloud, issuer.token(aud="other"), audiences=["app"])
    with pytest.raises(oidc.InvalidIdentityToken, match="issuer"):
        oidc.verify_jwt(cloud, issuer.token(), issuer="https://elsewhere.example")
    forged = jwt.encode({"iss": issuer.url, "aud": "app", "exp": int(time.time()) + 60},
                        rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
                        headers={"kid": issuer.kid})
    with pytest.raises(oidc.InvalidIdentityToken, match="signature"):
        oidc.verify_jwt(cloud, forged)
    with pytest.raises(oidc.InvalidIdentityToken, match="not a valid JWT"):
        oidc.verify_jwt(cloud, "not.a.jwt")


def test_expired_token_is_its_own_error(issuer: Issuer, cloud: SimpleNamespace) -> None:
    with pytest.raises(oidc.ExpiredIdentityToken, match="Token expired"):
        oidc.verify_jwt(cloud, issuer.token(exp=int(time.time()) - 60))


def test_unknown_kid_refetches_after_rotation(issuer: Issuer, cloud: SimpleNamespace) -> None:
    oidc.verify_jwt(cloud, issuer.token())
    issuer.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuer.kid = "k2"
    entry = cloud.oidc_keys.entries[issuer.url]
    entry.fetched_at -= oidc.REFETCH_SECONDS  # past the refetch guard, well within the cache's life
    assert oidc.verify_jwt(cloud, issuer.token())["iss"] == issuer.url


def test_unreachable_issuer(cloud: SimpleNamespace) -> None:
    token = jwt.encode({"iss": "http://127.0.0.1:9/none", "exp": int(time.time()) + 60},
                       rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
    with pytest.raises(oidc.IssuerUnreachable):
        oidc.verify_jwt(cloud, token)


def test_check_signed_at_a_given_time(issuer: Issuer) -> None:
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key())), "kid": "k1"}
    token = issuer.token(nbf=int(time.time()) + 100)
    header = jwt.get_unverified_header(token)
    with pytest.raises(oidc.InvalidIdentityToken, match="not yet valid"):
        oidc.check_signed(token, [jwk], header, issuer.url)
    assert oidc.check_signed(token, [jwk], header, issuer.url, now=time.time() + 200)["sub"] == "user-1"
    with pytest.raises(oidc.ExpiredIdentityToken):
        oidc.check_signed(token, [jwk], header, issuer.url, now=time.time() + 1000)


def test_audiences_of() -> None:
    assert oidc.audiences_of({"aud": ["a", "b"]}) == ["a", "b"]
    assert oidc.audiences_of({"client_id": "c"}) == ["c"]
    assert oidc.audiences_of({}) == []


def test_provider_url_key() -> None:
    assert provider_url_key("https://Issuer.example.com/path/") == "issuer.example.com/path"
    assert provider_url_key("http://127.0.0.1:8080/us-east-1_x") == "127.0.0.1:8080/us-east-1_x"
    for bad in ("ftp://x", "issuer.example.com", "https://u@x", "https://x/?q=1"):
        with pytest.raises(Exception, match="Invalid Open ID Connect Provider URL"):
            provider_url_key(bad)


PROVIDER = "arn:aws:iam::111111111111:oidc-provider/issuer.example/tenant"
ROLE = "arn:aws:iam::111111111111:role/web"


def _trust(condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Federated": PROVIDER},
                                 "Action": "sts:AssumeRoleWithWebIdentity"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _allows(trust: str, provider: str = PROVIDER, **claims: Any) -> bool:
    keys = claim_keys("issuer.example/tenant", {"aud": "app", "sub": "user-1", **claims})
    return trust_allows(trust, provider=provider, role_arn=ROLE, role_account="111111111111", keys=keys,
                        now=dt.datetime.now(dt.UTC))


def test_trust_policy_names_the_provider_and_its_claims() -> None:
    condition = {"StringEquals": {"issuer.example/tenant:aud": "app"},
                 "StringLike": {"issuer.example/tenant:sub": "user-*"}}
    assert _allows(_trust(condition))
    assert not _allows(_trust(condition), aud="other")
    assert not _allows(_trust(condition), sub="admin")
    assert not _allows(_trust(), provider="arn:aws:iam::111111111111:oidc-provider/other.example")
    assert not _allows(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}]}))


def test_claim_keys_keep_strings_and_string_lists() -> None:
    assert claim_keys("p", {"aud": "a", "amr": ["authenticated", "x"], "sub": 5, "email": "e"}) == {
        "p:aud": "a", "p:amr": ["authenticated", "x"]}
