"""The HTTP API data plane in-process, on a real Cloud: stages, CORS preflight, routing misses, JWT refusals.

Integrations that leave the process (Lambda, HTTP backends) are exercised end to end in
tests/e2e/test_http_api.py.
"""

from __future__ import annotations

import json

import pytest

from controller.apigatewayv2.lambda_payloads import Incoming
from controller.execute_api import http_pipeline
from controller.execute_api.request import InvokeRequest
from tests.unit.harness import ACCOUNT, CloudHarness, Clouds


class V2(CloudHarness):
    service = "apigatewayv2"


@pytest.fixture
def v2(clouds: Clouds) -> V2:
    return V2(clouds.vpc().cloud, ACCOUNT)


def _api(v2: V2) -> str:
    api_id = v2.call("CreateApi", {"Name": "p", "ProtocolType": "HTTP", "CorsConfiguration": {
        "AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET"], "MaxAge": 60}})["ApiId"]
    target = "integrations/" + v2.call("CreateIntegration", {
        "ApiId": api_id, "IntegrationType": "HTTP_PROXY", "IntegrationUri": "http://127.0.0.1:9/{proxy}",
        "IntegrationMethod": "ANY"})["IntegrationId"]
    authorizer = v2.call("CreateAuthorizer", {"ApiId": api_id, "Name": "j", "AuthorizerType": "JWT",
                                              "JwtConfiguration": {"Issuer": "https://issuer.example",
                                                                   "Audience": ["c"]}})
    v2.call("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /secure", "Target": target,
                            "AuthorizationType": "JWT", "AuthorizerId": authorizer["AuthorizerId"]})
    v2.call("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /open/{proxy+}", "Target": target})
    v2.call("CreateStage", {"ApiId": api_id, "StageName": "$default", "AutoDeploy": True})
    return api_id


def _invoke(v2: V2, api_id: str, method: str, path: str, **headers: str) -> tuple[int, dict, bytes]:
    request = InvokeRequest(api_id=api_id, method=method, path=path, query=[], raw_query="",
                            headers={k.replace("_", "-"): v for k, v in headers.items()}, body=b"",
                            source_ip="127.0.0.1", host=f"{api_id}.execute-api.home-1.amazonaws.com")
    response = http_pipeline.handle(v2.cloud, request)
    return response.status, dict(response.headers), response.body


def test_preflight_is_answered_by_the_gateway(v2: V2) -> None:
    api_id = _api(v2)
    status, headers, _ = _invoke(v2, api_id, "OPTIONS", "/open/x", origin="https://app.example.com",
                                 access_control_request_method="GET")
    assert status == 204 and headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["access-control-max-age"] == "60" and headers["apigw-requestid"]


def test_no_route_is_not_found_and_jwt_route_needs_a_token(v2: V2) -> None:
    api_id = _api(v2)
    status, _, body = _invoke(v2, api_id, "GET", "/nowhere")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    status, headers, body = _invoke(v2, api_id, "GET", "/secure", origin="https://app.example.com")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert 'error="invalid_token"' in headers["www-authenticate"]
    assert headers["access-control-allow-origin"] == "https://app.example.com"


def test_named_stage_and_missing_stage(v2: V2) -> None:
    api_id = _api(v2)
    v2.call("DeleteStage", {"ApiId": api_id, "StageName": "$default"})
    assert _invoke(v2, api_id, "GET", "/secure")[0] == 404
    v2.call("CreateStage", {"ApiId": api_id, "StageName": "beta"})
    assert _invoke(v2, api_id, "GET", "/beta/secure")[0] == 404     # no deployment yet
    v2.call("CreateDeployment", {"ApiId": api_id, "StageName": "beta"})
    assert _invoke(v2, api_id, "GET", "/beta/secure")[0] == 401
    v2.call("UpdateApi", {"ApiId": api_id, "DisableExecuteApiEndpoint": True})
    v2.call("CreateDeployment", {"ApiId": api_id, "StageName": "beta"})
    assert _invoke(v2, api_id, "GET", "/beta/secure")[0] == 403


def test_backend_request_fills_variables_and_maps_parameters() -> None:
    incoming = Incoming(method="GET", raw_path="/a/b c", raw_query="q=1", query=[("q", "1")],
                        headers=[("x-user", "alice")], body=b"", source_ip="", user_agent="",
                        route_key="GET /{proxy+}", stage="$default", api_id="a", account_id=ACCOUNT,
                        domain_name="d", request_id="r", time_epoch_ms=0, path_parameters={"proxy": "a/b c"},
                        stage_variables={"host": "h.example:8080"})
    request = InvokeRequest(api_id="a", method="GET", path="/a/b%20c", query=[("q", "1")], raw_query="q=1",
                            headers={"x-user": "alice", "host": "gw"}, body=b"", source_ip="192.0.2.1",
                            host="gw")
    plain = {"IntegrationUri": "http://${stageVariables.host}/base/{proxy}"}
    url, headers = http_pipeline.backend_request(plain, request, incoming)
    assert url == "http://h.example:8080/base/a/b%20c?q=1"
    assert ("x-user", "alice") in headers and all(name != "host" for name, _ in headers)
    mapped = {**plain, "RequestParameters": {"overwrite:path": "/users/$request.header.x-user",
                                             "append:querystring.from": "${stageVariables.host}",
                                             "remove:header.x-user": "", "append:header.x-req": "$context.requestId"}}
    url, headers = http_pipeline.backend_request(mapped, request, incoming)
    assert url == "http://h.example:8080/users/alice?q=1&from=h.example%3A8080"
    assert ("x-req", "r") in headers and all(name != "x-user" for name, _ in headers)


def test_event_headers_gain_forwarding() -> None:
    request = InvokeRequest(api_id="a", method="GET", path="/", query=[], raw_query="",
                            headers={"x-forwarded-for": "10.1.1.1", "accept": "*/*"}, body=b"",
                            source_ip="192.0.2.7")
    headers = dict(http_pipeline.event_headers(request))
    assert headers["x-forwarded-for"] == "10.1.1.1, 192.0.2.7" and headers["x-forwarded-proto"] == "http"
    assert headers["accept"] == "*/*"
