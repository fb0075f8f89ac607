"""CORS of HTTP APIs (pure) and the JWT authorizer's pure checks (token source, audience, scopes)."""

from __future__ import annotations

import pytest

from controller.execute_api import cors, jwt_authorizers
from controller.execute_api.request import InvokeRequest, InvokeResponse

CORS = {"AllowOrigins": ["https://app.example.com", "https://*.example.org"], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type", "authorization"], "ExposeHeaders": ["x-total"], "MaxAge": 300,
        "AllowCredentials": True}


def _request(method: str = "GET", **headers: str) -> InvokeRequest:
    return InvokeRequest(api_id="a", method=method, path="/x", query=[("token", "q1")], raw_query="token=q1",
                         headers={k.replace("_", "-"): v for k, v in headers.items()}, body=b"",
                         source_ip="127.0.0.1")


def test_origin_matching() -> None:
    assert cors.origin_allowed(CORS, "https://app.example.com") == "https://app.example.com"
    assert cors.origin_allowed(CORS, "https://API.example.org") == "https://API.example.org"
    assert cors.origin_allowed(CORS, "http://api.example.org") is None
    assert cors.origin_allowed(CORS, "https://evil.com") is None
    assert cors.origin_allowed({"AllowOrigins": ["*"]}, "https://x") == "*"


def test_preflight_allowed_and_refused() -> None:
    asked = _request("OPTIONS", origin="https://app.example.com", access_control_request_method="POST",
                     access_control_request_headers="Content-Type")
    assert cors.is_preflight(asked)
    answer = cors.preflight(CORS, asked)
    headers = dict(answer.headers)
    assert answer.status == 204 and headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-credentials"] == "true" and headers["access-control-max-age"] == "300"
    refused = cors.preflight(CORS, _request("OPTIONS", origin="https://app.example.com",
                                            access_control_request_method="DELETE"))
    assert refused.status == 204 and refused.headers == []
    assert not cors.is_preflight(_request("OPTIONS", origin="https://app.example.com"))


def test_decorate_replaces_integration_cors_headers() -> None:
    response = InvokeResponse(200, [("access-control-allow-origin", "*"), ("x-a", "1")], b"ok")
    decorated = cors.decorate(CORS, _request(origin="https://app.example.com"), response)
    assert ("access-control-allow-origin", "https://app.example.com") in decorated.headers
    assert ("access-control-allow-origin", "*") not in decorated.headers
    assert ("access-control-expose-headers", "x-total") in decorated.headers
    plain = cors.decorate(CORS, _request(origin="https://evil.com"), response)
    assert plain.headers == [("x-a", "1")]


def test_token_sources() -> None:
    assert jwt_authorizers.token_from(_request(authorization="Bearer abc.def.ghi"),
                                      "$request.header.Authorization") == "abc.def.ghi"
    assert jwt_authorizers.token_from(_request(authorization="abc"), "$request.header.Authorization") == "abc"
    assert jwt_authorizers.token_from(_request(), "$request.header.Authorization") is None
    assert jwt_authorizers.token_from(_request(), "$request.querystring.token") == "q1"


def test_audience_and_scopes() -> None:
    jwt_authorizers.check_audience({"aud": "c1"}, ["c1", "c2"])
    jwt_authorizers.check_audience({"aud": ["x", "c2"]}, ["c2"])
    jwt_authorizers.check_audience({"client_id": "c1", "token_use": "access"}, ["c1"])
    with pytest.raises(jwt_authorizers.Denied) as denied:
        jwt_authorizers.check_audience({"aud": "other"}, ["c1"])
    assert denied.value.status == 401
    jwt_authorizers.check_scopes({"scope": "read write"}, ["write"])
    jwt_authorizers.check_scopes({}, [])
    with pytest.raises(jwt_authorizers.Denied) as denied:
        jwt_authorizers.check_scopes({"scope": "read"}, ["admin"])
    assert denied.value.status == 403 and "insufficient_scope" in denied.value.www_authenticate()


def test_claims_are_flattened_to_strings() -> None:
    flat = jwt_authorizers.flat_claims({"sub": "u", "exp": 1700000000, "cognito:groups": ["a", "b"],
                                        "email_verified": True})
    assert flat == {"sub": "u", "exp": "1700000000", "cognito:groups": "[a b]", "email_verified": "true"}
