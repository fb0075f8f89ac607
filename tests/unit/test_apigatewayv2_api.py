"""HTTP APIs' control plane in-process: quick create, routes, integrations, authorizers, stages, auto-deploy."""

from __future__ import annotations

from typing import Any

import pytest

from controller.apigatewayv2 import lookup
from tests.unit.harness import ACCOUNT, CloudHarness, Clouds

LAMBDA = "arn:aws:lambda:home-1:111111111111:function:hello"


class V2(CloudHarness):
    service = "apigatewayv2"


@pytest.fixture
def v2(clouds: Clouds) -> V2:
    cloud = clouds.vpc()
    return V2(cloud.cloud, ACCOUNT)


def _api(v2: V2, **extra: Any) -> str:
    return v2.call("CreateApi", {"Name": "a", "ProtocolType": "HTTP", **extra})["ApiId"]


def test_quick_create_makes_route_integration_and_auto_deployed_default_stage(v2: V2) -> None:
    created = v2.call("CreateApi", {"Name": "q", "ProtocolType": "HTTP", "Target": LAMBDA})
    api_id = created["ApiId"]
    assert len(api_id) == 10 and created["ApiEndpoint"].startswith(f"https://{api_id}.execute-api.home-1.")
    [route] = v2.call("GetRoutes", {"ApiId": api_id})["Items"]
    [integration] = v2.call("GetIntegrations", {"ApiId": api_id})["Items"]
    assert route["RouteKey"] == "$default" and route["Target"] == f"integrations/{integration['IntegrationId']}"
    assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
    stage = v2.call("GetStage", {"ApiId": api_id, "StageName": "$default"})
    assert stage["AutoDeploy"] and stage["DeploymentId"]
    view = lookup.stage_view(v2.cloud, api_id, "$default")
    assert view is not None and [r["RouteKey"] for r in view.routes] == ["$default"]
    assert lookup.http_api_exists(v2.cloud, api_id) and not lookup.http_api_exists(v2.cloud, "nope")


def test_auto_deploy_follows_changes_and_manual_stage_keeps_its_deployment(v2: V2) -> None:
    api_id = _api(v2)
    integration = v2.call("CreateIntegration", {"ApiId": api_id, "IntegrationType": "HTTP_PROXY",
                                                "IntegrationUri": "http://127.0.0.1:1/x",
                                                "IntegrationMethod": "GET"})
    target = f"integrations/{integration['IntegrationId']}"
    v2.call("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /a", "Target": target})
    v2.call("CreateStage", {"ApiId": api_id, "StageName": "$default", "AutoDeploy": True})
    v2.call("CreateStage", {"ApiId": api_id, "StageName": "prod"})
    deployment = v2.call("CreateDeployment", {"ApiId": api_id, "StageName": "prod"})
    assert v2.call("GetStage", {"ApiId": api_id, "StageName": "prod"})["DeploymentId"] == \
        deployment["DeploymentId"]
    v2.call("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /b", "Target": target})
    auto = lookup.stage_view(v2.cloud, api_id, "$default")
    manual = lookup.stage_view(v2.cloud, api_id, "prod")
    assert auto and sorted(r["RouteKey"] for r in auto.routes) == ["GET /a", "GET /b"]
    assert manual and [r["RouteKey"] for r in manual.routes] == ["GET /a"]
    v2.refused("CreateDeployment", {"ApiId": api_id, "StageName": "$default"}, "BadRequestException")
    v2.refused("DeleteDeployment", {"ApiId": api_id, "DeploymentId": deployment["DeploymentId"]},
               "BadRequestException")


def test_route_key_checks_and_conflicts(v2: V2) -> None:
    api_id = _api(v2)
    for bad in ("GET items", "FETCH /x", "GET /{proxy+}/more", "GET"):
        v2.refused("CreateRoute", {"ApiId": api_id, "RouteKey": bad}, "BadRequestException")
    v2.call("CreateRoute", {"ApiId": api_id, "RouteKey": "ANY /{proxy+}"})
    v2.refused("CreateRoute", {"ApiId": api_id, "RouteKey": "ANY /{proxy+}"}, "ConflictException")
    v2.refused("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /x", "Target": "integrations/abcdefg"},
               "NotFoundException")
    v2.refused("GetRoute", {"ApiId": api_id, "RouteId": "zzzzzzz"}, "NotFoundException")
    v2.refused("GetApi", {"ApiId": "zzzzzzzzzz"}, "NotFoundException")


def test_jwt_authorizer_and_route_authorization(v2: V2) -> None:
    api_id = _api(v2)
    v2.refused("CreateAuthorizer", {"ApiId": api_id, "Name": "j", "AuthorizerType": "JWT",
                                    "JwtConfiguration": {"Audience": ["c"]}}, "BadRequestException")
    authorizer = v2.call("CreateAuthorizer", {
        "ApiId": api_id, "Name": "j", "AuthorizerType": "JWT",
        "JwtConfiguration": {"Issuer": "https://issuer.example", "Audience": ["client"]}})
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    v2.refused("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /s", "AuthorizationType": "JWT"},
               "BadRequestException")
    route = v2.call("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /s", "AuthorizationType": "JWT",
                                    "AuthorizerId": authorizer["AuthorizerId"],
                                    "AuthorizationScopes": ["read"]})
    v2.refused("DeleteAuthorizer", {"ApiId": api_id, "AuthorizerId": authorizer["AuthorizerId"]},
               "ConflictException")
    v2.call("UpdateRoute", {"ApiId": api_id, "RouteId": route["RouteId"], "AuthorizationType": "NONE",
                            "AuthorizationScopes": []})
    v2.call("DeleteAuthorizer", {"ApiId": api_id, "AuthorizerId": authorizer["AuthorizerId"]})


def test_cors_tags_paging_and_delete(v2: V2) -> None:
    v2.refused("CreateApi", {"Name": "c", "ProtocolType": "HTTP", "CorsConfiguration": {
        "AllowOrigins": ["*"], "AllowCredentials": True}}, "BadRequestException")
    ids = [_api(v2, Tags={"n": str(i)}) for i in range(3)]
    first = v2.call("GetApis", {"MaxResults": 2})
    second = v2.call("GetApis", {"MaxResults": 2, "NextToken": first["NextToken"]})
    assert sorted(a["ApiId"] for a in first["Items"] + second["Items"]) == sorted(ids)
    arn = f"arn:aws:apigateway:home-1::/apis/{ids[0]}"
    v2.call("TagResource", {"ResourceArn": arn, "Tags": {"team": "x"}})
    v2.call("UntagResource", {"ResourceArn": arn, "TagKeys": ["n"]})
    assert v2.call("GetTags", {"ResourceArn": arn})["Tags"] == {"team": "x"}
    updated = v2.call("UpdateApi", {"ApiId": ids[0], "CorsConfiguration": {"AllowOrigins": ["https://a"]}})
    assert updated["CorsConfiguration"] == {"AllowOrigins": ["https://a"]}
    v2.call("DeleteCorsConfiguration", {"ApiId": ids[0]})
    assert "CorsConfiguration" not in v2.call("GetApi", {"ApiId": ids[0]})
    v2.call("DeleteApi", {"ApiId": ids[0]})
    v2.refused("GetApi", {"ApiId": ids[0]}, "NotFoundException")
    assert not lookup.http_api_exists(v2.cloud, ids[0])


def test_request_authorizer_checks_and_custom_routes(v2: V2) -> None:
    api_id = _api(v2)
    uri = f"arn:aws:apigateway:home-1:lambda:path/2015-03-31/functions/{LAMBDA}/invocations"
    v2.refused("CreateAuthorizer", {"ApiId": api_id, "Name": "r", "AuthorizerType": "REQUEST",
                                    "AuthorizerUri": uri}, "BadRequestException")          # no payload version
    v2.refused("CreateAuthorizer", {"ApiId": api_id, "Name": "r", "AuthorizerType": "REQUEST",
                                    "AuthorizerUri": uri, "AuthorizerPayloadFormatVersion": "1.0",
                                    "EnableSimpleResponses": True}, "BadRequestException")
    v2.refused("CreateAuthorizer", {"ApiId": api_id, "Name": "r", "AuthorizerType": "REQUEST",
                                    "AuthorizerUri": uri, "AuthorizerPayloadFormatVersion": "2.0",
                                    "AuthorizerResultTtlInSeconds": 300}, "BadRequestException")   # no source
    authorizer = v2.call("CreateAuthorizer", {
        "ApiId": api_id, "Name": "r", "AuthorizerType": "REQUEST", "AuthorizerUri": uri,
        "AuthorizerPayloadFormatVersion": "2.0", "EnableSimpleResponses": True,
        "IdentitySource": ["$request.header.Authorization"]})
    v2.refused("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /j", "AuthorizationType": "JWT",
                               "AuthorizerId": authorizer["AuthorizerId"]}, "BadRequestException")
    v2.refused("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /i", "AuthorizationType": "AWS_IAM"},
               "BadRequestException")
    route = v2.call("CreateRoute", {"ApiId": api_id, "RouteKey": "GET /c", "AuthorizationType": "CUSTOM",
                                    "AuthorizerId": authorizer["AuthorizerId"]})
    assert route["AuthorizationType"] == "CUSTOM"


def test_parameter_mapping_only_on_http_proxy_and_checked(v2: V2) -> None:
    api_id = _api(v2)
    base = {"ApiId": api_id, "IntegrationType": "HTTP_PROXY", "IntegrationUri": "http://127.0.0.1:9/",
            "IntegrationMethod": "GET"}
    v2.refused("CreateIntegration", {**base, "RequestParameters": {"overwrite:body": "x"}}, "BadRequestException")
    v2.refused("CreateIntegration", {"ApiId": api_id, "IntegrationType": "AWS_PROXY", "IntegrationUri": LAMBDA,
                                     "PayloadFormatVersion": "2.0",
                                     "RequestParameters": {"append:header.x": "1"}}, "BadRequestException")
    made = v2.call("CreateIntegration", {**base, "RequestParameters": {"append:header.x-a": "$context.stage"}})
    assert v2.call("GetIntegration", {"ApiId": api_id, "IntegrationId": made["IntegrationId"]})[
        "RequestParameters"] == {"append:header.x-a": "$context.stage"}
