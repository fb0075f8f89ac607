"""API Gateway's rules on resource paths, integrations, authorizers and stages, and what the data plane reads
(snapshot.py) from APIs made through the operations on a real in-process Cloud."""

from __future__ import annotations

from typing import Any

import pytest

from controller.apigateway import snapshot
from controller.apigateway.authorizers import check_authorizer
from controller.apigateway.integrations import check_integration
from controller.apigateway.resources import check_path_part, check_siblings, child_path
from controller.apigateway.stages import check_stage
from controller.errors import ServiceError
from tests.unit.harness import ACCOUNT, CloudHarness, Clouds

LAMBDA_URI = ("arn:aws:apigateway:home-1:lambda:path/2015-03-31/functions/"
              "arn:aws:lambda:home-1:111111111111:function:f/invocations")


def code(call: Any, *args: Any) -> str:
    with pytest.raises(ServiceError) as excinfo:
        call(*args)
    return excinfo.value.code


@pytest.mark.parametrize("part", ["pets", "v1.2", "a-b_c:d", "{id}", "{proxy+}", "{pet.id}"])
def test_accepted_path_parts(part: str) -> None:
    check_path_part(part)


@pytest.mark.parametrize("part", ["", "a b", "a/b", "{id", "id}", "{}", "{a}{b}", "x{id}", "{a+b}", "é"])
def test_refused_path_parts(part: str) -> None:
    assert code(check_path_part, part) == "BadRequestException"


def test_sibling_rules() -> None:
    root = {"id": "r", "path": "/"}
    check_siblings("{id}", [{"id": "a", "pathPart": "pets"}], root)
    assert code(check_siblings, "pets", [{"id": "a", "pathPart": "pets"}], root) == "ConflictException"
    assert code(check_siblings, "{name}", [{"id": "a", "pathPart": "{id}"}], root) == "BadRequestException"
    assert code(check_siblings, "x", [], {"id": "p", "pathPart": "{proxy+}"}) == "BadRequestException"
    assert child_path("/", "pets") == "/pets" and child_path("/pets", "{id}") == "/pets/{id}"


def _integration(**extra: Any) -> dict[str, Any]:
    return {"passthroughBehavior": "WHEN_NO_MATCH", "timeoutInMillis": 29000, **extra}


def test_integration_rules() -> None:
    check_integration(_integration(type="MOCK"))
    check_integration(_integration(type="HTTP_PROXY", httpMethod="ANY", uri="https://example.com/{proxy}"))
    check_integration(_integration(type="AWS_PROXY", httpMethod="POST", uri=LAMBDA_URI))
    check_integration(_integration(type="AWS", httpMethod="POST",
                                   uri="arn:aws:apigateway:home-1:sqs:path/111111111111/q"))
    for bad in (_integration(type="HTTP", uri="https://x"), _integration(type="HTTP", httpMethod="GET", uri="ftp://x"),
                _integration(type="AWS_PROXY", httpMethod="POST",
                             uri="arn:aws:apigateway:home-1:sqs:path/111111111111/q"),
                _integration(type="AWS", httpMethod="POST", uri="arn:aws:lambda:home-1:1:function:f"),
                _integration(type="MOCK", timeoutInMillis=49), _integration(type="MOCK", passthroughBehavior="X"),
                _integration(type="SOAP")):
        assert code(check_integration, bad) == "BadRequestException", bad


def test_authorizer_rules() -> None:
    token = {"name": "t", "type": "TOKEN", "authorizerUri": LAMBDA_URI,
             "identitySource": "method.request.header.Authorization"}
    check_authorizer(token)
    check_authorizer({"name": "r", "type": "REQUEST", "authorizerUri": LAMBDA_URI, "authorizerResultTtlInSeconds": 0})
    check_authorizer({"name": "c", "type": "COGNITO_USER_POOLS",
                      "providerARNs": ["arn:aws:cognito-idp:home-1:111111111111:userpool/home-1_x"]})
    for bad in ({**token, "identitySource": "method.request.querystring.t"}, {**token, "authorizerUri": "f"},
                {**token, "authorizerResultTtlInSeconds": 3601},
                {"name": "r", "type": "REQUEST", "authorizerUri": LAMBDA_URI},
                {"name": "c", "type": "COGNITO_USER_POOLS", "providerARNs": []}):
        assert code(check_authorizer, bad) == "BadRequestException", bad


def test_stage_rules() -> None:
    check_stage({"stageName": "prod", "variables": {"url": "example.com/a?b=c"}})
    for bad in ({"stageName": "pr od"}, {"stageName": "p", "variables": {"bad-name": "x"}},
                {"stageName": "p", "variables": {"x": "has space"}},
                {"stageName": "p", "canarySettings": {"percentTraffic": 101.0}},
                {"stageName": "p", "methodSettings": {"*/*": {"loggingLevel": "LOUD"}}}):
        assert code(check_stage, bad) == "BadRequestException", bad


class Gateway(CloudHarness):
    service = "apigateway"


@pytest.fixture
def gw(clouds: Clouds) -> Gateway:
    return Gateway(clouds.vpc().cloud, ACCOUNT)


def test_stage_view_serves_the_frozen_deployment_and_the_live_stage(gw: Gateway) -> None:
    api = gw.call("CreateRestApi", {"name": "a"})
    api_id, root = api["id"], api["rootResourceId"]
    item = gw.call("CreateResource", {"restApiId": api_id, "parentId": root, "pathPart": "{proxy+}"})
    gw.call("PutMethod", {"restApiId": api_id, "resourceId": item["id"], "httpMethod": "ANY",
                          "authorizationType": "NONE"})
    gw.call("PutIntegration", {"restApiId": api_id, "resourceId": item["id"], "httpMethod": "ANY",
                               "type": "AWS_PROXY", "integrationHttpMethod": "POST", "uri": LAMBDA_URI})
    assert snapshot.stage_view(gw.cloud, api_id, "prod") is None
    first = gw.call("CreateDeployment", {"restApiId": api_id, "stageName": "prod", "variables": {"v": "1"}})
    gw.call("UpdateIntegration", {"restApiId": api_id, "resourceId": item["id"], "httpMethod": "ANY",
                                  "patchOperations": [{"op": "replace", "path": "/timeoutInMillis", "value": "900"}]})
    second = gw.call("CreateDeployment", {"restApiId": api_id, "stageName": "prod",
                                          "canarySettings": {"percentTraffic": 10.0}})
    gw.call("PutGatewayResponse", {"restApiId": api_id, "responseType": "THROTTLED", "statusCode": "429"})

    view = snapshot.stage_view(gw.cloud, api_id, "prod")
    assert view is not None and view.account_id == ACCOUNT and view.region == "home-1"
    assert view.api["id"] == api_id and view.stage["variables"] == {"v": "1"}
    assert view.stage["deploymentId"] == first["id"] and view.stage["canarySettings"]["deploymentId"] == second["id"]
    proxy = next(r for r in view.deployment["resources"] if r["path"] == "/{proxy+}")
    assert proxy["resourceMethods"]["ANY"]["methodIntegration"]["timeoutInMillis"] == 29000
    assert view.canary_deployment is not None
    canary_proxy = next(r for r in view.canary_deployment["resources"] if r["path"] == "/{proxy+}")
    assert canary_proxy["resourceMethods"]["ANY"]["methodIntegration"]["timeoutInMillis"] == 900
    assert set(view.gateway_responses) == {"THROTTLED"}
    assert {model["name"] for model in view.deployment["models"]} == {"Empty", "Error"}
    assert view.deployment["requestValidators"] == [] and view.deployment["authorizers"] == []
    assert snapshot.rest_api_exists(gw.cloud, api_id) and not snapshot.rest_api_exists(gw.cloud, "nope")

    key = gw.call("CreateApiKey", {"name": "k", "enabled": True})
    plan = gw.call("CreateUsagePlan", {"name": "p", "apiStages": [{"apiId": api_id, "stage": "prod"}]})
    gw.call("CreateUsagePlanKey", {"usagePlanId": plan["id"], "keyId": key["id"], "keyType": "API_KEY"})
    assert [p["id"] for p in snapshot.usage_plans_for(gw.cloud, api_id, "prod")] == [plan["id"]]
    assert snapshot.usage_plans_for(gw.cloud, api_id, "dev") == []
    assert snapshot.api_key_by_value(gw.cloud, key["value"])["id"] == key["id"]
    assert snapshot.api_key_by_value(gw.cloud, "x" * 40) is None
    assert snapshot.plan_key_ids(gw.cloud, plan["id"]) == {key["id"]}

    gw.call("DeleteRestApi", {"restApiId": api_id})
    assert snapshot.stage_view(gw.cloud, api_id, "prod") is None
    assert gw.call("GetUsagePlan", {"usagePlanId": plan["id"]})["apiStages"] == []


def test_a_deployment_needs_methods_with_integrations(gw: Gateway) -> None:
    api = gw.call("CreateRestApi", {"name": "a"})
    gw.refused("CreateDeployment", {"restApiId": api["id"]}, "BadRequestException")
    gw.call("PutMethod", {"restApiId": api["id"], "resourceId": api["rootResourceId"], "httpMethod": "GET",
                          "authorizationType": "NONE"})
    error = gw.refused("CreateDeployment", {"restApiId": api["id"], "stageName": "s"}, "BadRequestException")
    assert error.message == "No integration defined for method"
    gw.refused("GetStage", {"restApiId": api["id"], "stageName": "s"}, "NotFoundException")


def test_account_settings(gw: Gateway) -> None:
    assert gw.call("GetAccount")["throttleSettings"] == {"burstLimit": 5000, "rateLimit": 10000.0}
    role = "arn:aws:iam::111111111111:role/apigw-logs"
    updated = gw.call("UpdateAccount", {"patchOperations": [
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": role}]})
    assert updated["cloudwatchRoleArn"] == role and gw.call("GetAccount")["cloudwatchRoleArn"] == role
    gw.refused("UpdateAccount", {"patchOperations": [
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": "role"}]}, "BadRequestException")
    assert gw.call("GetAccount")["cloudwatchRoleArn"] == role


def test_renaming_or_moving_a_resource_repaths_its_subtree(gw: Gateway) -> None:
    api = gw.call("CreateRestApi", {"name": "a"})
    api_id, root = api["id"], api["rootResourceId"]

    def make(parent: str, part: str) -> str:
        return gw.call("CreateResource", {"restApiId": api_id, "parentId": parent, "pathPart": part})["id"]

    pets = make(root, "pets")
    pet = make(pets, "{id}")
    toys = make(pet, "toys")
    shop = make(root, "shop")
    gw.call("UpdateResource", {"restApiId": api_id, "resourceId": pets, "patchOperations": [
        {"op": "replace", "path": "/pathPart", "value": "animals"}]})
    assert gw.call("GetResource", {"restApiId": api_id, "resourceId": toys})["path"] == "/animals/{id}/toys"
    gw.call("UpdateResource", {"restApiId": api_id, "resourceId": pets, "patchOperations": [
        {"op": "replace", "path": "/parentId", "value": shop}]})
    assert gw.call("GetResource", {"restApiId": api_id, "resourceId": toys})["path"] == "/shop/animals/{id}/toys"
    gw.refused("UpdateResource", {"restApiId": api_id, "resourceId": pets, "patchOperations": [
        {"op": "replace", "path": "/parentId", "value": toys}]}, "BadRequestException")
    gw.refused("UpdateResource", {"restApiId": api_id, "resourceId": root, "patchOperations": [
        {"op": "replace", "path": "/pathPart", "value": "x"}]}, "BadRequestException")
    gw.call("DeleteResource", {"restApiId": api_id, "resourceId": pets})
    paths = {item["path"] for item in gw.call("GetResources", {"restApiId": api_id})["items"]}
    assert paths == {"/", "/shop"}
