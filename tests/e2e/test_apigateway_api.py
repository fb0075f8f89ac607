"""API Gateway's REST control plane against a real ``cloudlet up``, with boto3 and the stock AWS CLI:
a whole API's life (resources with ``{id}`` and ``{proxy+}``, methods, integrations, a deployment, two
stages with their variables, a canary set and promoted by UpdateStage patch operations, authorizers, API
keys and usage plans), the read-back of everything written, AWS's errors and paging."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import allow, document, new_user
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

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201           # the statuses the model gives
    assert apigw.delete_rest_api(restApiId=api_id)["ResponseMetadata"]["HTTPStatusCode"] == 202
    with pytest.raises(ClientError) as excinfo:
        apigw.get_rest_api(restApiId=api_id)
    assert code_of(excinfo)[:2] == ("NotFoundException", 404)


def _api_with_method(apigw: Any, name: str) -> tuple[str, str]:
    created = apigw.create_rest_api(name=name)
    api_id, root = created["id"], created["rootResourceId"]
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    return api_id, root


def test_authorizers_keys_and_usage_plans(apigw: Any, unique: str) -> None:
    api_id, root = _api_with_method(apigw, unique)
    token = apigw.create_authorizer(restApiId=api_id, name="token", type="TOKEN", authorizerUri=LAMBDA_URI,
                                    identitySource="method.request.header.Authorization",
                                    identityValidationExpression="^Bearer .+$", authorizerResultTtlInSeconds=60)
    pool_arn = "arn:aws:cognito-idp:home-1:000000000000:userpool/home-1_abc"
    cognito = apigw.create_authorizer(restApiId=api_id, name="users", type="COGNITO_USER_POOLS",
                                      providerARNs=[pool_arn])
    assert cognito["identitySource"] == "method.request.header.Authorization"
    assert apigw.get_authorizer(restApiId=api_id, authorizerId=token["id"])["authorizerResultTtlInSeconds"] == 60
    changed = apigw.update_authorizer(restApiId=api_id, authorizerId=token["id"], patchOperations=[
        {"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "0"}])
    assert changed["authorizerResultTtlInSeconds"] == 0
    assert {a["name"] for a in apigw.get_authorizers(restApiId=api_id)["items"]} == {"token", "users"}

    secured = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="secure")
    apigw.put_method(restApiId=api_id, resourceId=secured["id"], httpMethod="GET",
                     authorizationType="COGNITO_USER_POOLS", authorizerId=cognito["id"],
                     authorizationScopes=["email"])
    with pytest.raises(ClientError) as excinfo:      # a Lambda authorizer is not a Cognito one
        apigw.put_method(restApiId=api_id, resourceId=secured["id"], httpMethod="POST",
                         authorizationType="COGNITO_USER_POOLS", authorizerId=token["id"])
    assert code_of(excinfo)[:2] == ("BadRequestException", 400)
    with pytest.raises(ClientError) as excinfo:      # in use by GET /secure
        apigw.delete_authorizer(restApiId=api_id, authorizerId=cognito["id"])
    assert code_of(excinfo)[:2] == ("ConflictException", 409)
    apigw.put_integration(restApiId=api_id, resourceId=secured["id"], httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=api_id, stageName="prod")

    key = apigw.create_api_key(name=f"{unique}-key", enabled=True, value="k" * 30, customerId="acme")
    assert key["value"] == "k" * 30 and key["enabled"] is True
    assert "value" not in apigw.get_api_key(apiKey=key["id"])
    assert apigw.get_api_key(apiKey=key["id"], includeValue=True)["value"] == "k" * 30
    with pytest.raises(ClientError) as excinfo:
        apigw.create_api_key(name="dup", value="k" * 30)
    assert code_of(excinfo)[:2] == ("ConflictException", 409)
    assert apigw.create_api_key(name=f"{unique}-off")["enabled"] is False     # AWS creates keys disabled

    plan = apigw.create_usage_plan(name=unique, apiStages=[{"apiId": api_id, "stage": "prod"}],
                                   throttle={"burstLimit": 10, "rateLimit": 5.0},
                                   quota={"limit": 1000, "period": "DAY"})
    plan_key = apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")
    assert plan_key == {**plan_key, "id": key["id"], "type": "API_KEY", "value": "k" * 30}
    assert [k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]] == [key["id"]]
    assert [p["id"] for p in apigw.get_usage_plans(keyId=key["id"])["items"]] == [plan["id"]]
    updated = apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
        {"op": "replace", "path": "/throttle/rateLimit", "value": "7.5"},
        {"op": "replace", "path": "/quota/limit", "value": "50"}])
    assert updated["throttle"] == {"burstLimit": 10, "rateLimit": 7.5} and updated["quota"]["limit"] == 50
    with pytest.raises(ClientError) as excinfo:      # the same key in two plans over one API stage
        other = apigw.create_usage_plan(name=f"{unique}-2", apiStages=[{"apiId": api_id, "stage": "prod"}])
        apigw.create_usage_plan_key(usagePlanId=other["id"], keyId=key["id"], keyType="API_KEY")
    assert code_of(excinfo)[:2] == ("ConflictException", 409)
    with pytest.raises(ClientError) as excinfo:
        apigw.create_usage_plan(name="nostage", apiStages=[{"apiId": api_id, "stage": "nope"}])
    assert code_of(excinfo)[:2] == ("BadRequestException", 400)

    apigw.put_gateway_response(restApiId=api_id, responseType="UNAUTHORIZED", statusCode="401",
                               responseParameters={"gatewayresponse.header.WWW-Authenticate": "'Bearer'"},
                               responseTemplates={"application/json": '{"error":"login first"}'})
    responses = {r["responseType"]: r for r in apigw.get_gateway_responses(restApiId=api_id, limit=500)["items"]}
    assert responses["UNAUTHORIZED"]["defaultResponse"] is False
    assert responses["THROTTLED"] == {**responses["THROTTLED"], "statusCode": "429", "defaultResponse": True}

    arn = f"arn:aws:apigateway:home-1::/restapis/{api_id}/stages/prod"
    apigw.tag_resource(resourceArn=arn, tags={"cost": "42"})
    assert apigw.get_tags(resourceArn=arn)["tags"] == {"cost": "42"}
    apigw.untag_resource(resourceArn=arn, tagKeys=["cost"])
    assert apigw.get_tags(resourceArn=arn)["tags"] == {}

    apigw.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
    apigw.delete_api_key(apiKey=key["id"])
    with pytest.raises(ClientError) as excinfo:
        apigw.get_api_key(apiKey=key["id"])
    assert code_of(excinfo)[:2] == ("NotFoundException", 404)


def test_errors_leave_nothing_changed(apigw: Any, unique: str) -> None:
    api_id, root = _api_with_method(apigw, unique)
    before = apigw.get_resources(restApiId=api_id)["items"]
    cases = [
        (lambda: apigw.create_resource(restApiId=api_id, parentId=root, pathPart="bad path"), "BadRequestException"),
        (lambda: apigw.create_resource(restApiId=api_id, parentId="nope00", pathPart="x"), "NotFoundException"),
        (lambda: apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE"),
         "ConflictException"),
        (lambda: apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="HTTP",
                                       integrationHttpMethod="GET", uri="not-a-url"), "BadRequestException"),
        (lambda: apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK",
                                       timeoutInMillis=40000), "BadRequestException"),
        (lambda: apigw.update_rest_api(restApiId=api_id, patchOperations=[
            {"op": "replace", "path": "/name", "value": "x"},
            {"op": "replace", "path": "/nosuch", "value": "x"}]), "BadRequestException"),
        (lambda: apigw.get_stage(restApiId=api_id, stageName="nope"), "NotFoundException"),
        (lambda: apigw.create_stage(restApiId=api_id, stageName="s", deploymentId="nope00"), "NotFoundException"),
        (lambda: apigw.get_rest_apis(position="garbage"), "BadRequestException"),
    ]
    for call, code in cases:
        with pytest.raises(ClientError) as excinfo:
            call()
        assert code_of(excinfo)[0] == code, code_of(excinfo)
    assert apigw.get_rest_api(restApiId=api_id)["name"] == unique
    assert apigw.get_resources(restApiId=api_id)["items"] == before

    proxy = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")
    for part, code in (("below", "BadRequestException"),):
        with pytest.raises(ClientError) as excinfo:
            apigw.create_resource(restApiId=api_id, parentId=proxy["id"], pathPart=part)
        assert code_of(excinfo)[0] == code
    with pytest.raises(ClientError) as excinfo:          # one variable sibling at most
        apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{id}")
    assert code_of(excinfo)[0] == "BadRequestException"
    with pytest.raises(ClientError) as excinfo:
        apigw.delete_resource(restApiId=api_id, resourceId=root)
    assert code_of(excinfo)[0] == "BadRequestException"


def test_paging(apigw: Any, unique: str) -> None:
    api_id, root = _api_with_method(apigw, unique)
    for index in range(7):
        apigw.create_resource(restApiId=api_id, parentId=root, pathPart=f"r{index}")
    first = apigw.get_resources(restApiId=api_id, limit=3)
    assert len(first["items"]) == 3 and first["position"]
    paths = [item["path"] for page in apigw.get_paginator("get_resources").paginate(
        restApiId=api_id, PaginationConfig={"PageSize": 3}) for item in page["items"]]
    assert sorted(paths) == sorted(["/"] + [f"/r{index}" for index in range(7)])
    assert len(set(paths)) == 8


def test_aws_cli_walkthrough(cloudlet: CloudletProcess, unique: str) -> None:
    """``aws apigateway ...`` reaches the REST control plane (apigatewayv2 shares its signing name)."""
    api = aws_json(cloudlet, "apigateway", "create-rest-api", "--name", unique,
                   "--endpoint-configuration", "types=REGIONAL")
    api_id, root = api["id"], api["rootResourceId"]
    assert any(item["id"] == api_id for item in aws_json(cloudlet, "apigateway", "get-rest-apis")["items"])
    hello = aws_json(cloudlet, "apigateway", "create-resource", "--rest-api-id", api_id, "--parent-id", root,
                     "--path-part", "hello")
    cloudlet.aws("apigateway", "put-method", "--rest-api-id", api_id, "--resource-id", hello["id"],
                 "--http-method", "GET", "--authorization-type", "NONE")
    cloudlet.aws("apigateway", "put-integration", "--rest-api-id", api_id, "--resource-id", hello["id"],
                 "--http-method", "GET", "--type", "MOCK", "--request-templates",
                 '{"application/json": "{\\"statusCode\\": 200}"}')
    deployment = aws_json(cloudlet, "apigateway", "create-deployment", "--rest-api-id", api_id,
                          "--stage-name", "dev", "--variables", "color=blue")
    stage = aws_json(cloudlet, "apigateway", "update-stage", "--rest-api-id", api_id, "--stage-name", "dev",
                     "--patch-operations", "op=replace,path=/variables/color,value=green",
                     "op=replace,path=/*/*/throttling/rateLimit,value=100")
    assert stage["deploymentId"] == deployment["id"] and stage["variables"] == {"color": "green"}
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 100.0
    missing = cloudlet.aws("apigateway", "get-stage", "--rest-api-id", api_id, "--stage-name", "nope", check=False)
    assert missing.returncode != 0 and "NotFoundException" in missing.stderr
    cloudlet.aws("apigateway", "delete-rest-api", "--rest-api-id", api_id)
    gone = cloudlet.aws("apigateway", "get-rest-api", "--rest-api-id", api_id, check=False)
    assert gone.returncode != 0 and "NotFoundException" in gone.stderr


def test_iam_authorizes_by_http_method_and_resource_path(cloudlet: CloudletProcess, apigw: Any, iam: Any,
                                                         cleanup: Any, unique: str) -> None:
    """API Gateway's IAM model: ``apigateway:<METHOD>`` on ``arn:aws:apigateway:{region}::<path>``."""
    mine = apigw.create_rest_api(name=f"{unique}-mine")
    other = apigw.create_rest_api(name=f"{unique}-other")
    credentials = new_user(iam, cleanup, unique)
    iam.put_user_policy(UserName=unique, PolicyName="read-one", PolicyDocument=document(
        allow("apigateway:GET", [f"arn:aws:apigateway:home-1::/restapis/{mine['id']}",
                                 f"arn:aws:apigateway:home-1::/restapis/{mine['id']}/*"])))
    user = cloudlet.client("apigateway", credentials)
    assert eventually(lambda: user.get_rest_api(restApiId=mine["id"]))["name"] == f"{unique}-mine"
    assert [r["path"] for r in user.get_resources(restApiId=mine["id"])["items"]] == ["/"]
    for call in (lambda: user.get_rest_api(restApiId=other["id"]),
                 lambda: user.create_resource(restApiId=mine["id"], parentId=mine["rootResourceId"], pathPart="x"),
                 lambda: user.get_rest_apis()):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert code_of(excinfo)[1] == 403
    assert apigw.get_resources(restApiId=mine["id"])["items"][0]["path"] == "/"


def eventually(call: Any, timeout: float = 10.0) -> Any:
    """A new user's policy can take a moment to be seen (the policy cache)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_models_validators_and_access_logs(apigw: Any, unique: str) -> None:
    api_id, root = _api_with_method(apigw, unique)
    assert {m["name"] for m in apigw.get_models(restApiId=api_id)["items"]} == {"Empty", "Error"}
    schema = json.dumps({"type": "object", "required": ["name"]})
    apigw.create_model(restApiId=api_id, name="Pet", contentType="application/json", schema=schema)
    assert json.loads(apigw.get_model(restApiId=api_id, modelName="Pet")["schema"]) == json.loads(schema)
    validator = apigw.create_request_validator(restApiId=api_id, name="body", validateRequestBody=True)
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="POST", authorizationType="NONE",
                     requestModels={"application/json": "Pet"}, requestValidatorId=validator["id"])
    got = apigw.get_method(restApiId=api_id, resourceId=root, httpMethod="POST")
    assert got["requestValidatorId"] == validator["id"] and got["requestModels"] == {"application/json": "Pet"}
    for call, code in ((lambda: apigw.delete_model(restApiId=api_id, modelName="Pet"), "ConflictException"),
                       (lambda: apigw.create_model(restApiId=api_id, name="Pet", contentType="application/json"),
                        "ConflictException"),
                       (lambda: apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="PUT",
                                                 authorizationType="NONE", requestModels={"application/json": "No"}),
                        "BadRequestException")):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert code_of(excinfo)[0] == code

    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="POST", type="MOCK")
    apigw.create_deployment(restApiId=api_id, stageName="logs")
    group = f"arn:aws:logs:home-1:000000000000:log-group:/apigw/{unique}"
    with pytest.raises(ClientError) as excinfo:
        apigw.update_stage(restApiId=api_id, stageName="logs", patchOperations=[
            {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": group},
            {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.status"}])
    assert "requestId" in code_of(excinfo)[2]
    stage = apigw.update_stage(restApiId=api_id, stageName="logs", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": group},
        {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId $context.status"},
        {"op": "replace", "path": "/tracingEnabled", "value": "true"}])
    assert stage["accessLogSettings"] == {"destinationArn": group, "format": "$context.requestId $context.status"}
    assert stage["tracingEnabled"] is True


OPENAPI = {
    "openapi": "3.0.1", "info": {"title": "imported", "version": "1.0"},
    "x-amazon-apigateway-binary-media-types": ["image/png"],
    "components": {"securitySchemes": {
        "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"},
        "users": {"type": "apiKey", "name": "Authorization", "in": "header",
                  "x-amazon-apigateway-authtype": "cognito_user_pools",
                  "x-amazon-apigateway-authorizer": {
                      "type": "cognito_user_pools",
                      "providerARNs": ["arn:aws:cognito-idp:home-1:000000000000:userpool/home-1_abc"]}}}},
    "paths": {
        "/pets/{id}": {"get": {
            "parameters": [{"name": "id", "in": "path", "required": True}],
            "security": [{"users": ["email"]}, {"api_key": []}],
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": {
                "type": "http", "httpMethod": "GET", "uri": "http://127.0.0.1:9/pets/{id}",
                "requestParameters": {"integration.request.path.id": "method.request.path.id"},
                "responses": {"default": {"statusCode": "200"}, "4\\d{2}": {"statusCode": "404"}}}}},
        "/{proxy+}": {"x-amazon-apigateway-any-method": {
            "x-amazon-apigateway-integration": {"type": "aws_proxy", "httpMethod": "POST", "uri": LAMBDA_URI}}},
        "/draft": {"get": {"responses": {}}},
    },
}


def test_import_and_put_rest_api_from_openapi(cloudlet: CloudletProcess, apigw: Any, tmp_path: Any) -> None:
    document = tmp_path / "api.json"
    document.write_text(json.dumps(OPENAPI))
    refused = cloudlet.aws("apigateway", "import-rest-api", "--fail-on-warnings", "--body",
                           f"fileb://{document}", check=False)
    assert refused.returncode != 0 and "No integration defined for method GET /draft" in refused.stderr
    api = aws_json(cloudlet, "apigateway", "import-rest-api", "--body", f"fileb://{document}",
                   "--parameters", "endpointConfigurationTypes=REGIONAL")
    assert api["name"] == "imported" and api["binaryMediaTypes"] == ["image/png"]
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert api["warnings"] == ["No integration defined for method GET /draft"]
    resources = {r["path"]: r for r in apigw.get_resources(restApiId=api["id"], embed=["methods"])["items"]}
    assert set(resources) == {"/", "/pets", "/pets/{id}", "/{proxy+}", "/draft"}
    get = resources["/pets/{id}"]["resourceMethods"]["GET"]
    [authorizer] = apigw.get_authorizers(restApiId=api["id"])["items"]
    assert get["authorizationType"] == "COGNITO_USER_POOLS" and get["authorizerId"] == authorizer["id"]
    assert get["apiKeyRequired"] is True and get["authorizationScopes"] == ["email"]
    assert get["requestParameters"] == {"method.request.path.id": True}
    responses = get["methodIntegration"]["integrationResponses"]
    assert responses["404"]["selectionPattern"] == "4\\d{2}" and "selectionPattern" not in responses["200"]
    assert resources["/{proxy+}"]["resourceMethods"]["ANY"]["methodIntegration"]["type"] == "AWS_PROXY"

    smaller = {**OPENAPI, "info": {"title": "imported", "version": "2.0"},
               "paths": {"/health": {"get": {"x-amazon-apigateway-integration": {"type": "mock"}}}}}
    document.write_text(json.dumps(smaller))
    merged = apigw.put_rest_api(restApiId=api["id"], mode="merge", body=json.dumps(smaller).encode())
    assert merged["version"] == "2.0"
    assert "/pets/{id}" in {r["path"] for r in apigw.get_resources(restApiId=api["id"])["items"]}
    apigw.put_rest_api(restApiId=api["id"], mode="overwrite", body=json.dumps(smaller).encode())
    assert {r["path"] for r in apigw.get_resources(restApiId=api["id"])["items"]} == {"/", "/health"}
    with pytest.raises(ClientError) as excinfo:
        apigw.put_rest_api(restApiId=api["id"], mode="overwrite", body=b"{not json")
    assert code_of(excinfo)[:2] == ("BadRequestException", 400)
    assert {r["path"] for r in apigw.get_resources(restApiId=api["id"])["items"]} == {"/", "/health"}


def test_export_imports_back(cloudlet: CloudletProcess, apigw: Any, tmp_path: Any) -> None:
    document = tmp_path / "api.json"
    document.write_text(json.dumps({**OPENAPI, "paths": {k: v for k, v in OPENAPI["paths"].items() if k != "/draft"}}))
    api = aws_json(cloudlet, "apigateway", "import-rest-api", "--fail-on-warnings", "--body", f"fileb://{document}")
    apigw.create_deployment(restApiId=api["id"], stageName="v1")
    exported = tmp_path / "exported.json"
    cloudlet.aws("apigateway", "get-export", "--rest-api-id", api["id"], "--stage-name", "v1", "--export-type",
                 "oas30", "--parameters", "extensions=integrations", str(exported))
    assert json.loads(exported.read_text())["openapi"] == "3.0.1"
    again = aws_json(cloudlet, "apigateway", "import-rest-api", "--fail-on-warnings", "--body", f"fileb://{exported}")

    def shape(api_id: str) -> dict[str, Any]:
        out = {}
        for resource in apigw.get_resources(restApiId=api_id, embed=["methods"])["items"]:
            for method, doc in (resource.get("resourceMethods") or {}).items():
                integration = {k: v for k, v in doc["methodIntegration"].items() if k != "cacheNamespace"}
                out[(resource["path"], method)] = (doc["authorizationType"], doc["apiKeyRequired"],
                                                   doc.get("requestParameters"), integration)
        return out
    assert shape(again["id"]) == shape(api["id"])
    yaml_export = apigw.get_export(restApiId=api["id"], stageName="v1", exportType="swagger",
                                   accepts="application/yaml")
    assert yaml_export["contentType"] == "application/yaml"
    assert yaml_export["body"].read().decode().startswith("swagger: '2.0'")
