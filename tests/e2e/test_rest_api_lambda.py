"""REST APIs calling Lambda functions on a real ``cloudlet up`` with its agent: the Lambda proxy integration on
``dev`` and ``prod`` with their own stage variables, a non-proxy integration whose errors are mapped by
``selectionPattern``, a method behind a Cognito user pool authorizer fed an id token that pycognito got
through SRP, and a Lambda TOKEN authorizer whose answers are cached."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore import UNSIGNED
from pycognito.aws_srp import AWSSRP

from tests.e2e.lambda_helpers import MISSING, execution_role, python_function
from tests.e2e.rest_api_helpers import invoke_url, resource
from tests.support import CloudletProcess

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(MISSING is not None, reason=MISSING or "")]

PROXY_SOURCE = """
import json

def handler(event, context):
    claims = (event["requestContext"].get("authorizer") or {}).get("claims") or {}
    if event["resource"] == "/admin" and "admins" not in claims.get("cognito:groups", ""):
        return {"statusCode": 403, "body": json.dumps({"message": "admins only"})}
    return {"statusCode": 200, "headers": {"x-tier": event["stageVariables"]["tier"]},
            "body": json.dumps({"resource": event["resource"], "path": event["path"],
                                "id": (event["pathParameters"] or {}).get("id"),
                                "query": event["queryStringParameters"], "stage": event["requestContext"]["stage"],
                                "user": claims.get("cognito:username"),
                                "authorizer": None if claims else event["requestContext"].get("authorizer")})}
"""

PLAIN_SOURCE = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("NotFound: no such order " + event["order"])
    return {"order": event["order"], "state": "shipped"}
"""

TOKEN_AUTHORIZER_SOURCE = """
def handler(event, context):
    if event["authorizationToken"] == "deny-me":
        effect = "Deny"
    elif event["authorizationToken"].startswith("allow-me"):
        effect = "Allow"
    else:
        raise Exception("Unauthorized")
    return {"principalId": "tester", "context": {"team": "blue"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": effect, "Action": "execute-api:Invoke", "Resource": event["methodArn"]}]}}
"""


def _lambda_uri(cloud: CloudletProcess, function_arn: str) -> str:
    return f"arn:aws:apigateway:{cloud.region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


def _permit(cloud: CloudletProcess, lam: Any, name: str, api_id: str) -> None:
    lam.add_permission(FunctionName=name, StatementId=f"apigw-{api_id}", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:{cloud.region}:{cloud.account_id}:{api_id}/*")


def _proxy_method(apigw: Any, api_id: str, path: str, uri: str, **method_args: Any) -> None:
    resource_id = resource(apigw, api_id, path)
    apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod="GET",
                     authorizationType=method_args.pop("authorizationType", "NONE"), **method_args)
    apigw.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=uri)


@pytest.fixture
def proxy_function(functions_cloud: CloudletProcess, unique: str) -> tuple[Any, str]:
    lam = functions_cloud.client("lambda")
    role = execution_role(functions_cloud.client("iam"), f"{unique}-role")
    return lam, python_function(lam, unique, role, PROXY_SOURCE)["FunctionArn"]


def test_lambda_proxy_on_dev_and_prod_with_their_stage_variables(functions_cloud: CloudletProcess,
                                                                   proxy_function: tuple[Any, str],
                                                                   unique: str) -> None:
    cloud, (lam, function_arn) = functions_cloud, proxy_function
    apigw = cloud.client("apigateway")
    api_id = apigw.create_rest_api(name=unique)["id"]
    _proxy_method(apigw, api_id, "/orders/{id}", _lambda_uri(cloud, function_arn))
    deployment = apigw.create_deployment(restApiId=api_id)["id"]
    for stage, tier in (("dev", "beta"), ("prod", "stable")):
        apigw.create_stage(restApiId=api_id, stageName=stage, deploymentId=deployment, variables={"tier": tier})
    url = invoke_url(cloud, api_id, "/dev/orders/7?color=red")
    refused = requests.get(url, timeout=30)       # the function's policy does not let API Gateway in yet
    assert (refused.status_code, refused.json()) == (500, {"message": "Internal server error"})
    _permit(cloud, lam, unique, api_id)

    for stage, tier in (("dev", "beta"), ("prod", "stable")):
        answer = requests.get(invoke_url(cloud, api_id, f"/{stage}/orders/7?color=red"), timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-tier"] == tier
        assert answer.json() == {"resource": "/orders/{id}", "path": "/orders/7", "id": "7",
                                 "query": {"color": "red"}, "stage": stage, "user": None,
                                 "authorizer": None}
    apigw.delete_rest_api(restApiId=api_id)


def test_non_proxy_lambda_with_templates_and_error_patterns(functions_cloud: CloudletProcess, unique: str) -> None:
    cloud = functions_cloud
    lam, apigw = cloud.client("lambda"), cloud.client("apigateway")
    role = execution_role(cloud.client("iam"), f"{unique}-role")
    function_arn = python_function(lam, unique, role, PLAIN_SOURCE)["FunctionArn"]
    api_id = apigw.create_rest_api(name=unique)["id"]
    resource_id = resource(apigw, api_id, "/orders/{order}")
    apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod="GET", authorizationType="NONE")
    for status in ("200", "404"):
        apigw.put_method_response(restApiId=api_id, resourceId=resource_id, httpMethod="GET", statusCode=status)
    apigw.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod="GET", type="AWS",
                          integrationHttpMethod="POST", uri=_lambda_uri(cloud, function_arn),
                          requestTemplates={"application/json": '{"order": "$input.params(\'order\')", '
                                                                '"fail": $input.params(\'fail\').equals("1")}'})
    apigw.put_integration_response(restApiId=api_id, resourceId=resource_id, httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json": '{"shipped": "$input.path(\'$.order\')"}'})
    apigw.put_integration_response(restApiId=api_id, resourceId=resource_id, httpMethod="GET", statusCode="404",
                                   selectionPattern="NotFound:.*",
                                   responseTemplates={"application/json": '{"error": "$input.path(\'$.errorMessage\')"}'})
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    _permit(cloud, lam, unique, api_id)

    found = requests.get(invoke_url(cloud, api_id, "/prod/orders/A1"), timeout=30)
    assert (found.status_code, found.json()) == (200, {"shipped": "A1"})
    missing = requests.get(invoke_url(cloud, api_id, "/prod/orders/B2?fail=1"), timeout=30)
    assert (missing.status_code, missing.json()) == (404, {"error": "NotFound: no such order B2"})
    apigw.delete_rest_api(restApiId=api_id)


def _pool_with_users(cloud: CloudletProcess, unique: str) -> tuple[str, str]:
    idp = cloud.client("cognito-idp")
    pool_id = idp.create_user_pool(PoolName=unique)["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="web", ExplicitAuthFlows=[
        "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    idp.create_group(UserPoolId=pool_id, GroupName="admins", Precedence=1)
    for user in ("ada", "bob"):
        idp.admin_create_user(UserPoolId=pool_id, Username=user, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool_id, Username=user, Password="Passw0rd!", Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username="ada", GroupName="admins")
    return pool_id, client_id


def _srp_id_token(cloud: CloudletProcess, pool_id: str, client_id: str, user: str) -> str:
    public = cloud.client("cognito-idp", signature_version=UNSIGNED)
    answer = AWSSRP(username=user, password="Passw0rd!", pool_id=pool_id, client_id=client_id,
                    client=public).authenticate_user()
    return answer["AuthenticationResult"]["IdToken"]


def test_a_cognito_authorized_method(functions_cloud: CloudletProcess, proxy_function: tuple[Any, str],
                                     unique: str) -> None:
    cloud, (lam, function_arn) = functions_cloud, proxy_function
    pool_id, client_id = _pool_with_users(cloud, unique)
    apigw = cloud.client("apigateway")
    api_id = apigw.create_rest_api(name=unique)["id"]
    pool_arn = cloud.client("cognito-idp").describe_user_pool(UserPoolId=pool_id)["UserPool"]["Arn"]
    authorizer = apigw.create_authorizer(restApiId=api_id, name="pool", type="COGNITO_USER_POOLS",
                                         providerARNs=[pool_arn], identitySource="method.request.header.Authorization")
    for path in ("/hello", "/admin"):
        _proxy_method(apigw, api_id, path, _lambda_uri(cloud, function_arn), authorizationType="COGNITO_USER_POOLS",
                      authorizerId=authorizer["id"])
    apigw.create_deployment(restApiId=api_id, stageName="prod", variables={"tier": "stable"})
    _permit(cloud, lam, lam.get_function(FunctionName=function_arn)["Configuration"]["FunctionName"], api_id)
    hello, admin = invoke_url(cloud, api_id, "/prod/hello"), invoke_url(cloud, api_id, "/prod/admin")

    without = requests.get(hello, timeout=30)
    assert (without.status_code, without.json()) == (401, {"message": "Unauthorized"})
    assert without.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    ada, bob = (_srp_id_token(cloud, pool_id, client_id, user) for user in ("ada", "bob"))
    forged = requests.get(hello, headers={"Authorization": ada[:-6] + "AAAAAA"}, timeout=30)
    assert forged.status_code == 401
    allowed = requests.get(hello, headers={"Authorization": ada}, timeout=30)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["user"] == "ada"
    assert requests.get(admin, headers={"Authorization": ada}, timeout=30).status_code == 200
    outsider = requests.get(admin, headers={"Authorization": bob}, timeout=30)
    assert (outsider.status_code, outsider.json()) == (403, {"message": "admins only"})
    apigw.delete_rest_api(restApiId=api_id)


def test_a_lambda_token_authorizer_with_its_cache(functions_cloud: CloudletProcess, proxy_function: tuple[Any, str],
                                                  unique: str) -> None:
    cloud, (lam, function_arn) = functions_cloud, proxy_function
    role = execution_role(cloud.client("iam"), f"{unique}-auth-role")
    authorizer_arn = python_function(lam, f"{unique}-auth", role, TOKEN_AUTHORIZER_SOURCE)["FunctionArn"]
    apigw = cloud.client("apigateway")
    api_id = apigw.create_rest_api(name=unique)["id"]
    authorizer = apigw.create_authorizer(restApiId=api_id, name="token", type="TOKEN",
                                         authorizerUri=_lambda_uri(cloud, authorizer_arn),
                                         identitySource="method.request.header.Authorization",
                                         authorizerResultTtlInSeconds=300)
    _proxy_method(apigw, api_id, "/guarded", _lambda_uri(cloud, function_arn), authorizationType="CUSTOM",
                  authorizerId=authorizer["id"])
    apigw.create_deployment(restApiId=api_id, stageName="prod", variables={"tier": "stable"})
    _permit(cloud, lam, lam.get_function(FunctionName=function_arn)["Configuration"]["FunctionName"], api_id)
    _permit(cloud, lam, f"{unique}-auth", api_id)
    url = invoke_url(cloud, api_id, "/prod/guarded")

    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, headers={"Authorization": "who-knows"}, timeout=30).status_code == 401
    denied = requests.get(url, headers={"Authorization": "deny-me"}, timeout=30)
    assert (denied.status_code, denied.json()) == (
        403, {"message": "User is not authorized to access this resource with an explicit deny"})
    allowed = requests.get(url, headers={"Authorization": "allow-me"}, timeout=30)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["authorizer"] == {"principalId": "tester", "team": "blue"}
    # Without its permission the authorizer can no longer be called: a cached token still passes, a new one not.
    lam.remove_permission(FunctionName=f"{unique}-auth", StatementId=f"apigw-{api_id}")
    assert requests.get(url, headers={"Authorization": "allow-me"}, timeout=30).status_code == 200
    uncached = requests.get(url, headers={"Authorization": "allow-me-too"}, timeout=30)
    assert (uncached.status_code, uncached.json()) == (500, {"message": "Internal server error"})
    apigw.delete_rest_api(restApiId=api_id)


REQUEST_AUTHORIZER_SOURCE = """
def handler(event, context):
    allowed = event["headers"].get("x-key") == "letmein" and event["queryStringParameters"]["team"] == "blue"
    return {"principalId": event["requestContext"]["stage"] + "-caller", "usageIdentifierKey": None,
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow" if allowed else "Deny", "Action": "execute-api:Invoke",
                 "Resource": event["methodArn"].rsplit("/", 2)[0] + "/*"}]}}
"""


def test_a_lambda_request_authorizer(functions_cloud: CloudletProcess, proxy_function: tuple[Any, str],
                                     unique: str) -> None:
    cloud, (lam, function_arn) = functions_cloud, proxy_function
    role = execution_role(cloud.client("iam"), f"{unique}-auth-role")
    authorizer_arn = python_function(lam, f"{unique}-auth", role, REQUEST_AUTHORIZER_SOURCE)["FunctionArn"]
    apigw = cloud.client("apigateway")
    api_id = apigw.create_rest_api(name=unique)["id"]
    authorizer = apigw.create_authorizer(
        restApiId=api_id, name="request", type="REQUEST", authorizerUri=_lambda_uri(cloud, authorizer_arn),
        identitySource="method.request.header.x-key, method.request.querystring.team",
        authorizerResultTtlInSeconds=0)
    _proxy_method(apigw, api_id, "/guarded", _lambda_uri(cloud, function_arn), authorizationType="CUSTOM",
                  authorizerId=authorizer["id"])
    apigw.create_deployment(restApiId=api_id, stageName="prod", variables={"tier": "stable"})
    for name in (lam.get_function(FunctionName=function_arn)["Configuration"]["FunctionName"], f"{unique}-auth"):
        _permit(cloud, lam, name, api_id)
    url = invoke_url(cloud, api_id, "/prod/guarded")

    assert requests.get(url, headers={"x-key": "letmein"}, timeout=30).status_code == 401   # no ?team=
    wrong = requests.get(url + "?team=red", headers={"x-key": "letmein"}, timeout=30)
    assert wrong.status_code == 403
    right = requests.get(url + "?team=blue", headers={"x-key": "letmein"}, timeout=30)
    assert right.status_code == 200, right.text
    assert right.json()["authorizer"] == {"principalId": "prod-caller"}
    apigw.delete_rest_api(restApiId=api_id)
