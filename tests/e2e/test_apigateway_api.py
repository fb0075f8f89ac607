"""API Gateway's REST control plane against a real ``cloudlet up``, with boto3 and the stock AWS CLI:
a whole API's life (resources with ``{id}`` and ``{proxy+}``, methods, integrations, a deployment, two
stages with their variables, a canary set and promoted by UpdateStage patch operations, authorizers, API
keys and usage plans), the read-back of everything written, AWS's errors and paging."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e

LAMBDA_URI = ("arn:aws:apigateway:home-1:lambda:path/2015-03-31/functions/"
              "arn:aws:lambda:home-1:000000000000:function:hello/invocations")


@pytest.fixture
def apigw(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("apigateway")


def code_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    error = excinfo.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def aws_json(cloudlet: CloudletProcess, *args: str) -> Any:
    out = cloudlet.aws(*args, "--output", "json").stdout
    return json.loads(out) if out.strip() else None


def test_rest_api_lifecycle(apigw: Any, unique: str) -> None:
    created = apigw.create_rest_api(name=unique, description="pets", binaryMediaTypes=["image/png"],
                                    endpointConfiguration={"types": ["REGIONAL"]}, tags={"team": "web"})
    api_id, root = created["id"], created["rootResourceId"]
    assert created["apiKeySource"] == "HEADER" and created["endpointConfiguration"]["types"] == ["REGIONAL"]
    got = apigw.get_rest_api(restApiId=api_id)
    assert got["name"] == unique and got["binaryMediaTypes"] == ["image/png"] and got["tags"] == {"team": "web"}

    pets = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")
    pet = apigw.create_resource(restApiId=api_id, parentId=pets["id"], pathPart="{id}")
    proxy = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")
    assert pet["path"] == "/pets/{id}" and proxy["path"] == "/{proxy+}"

    method = apigw.put_method(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", authorizationType="NONE",
                              requestParameters={"method.request.path.id": True})
    assert method["httpMethod"] == "GET" and method["requestParameters"] == {"method.request.path.id": True}
    apigw.put_method_response(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", statusCode="200",
                              responseModels={"application/json": "Empty"})
    integration = apigw.put_integration(
        restApiId=api_id, resourceId=pet["id"], httpMethod="GET", type="HTTP",
        integrationHttpMethod="GET", uri="http://127.0.0.1:9/pets/{id}",
        requestParameters={"integration.request.path.id": "method.request.path.id"},
        requestTemplates={"application/json": '{"id": "$input.params(\'id\')"}'},
        passthroughBehavior="WHEN_NO_TEMPLATES", timeoutInMillis=5000, cacheKeyParameters=["method.request.path.id"])
    assert integration["timeoutInMillis"] == 5000 and integration["passthroughBehavior"] == "WHEN_NO_TEMPLATES"
    apigw.put_integration_response(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", statusCode="200",
                                   selectionPattern="", responseTemplates={"application/json": "$input.body"})
    apigw.put_method(restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=proxy["id"], httpMethod="ANY", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=LAMBDA_URI)

    read = apigw.get_method(restApiId=api_id, resourceId=pet["id"], httpMethod="GET")
    assert read["methodIntegration"]["uri"] == "http://127.0.0.1:9/pets/{id}"
    assert read["methodIntegration"]["integrationResponses"]["200"]["responseTemplates"] == {
        "application/json": "$input.body"}
    assert read["methodResponses"]["200"]["responseModels"] == {"application/json": "Empty"}
    embedded = apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]
    by_path = {item["path"]: item for item in embedded}
    assert set(by_path) == {"/", "/pets", "/pets/{id}", "/{proxy+}"}
    assert by_path["/{proxy+}"]["resourceMethods"]["ANY"]["methodIntegration"]["type"] == "AWS_PROXY"

    updated = apigw.update_integration(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", patchOperations=[
        {"op": "replace", "path": "/timeoutInMillis", "value": "10000"},
        {"op": "add", "path": "/requestTemplates/text~1plain", "value": "hi"}])
    assert updated["timeoutInMillis"] == 10000 and updated["requestTemplates"]["text/plain"] == "hi"

    first = apigw.create_deployment(restApiId=api_id, stageName="dev", description="v1",
                                    variables={"backend": "dev.internal"})
    dev = apigw.get_stage(restApiId=api_id, stageName="dev")
    assert dev["deploymentId"] == first["id"] and dev["variables"] == {"backend": "dev.internal"}
    apigw.create_stage(restApiId=api_id, stageName="prod", deploymentId=first["id"],
                       variables={"backend": "prod.internal", "mode": "live"}, tags={"env": "prod"})
    assert {s["stageName"] for s in apigw.get_stages(restApiId=api_id)["item"]} == {"dev", "prod"}
    assert apigw.get_stage(restApiId=api_id, stageName="prod")["variables"]["mode"] == "live"

    # an edit after the deployment is not served until a new one; a canary takes 10% of prod
    apigw.update_method(restApiId=api_id, resourceId=pet["id"], httpMethod="GET", patchOperations=[
        {"op": "replace", "path": "/apiKeyRequired", "value": "true"}])
    canary = apigw.create_deployment(restApiId=api_id, stageName="prod", description="v2",
                                     canarySettings={"percentTraffic": 10.0,
                                                     "stageVariableOverrides": {"backend": "canary.internal"}})
    prod = apigw.get_stage(restApiId=api_id, stageName="prod")
    assert prod["deploymentId"] == first["id"]
    assert prod["canarySettings"] == {"deploymentId": canary["id"], "percentTraffic": 10.0,
                                      "stageVariableOverrides": {"backend": "canary.internal"},
                                      "useStageCache": False}
    summary = apigw.get_deployment(restApiId=api_id, deploymentId=canary["id"], embed=["apisummary"])
    assert summary["apiSummary"]["/pets/{id}"]["GET"]["apiKeyRequired"] is True

    tuned = apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "25"},
        {"op": "replace", "path": "/~1pets~1{id}/GET/throttling/rateLimit", "value": "50"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "20"},
        {"op": "replace", "path": "/variables/mode", "value": "busy"}])
    assert tuned["canarySettings"]["percentTraffic"] == 25.0
    assert tuned["methodSettings"]["pets/{id}/GET"]["throttlingRateLimit"] == 50.0
    assert tuned["methodSettings"]["*/*"]["throttlingBurstLimit"] == 20
    promoted = apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "copy", "from": "/canarySettings/deploymentId", "path": "/deploymentId"},
        {"op": "copy", "from": "/canarySettings/stageVariableOverrides", "path": "/variables"},
        {"op": "remove", "path": "/canarySettings"}])
    assert promoted["deploymentId"] == canary["id"] and "canarySettings" not in promoted
    assert promoted["variables"] == {"backend": "canary.internal", "mode": "busy"}
    promoted.pop("ResponseMetadata")
    read_back = apigw.get_stage(restApiId=api_id, stageName="prod")
    read_back.pop("ResponseMetadata")
    assert read_back == promoted

    with pytest.raises(ClientError) as excinfo:
        apigw.delete_deployment(restApiId=api_id, deploymentId=canary["id"])
    assert code_of(excinfo)[:2] == ("BadRequestException", 400)

    apigw.delete_rest_api(restApiId=api_id)
    with pytest.raises(ClientError) as excinfo:
        apigw.get_rest_api(restApiId=api_id)
    assert code_of(excinfo)[:2] == ("NotFoundException", 404)
