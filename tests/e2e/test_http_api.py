"""HTTP APIs (apigatewayv2) against a real ``cloudlet up``: the control plane through boto3 and the stock AWS
CLI, and the invoke URL (the path form ``/_cloudlet/execute-api/{api-id}/...``, which needs no DNS) serving a
Lambda route with payload format 2.0, an HTTP_PROXY route to a backend this test runs on 127.0.0.1, the
``$default`` stage with automatic deployment, a JWT authorizer whose issuer is a Cognito user pool of the
same cloud, and CORS preflights answered by the gateway.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.e2e.lambda_helpers import MISSING, execution_role, python_function
from tests.e2e.rest_api_helpers import echo_backend
from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e


def aws_json(cloudlet: CloudletProcess, *args: str) -> Any:
    out = cloudlet.aws(*args, "--output", "json").stdout
    return json.loads(out) if out.strip() else None



LAMBDA_SOURCE = """
import json

def handler(event, context):
    if event["rawPath"].endswith("/structured"):
        return {"statusCode": 201, "headers": {"x-from": "lambda"}, "cookies": ["a=1", "b=2"],
                "body": json.dumps({"route": event["routeKey"]})}
    return {"seen": event}
"""

AUTHORIZER_SOURCE = """
def handler(event, context):
    return {"isAuthorized": event["identitySource"] == ["letmein"], "context": {"who": "tester"}}
"""


def invoke_url(cloudlet: CloudletProcess, api_id: str, path: str) -> str:
    return f"{cloudlet.endpoint}/_cloudlet/execute-api/{api_id}{path}"


@pytest.fixture
def backend() -> Iterator[str]:
    with echo_backend() as url:
        yield url


def test_control_plane_through_the_cli_and_boto3(cloudlet: CloudletProcess, unique: str) -> None:
    created = aws_json(cloudlet, "apigatewayv2", "create-api", "--name", unique, "--protocol-type", "HTTP",
                       "--tags", "team=web")
    api_id = created["ApiId"]
    assert created["ApiEndpoint"] == f"https://{api_id}.execute-api.{cloudlet.region}.amazonaws.com"
    assert api_id in [item["ApiId"] for item in aws_json(cloudlet, "apigatewayv2", "get-apis")["Items"]]
    integration = aws_json(cloudlet, "apigatewayv2", "create-integration", "--api-id", api_id,
                           "--integration-type", "HTTP_PROXY", "--integration-method", "GET",
                           "--integration-uri", "http://127.0.0.1:9/x")
    route = aws_json(cloudlet, "apigatewayv2", "create-route", "--api-id", api_id, "--route-key",
                     "GET /items/{id}", "--target", f"integrations/{integration['IntegrationId']}")
    assert aws_json(cloudlet, "apigatewayv2", "get-route", "--api-id", api_id,
                    "--route-id", route["RouteId"])["RouteKey"] == "GET /items/{id}"
    stage = aws_json(cloudlet, "apigatewayv2", "create-stage", "--api-id", api_id, "--stage-name", "$default",
                     "--auto-deploy")
    assert stage["AutoDeploy"] and stage["DeploymentId"]
    tags = aws_json(cloudlet, "apigatewayv2", "get-tags", "--resource-arn",
                    f"arn:aws:apigateway:{cloudlet.region}::/apis/{api_id}")
    assert tags["Tags"] == {"team": "web"}

    v2 = cloudlet.client("apigatewayv2")
    with pytest.raises(ClientError) as missing:
        v2.get_route(ApiId=api_id, RouteId="nope123")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as conflict:
        v2.create_route(ApiId=api_id, RouteKey="GET /items/{id}")
    assert conflict.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as bad:
        v2.create_route(ApiId=api_id, RouteKey="GET items")
    assert bad.value.response["Error"]["Code"] == "BadRequestException"
    cloudlet.aws("apigatewayv2", "delete-api", "--api-id", api_id)
    refused = cloudlet.aws("apigatewayv2", "get-api", "--api-id", api_id, check=False)
    assert refused.returncode != 0 and "NotFoundException" in refused.stderr


def test_http_proxy_route_auto_deploy_and_cors(cloudlet: CloudletProcess, backend: str, unique: str) -> None:
    v2 = cloudlet.client("apigatewayv2")
    api_id = v2.create_api(Name=unique, ProtocolType="HTTP", CorsConfiguration={
        "AllowOrigins": ["https://app.example.com"], "AllowMethods": ["GET", "POST"],
        "AllowHeaders": ["content-type"], "MaxAge": 600})["ApiId"]
    integration = v2.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY",
                                        IntegrationUri=backend + "/base/{proxy}",
                                        PayloadFormatVersion="1.0")["IntegrationId"]
    v2.create_route(ApiId=api_id, RouteKey="ANY /svc/{proxy+}", Target=f"integrations/{integration}")
    v2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

    answer = requests.post(invoke_url(cloudlet, api_id, "/svc/a/b?x=1&y=2"), data=b"hello", timeout=10,
                           headers={"origin": "https://app.example.com", "x-custom": "yes"})
    assert answer.status_code == 200, answer.text
    echoed = answer.json()
    assert echoed["method"] == "POST" and echoed["path"] == "/base/a/b?x=1&y=2" and echoed["body"] == "hello"
    assert echoed["headers"]["x-custom"] == "yes" and "for=" in echoed["headers"]["forwarded"]
    assert answer.headers["access-control-allow-origin"] == "https://app.example.com"   # not the backend's
    assert answer.headers["apigw-requestid"]

    preflight = requests.options(invoke_url(cloudlet, api_id, "/svc/a"), timeout=10, headers={
        "origin": "https://app.example.com", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert preflight.headers["access-control-max-age"] == "600"

    missing = requests.get(invoke_url(cloudlet, api_id, "/elsewhere"), timeout=10)
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})

    mapped = v2.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="GET",
                                   IntegrationUri=backend, PayloadFormatVersion="1.0", RequestParameters={
                                       "overwrite:path": "/mapped/$request.path.id",
                                       "append:header.x-stage": "$context.stage",
                                       "remove:querystring.secret": ""})["IntegrationId"]
    v2.create_route(ApiId=api_id, RouteKey="GET /m/{id}", Target=f"integrations/{mapped}")
    echoed = requests.get(invoke_url(cloudlet, api_id, "/m/7?secret=s&keep=1"), timeout=10).json()
    assert echoed["path"] == "/mapped/7?keep=1" and echoed["headers"]["x-stage"] == "$default"

    # auto-deploy: a new route is served without CreateDeployment
    v2.create_route(ApiId=api_id, RouteKey="GET /elsewhere", Target=f"integrations/{integration}")
    assert requests.get(invoke_url(cloudlet, api_id, "/elsewhere"), timeout=10).status_code == 200
    v2.delete_api(ApiId=api_id)


def _pool_user(cloudlet: CloudletProcess, unique: str) -> tuple[str, str, str, str]:
    """A user pool with an app client and a confirmed user: (pool id, client id, id token, access token)."""
    idp = cloudlet.client("cognito-idp")
    pool_id = idp.create_user_pool(PoolName=unique)["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="web", ExplicitAuthFlows=[
        "ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool_id, Username="alice", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username="alice", Password="Sup3r-secret!", Permanent=True)
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": "alice", "PASSWORD": "Sup3r-secret!"})["AuthenticationResult"]
    return pool_id, client_id, tokens["IdToken"], tokens["AccessToken"]


def test_jwt_authorizer_with_a_user_pool_issuer(cloudlet: CloudletProcess, backend: str, unique: str) -> None:
    pool_id, client_id, id_token, access_token = _pool_user(cloudlet, unique)
    v2 = cloudlet.client("apigatewayv2")
    api_id = v2.create_api(Name=unique, ProtocolType="HTTP")["ApiId"]
    integration = v2.create_integration(ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationMethod="GET",
                                        IntegrationUri=backend + "/whoami")["IntegrationId"]
    authorizer = v2.create_authorizer(ApiId=api_id, Name="pool", AuthorizerType="JWT",
                                      IdentitySource=["$request.header.Authorization"], JwtConfiguration={
                                          "Issuer": f"{cloudlet.endpoint}/{pool_id}", "Audience": [client_id]})
    common = {"ApiId": api_id, "Target": f"integrations/{integration}", "AuthorizationType": "JWT",
              "AuthorizerId": authorizer["AuthorizerId"]}
    v2.create_route(RouteKey="GET /me", **common)
    v2.create_route(RouteKey="GET /admin", AuthorizationScopes=["admin/write"], **common)
    v2.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    url = invoke_url(cloudlet, api_id, "/me")

    without = requests.get(url, timeout=10)
    assert (without.status_code, without.json()) == (401, {"message": "Unauthorized"})
    forged = requests.get(url, timeout=10, headers={"authorization": "Bearer " + id_token[:-4] + "AAAA"})
    assert forged.status_code == 401 and "invalid_token" in forged.headers["www-authenticate"]
    for token in (id_token, access_token):     # aud for the id token, client_id for the access token
        allowed = requests.get(url, timeout=10, headers={"authorization": f"Bearer {token}"})
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["headers"]["authorization"] == f"Bearer {token}"
    scoped = requests.get(invoke_url(cloudlet, api_id, "/admin"), timeout=10,
                          headers={"authorization": f"Bearer {access_token}"})
    assert (scoped.status_code, scoped.json()) == (403, {"message": "Forbidden"})

    other = v2.update_authorizer(ApiId=api_id, AuthorizerId=authorizer["AuthorizerId"],
                                 JwtConfiguration={"Issuer": f"{cloudlet.endpoint}/{pool_id}",
                                                   "Audience": ["someone-else"]})
    assert other["JwtConfiguration"]["Audience"] == ["someone-else"]
    assert requests.get(url, timeout=10, headers={"authorization": f"Bearer {id_token}"}).status_code == 401
    v2.delete_api(ApiId=api_id)


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
def test_lambda_route_payload_2_and_quick_create(functions_cloud: CloudletProcess, unique: str) -> None:
    cloud = functions_cloud
    lam, v2 = cloud.client("lambda"), cloud.client("apigatewayv2")
    role = execution_role(cloud.client("iam"), f"{unique}-role")
    function_arn = python_function(lam, unique, role, LAMBDA_SOURCE)["FunctionArn"]
    api = v2.create_api(Name=unique, ProtocolType="HTTP", Target=function_arn)     # quick create
    api_id = api["ApiId"]
    url = invoke_url(cloud, api_id, "/any/thing?q=1&q=2")

    refused = requests.get(url, timeout=30)          # no permission for API Gateway yet
    assert (refused.status_code, refused.json()) == (500, {"message": "Internal Server Error"})
    lam.add_permission(FunctionName=unique, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{cloud.region}:{cloud.account_id}:{api_id}/*")

    simple = requests.post(url, data=b'{"k": 1}', timeout=30, headers={
        "content-type": "application/json", "cookie": "s=1"})
    assert simple.status_code == 200, simple.text
    assert simple.headers["content-type"] == "application/json"
    event = simple.json()["seen"]
    assert event["version"] == "2.0" and event["routeKey"] == "$default" and event["rawPath"] == "/any/thing"
    assert event["queryStringParameters"] == {"q": "1,2"} and event["cookies"] == ["s=1"]
    assert event["body"] == '{"k": 1}' and event["isBase64Encoded"] is False
    assert event["requestContext"]["apiId"] == api_id and event["requestContext"]["stage"] == "$default"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["domainName"] == f"{api_id}.execute-api.{cloud.region}.amazonaws.com"

    structured = requests.get(invoke_url(cloud, api_id, "/structured"), timeout=30)
    assert structured.status_code == 201 and structured.json() == {"route": "$default"}
    assert structured.headers["x-from"] == "lambda"
    assert structured.cookies.get("a") == "1" and structured.cookies.get("b") == "2"

    # a route with a path variable next to the quick-created $default route, to a named stage
    integration = v2.get_integrations(ApiId=api_id)["Items"][0]["IntegrationId"]
    v2.create_route(ApiId=api_id, RouteKey="GET /items/{id}", Target=f"integrations/{integration}")
    v2.create_stage(ApiId=api_id, StageName="beta", StageVariables={"color": "blue"})
    v2.create_deployment(ApiId=api_id, StageName="beta")
    named = requests.get(invoke_url(cloud, api_id, "/beta/items/42"), timeout=30).json()["seen"]
    assert named["routeKey"] == "GET /items/{id}" and named["pathParameters"] == {"id": "42"}
    assert named["stageVariables"] == {"color": "blue"} and named["requestContext"]["stage"] == "beta"

    # a Lambda REQUEST authorizer with simple responses
    authorizer_arn = python_function(lam, f"{unique}-auth", role, AUTHORIZER_SOURCE)["FunctionArn"]
    lam.add_permission(FunctionName=f"{unique}-auth", StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{cloud.region}:{cloud.account_id}:{api_id}/authorizers/*")
    authorizer = v2.create_authorizer(
        ApiId=api_id, Name="gate", AuthorizerType="REQUEST", AuthorizerPayloadFormatVersion="2.0",
        EnableSimpleResponses=True, IdentitySource=["$request.header.x-key"],
        AuthorizerUri=f"arn:aws:apigateway:{cloud.region}:lambda:path/2015-03-31/functions/{authorizer_arn}"
                      "/invocations")
    v2.create_route(ApiId=api_id, RouteKey="GET /guarded", Target=f"integrations/{integration}",
                    AuthorizationType="CUSTOM", AuthorizerId=authorizer["AuthorizerId"])
    guarded = invoke_url(cloud, api_id, "/guarded")
    assert requests.get(guarded, timeout=30).status_code == 401                       # no identity source
    wrong = requests.get(guarded, timeout=30, headers={"x-key": "guess"})
    assert (wrong.status_code, wrong.json()) == (403, {"message": "Forbidden"})
    right = requests.get(guarded, timeout=30, headers={"x-key": "letmein"})
    assert right.status_code == 200, right.text
    assert right.json()["seen"]["requestContext"]["authorizer"] == {"lambda": {"who": "tester"}}
    v2.delete_api(ApiId=api_id)
