"""REST APIs' invoke URLs against a real ``cloudlet up``, with integrations that need no function: HTTP and
HTTP_PROXY to a backend on 127.0.0.1 with stage variables, MOCK with VTL templates, a canary's share of
traffic, stage throttling, a resource policy on the source CIDR, API keys with usage plans, AWS_IAM methods
signed with SigV4, and access logs in CloudWatch Logs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from tests.e2e.rest_api_helpers import echo_backend, invoke_url, mock_method, resource
from tests.support import CloudletProcess, Credentials

pytestmark = pytest.mark.e2e


@pytest.fixture
def apigw(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("apigateway")


def test_http_integrations_with_stage_variables_on_dev_and_prod(cloudlet: CloudletProcess, apigw: Any,
                                                                 unique: str) -> None:
    api_id = apigw.create_rest_api(name=unique)["id"]
    with echo_backend() as backend:
        items = resource(apigw, api_id, "/items/{id}")
        apigw.put_method(restApiId=api_id, resourceId=items, httpMethod="GET", authorizationType="NONE")
        apigw.put_integration(restApiId=api_id, resourceId=items, httpMethod="GET", type="HTTP_PROXY",
                              integrationHttpMethod="GET", uri=backend + "/${stageVariables.tier}/things/{id}",
                              requestParameters={"integration.request.path.id": "method.request.path.id"})
        shaped = resource(apigw, api_id, "/shaped")
        apigw.put_method(restApiId=api_id, resourceId=shaped, httpMethod="POST", authorizationType="NONE")
        apigw.put_method_response(restApiId=api_id, resourceId=shaped, httpMethod="POST", statusCode="200")
        apigw.put_integration(
            restApiId=api_id, resourceId=shaped, httpMethod="POST", type="HTTP", integrationHttpMethod="POST",
            uri=backend + "/shape", passthroughBehavior="NEVER",
            requestTemplates={"application/json": '{"name": "$input.path(\'$.name\').toUpperCase()", '
                                                  '"stage": "$context.stage", "tier": "$stageVariables.tier"}'})
        apigw.put_integration_response(
            restApiId=api_id, resourceId=shaped, httpMethod="POST", statusCode="200",
            responseTemplates={"application/json": '#set($sent = $util.parseJson($input.path(\'$.body\')))'
                                                   '{"backend saw": "$sent.name", "tier": "$sent.tier"}'})
        deployment = apigw.create_deployment(restApiId=api_id)["id"]
        for stage, tier in (("dev", "beta"), ("prod", "stable")):
            apigw.create_stage(restApiId=api_id, stageName=stage, deploymentId=deployment,
                               variables={"tier": tier})

        for stage, tier in (("dev", "beta"), ("prod", "stable")):
            answer = requests.get(invoke_url(cloudlet, api_id, f"/{stage}/items/42?q=1"), timeout=10)
            assert answer.status_code == 200, answer.text
            assert answer.json()["path"] == f"/{tier}/things/42?q=1"
            assert answer.headers["x-amzn-RequestId"]
            shaped_answer = requests.post(invoke_url(cloudlet, api_id, f"/{stage}/shaped"), json={"name": "ada"},
                                          timeout=10)
            assert shaped_answer.status_code == 200, shaped_answer.text
            assert shaped_answer.json() == {"backend saw": "ADA", "tier": tier}

        unsupported = requests.post(invoke_url(cloudlet, api_id, "/dev/shaped"), data="x",
                                    headers={"content-type": "text/plain"}, timeout=10)
        assert unsupported.status_code == 415
        assert unsupported.json() == {"message": "Unsupported Media Type"}
    missing = requests.get(invoke_url(cloudlet, api_id, "/dev/nowhere"), timeout=10)
    assert (missing.status_code, missing.json()) == (403, {"message": "Missing Authentication Token"})
    assert missing.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    no_stage = requests.get(invoke_url(cloudlet, api_id, "/qa/items/1"), timeout=10)
    assert (no_stage.status_code, no_stage.json()) == (403, {"message": "Forbidden"})
    apigw.delete_rest_api(restApiId=api_id)


def test_a_ten_percent_canary_over_500_requests(cloudlet: CloudletProcess, apigw: Any, unique: str) -> None:
    api_id = apigw.create_rest_api(name=unique)["id"]
    resource_id = mock_method(apigw, api_id, "/version", response_template='{"from": "v1"}')
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    apigw.put_integration_response(restApiId=api_id, resourceId=resource_id, httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json": '{"from": "v2", '
                                                      '"canary": $context.isCanaryRequest}'})
    apigw.create_deployment(restApiId=api_id, stageName="prod", canarySettings={"percentTraffic": 10.0})
    stage = apigw.get_stage(restApiId=api_id, stageName="prod")
    assert stage["canarySettings"]["percentTraffic"] == 10.0

    session = requests.Session()
    seen = [session.get(invoke_url(cloudlet, api_id, "/prod/version"), timeout=10).json() for _ in range(500)]
    canary = [answer for answer in seen if answer["from"] == "v2"]
    assert all(answer["canary"] is True for answer in canary)
    # 10% of 500 is 50 with a standard deviation of about 6.7: 25..80 is more than four deviations either way.
    assert 25 <= len(canary) <= 80, len(canary)

    apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[  # promote the canary
        {"op": "replace", "path": "/deploymentId", "value": stage["canarySettings"]["deploymentId"]},
        {"op": "remove", "path": "/canarySettings"}])
    assert {session.get(invoke_url(cloudlet, api_id, "/prod/version"), timeout=10).json()["from"]
            for _ in range(20)} == {"v2"}
    apigw.delete_rest_api(restApiId=api_id)


def test_stage_throttling_answers_429_past_the_burst(cloudlet: CloudletProcess, apigw: Any, unique: str) -> None:
    api_id = apigw.create_rest_api(name=unique)["id"]
    mock_method(apigw, api_id, "/ping", response_template='{"pong": true}')
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.5"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "3"}])
    session = requests.Session()
    statuses = [session.get(invoke_url(cloudlet, api_id, "/prod/ping"), timeout=10) for _ in range(8)]
    assert [answer.status_code for answer in statuses[:3]] == [200, 200, 200]
    throttled = [answer for answer in statuses[3:] if answer.status_code == 429]
    assert len(throttled) >= 4
    assert throttled[0].json() == {"message": "Too Many Requests"}
    assert throttled[0].headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    apigw.delete_rest_api(restApiId=api_id)


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_a_resource_policy_refuses_a_cidr(cloudlet: CloudletProcess, apigw: Any, unique: str) -> None:
    allow = {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}
    deny_loopback = {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke",
                     "Resource": "execute-api:/*/GET/private",
                     "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8"]}}}
    api_id = apigw.create_rest_api(name=unique, policy=_policy(allow, deny_loopback))["id"]
    mock_method(apigw, api_id, "/private", response_template='{"secret": 1}')
    mock_method(apigw, api_id, "/public", response_template='{"open": 1}')
    apigw.create_deployment(restApiId=api_id, stageName="prod")

    refused = requests.get(invoke_url(cloudlet, api_id, "/prod/private"), timeout=10)
    assert refused.status_code == 403
    assert refused.json()["message"].startswith("User: anonymous is not authorized to perform: execute-api:Invoke")
    assert refused.json()["message"].endswith("with an explicit deny")
    assert refused.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert requests.get(invoke_url(cloudlet, api_id, "/prod/public"), timeout=10).status_code == 200

    other_cidr = dict(deny_loopback, Condition={"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}})
    apigw.update_rest_api(restApiId=api_id, patchOperations=[
        {"op": "replace", "path": "/policy", "value": _policy(allow, other_cidr)}])
    assert requests.get(invoke_url(cloudlet, api_id, "/prod/private"), timeout=10).status_code == 200
    apigw.delete_rest_api(restApiId=api_id)


def test_api_keys_usage_plans_and_quotas(cloudlet: CloudletProcess, apigw: Any, unique: str) -> None:
    api_id = apigw.create_rest_api(name=unique)["id"]
    mock_method(apigw, api_id, "/metered", response_template='{"ok": true}', apiKeyRequired=True)
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    key = apigw.create_api_key(name=unique, enabled=True)
    plan = apigw.create_usage_plan(name=unique, apiStages=[{"apiId": api_id, "stage": "prod"}],
                                   quota={"limit": 3, "period": "DAY"})
    url = invoke_url(cloudlet, api_id, "/prod/metered")
    assert requests.get(url, headers={"x-api-key": key["value"]}, timeout=10).status_code == 403  # not in plan
    apigw.create_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY")

    assert requests.get(url, timeout=10).status_code == 403
    assert requests.get(url, headers={"x-api-key": "not-a-key-value-at-all"}, timeout=10).status_code == 403
    answers = [requests.get(url, headers={"x-api-key": key["value"]}, timeout=10) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[-1].json() == {"message": "Limit Exceeded"}
    apigw.delete_usage_plan_key(usagePlanId=plan["id"], keyId=key["id"])
    apigw.delete_usage_plan(usagePlanId=plan["id"])
    apigw.delete_api_key(apiKey=key["id"])
    apigw.delete_rest_api(restApiId=api_id)


def _signed_get(cloudlet: CloudletProcess, url: str, credentials: Credentials) -> requests.Response:
    request = AWSRequest(method="GET", url=url)
    signer = BotoCredentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token)
    SigV4Auth(signer, "execute-api", cloudlet.region).add_auth(request)
    return requests.get(url, headers=dict(request.headers), timeout=10)


def test_aws_iam_methods_check_the_signature_and_the_callers_policies(cloudlet: CloudletProcess, apigw: Any,
                                                                      unique: str) -> None:
    api_id = apigw.create_rest_api(name=unique)["id"]
    mock_method(apigw, api_id, "/iam", response_template='{"caller": "$context.identity.userArn"}',
                authorizationType="AWS_IAM")
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    url = invoke_url(cloudlet, api_id, "/prod/iam")
    admin = cloudlet.root_credentials()

    unsigned = requests.get(url, timeout=10)
    assert (unsigned.status_code, unsigned.json()) == (403, {"message": "Missing Authentication Token"})
    answer = _signed_get(cloudlet, url, admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["caller"].startswith("arn:aws:")

    iam = cloudlet.client("iam")
    iam.create_user(UserName=unique)
    keys = iam.create_access_key(UserName=unique)["AccessKey"]
    user = Credentials(keys["AccessKeyId"], keys["SecretAccessKey"])
    denied = _signed_get(cloudlet, url, user)
    assert denied.status_code == 403
    user_arn = iam.get_user(UserName=unique)["User"]["Arn"]
    assert denied.json()["message"] == (f"User: {user_arn} is not authorized to perform: execute-api:Invoke on "
                                        f"resource: arn:aws:execute-api:{cloudlet.region}:{user_arn.split(':')[4]}:"
                                        f"{api_id}/prod/GET/iam")
    iam.put_user_policy(UserName=unique, PolicyName="invoke", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"arn:aws:execute-api:*:*:{api_id}/prod/*"}))
    assert _signed_get(cloudlet, url, user).status_code == 200
    apigw.delete_rest_api(restApiId=api_id)


def test_access_logs_reach_cloudwatch_logs(cloudlet: CloudletProcess, apigw: Any, unique: str) -> None:
    logs = cloudlet.client("logs")
    logs.create_log_group(logGroupName=f"/apigw/{unique}")
    group_arn = logs.describe_log_groups(logGroupNamePrefix=f"/apigw/{unique}")["logGroups"][0]["arn"]
    api_id = apigw.create_rest_api(name=unique)["id"]
    mock_method(apigw, api_id, "/logged", response_template="{}")
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": group_arn.removesuffix(":*")},
        {"op": "replace", "path": "/accessLogSettings/format",
         "value": "$context.requestId $context.httpMethod $context.resourcePath $context.status"}])
    answer = requests.get(invoke_url(cloudlet, api_id, "/prod/logged"), timeout=10)
    events: list[dict[str, Any]] = []
    for _ in range(50):
        events = logs.filter_log_events(logGroupName=f"/apigw/{unique}")["events"]
        if events:
            break
        time.sleep(0.1)
    assert [event["message"] for event in events] == [f"{answer.headers['x-amzn-RequestId']} GET /logged 200"]
    apigw.delete_rest_api(restApiId=api_id)


def test_an_aws_integration_sends_to_sqs_as_its_role(cloudlet: CloudletProcess, apigw: Any, unique: str) -> None:
    sqs, iam = cloudlet.client("sqs"), cloudlet.client("iam")
    queue_url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    trust = _policy({"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                     "Action": "sts:AssumeRole"})
    role = iam.create_role(RoleName=unique, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    api_id = apigw.create_rest_api(name=unique)["id"]
    resource_id = resource(apigw, api_id, "/messages")
    apigw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api_id, resourceId=resource_id, httpMethod="POST", type="AWS", integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{cloudlet.region}:sqs:path/{cloudlet.account_id}/{unique}", credentials=role,
        requestParameters={"integration.request.header.Content-Type": "'application/x-www-form-urlencoded'"},
        requestTemplates={"application/json": "Action=SendMessage&MessageBody=$util.urlEncode($input.body)"},
        passthroughBehavior="NEVER")
    for status, pattern in (("200", None), ("403", "4\\d\\d")):
        apigw.put_method_response(restApiId=api_id, resourceId=resource_id, httpMethod="POST", statusCode=status)
        apigw.put_integration_response(
            restApiId=api_id, resourceId=resource_id, httpMethod="POST", statusCode=status,
            **({"selectionPattern": pattern} if pattern else {}),
            responseTemplates={"application/json": '{"queued": "$util.escapeJavaScript($input.body)"}' if status == "200"
                               else '{"refused": true}'})
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    url = invoke_url(cloudlet, api_id, "/prod/messages")

    refused = requests.post(url, json={"order": 1}, timeout=10)      # the role may not send yet
    assert (refused.status_code, refused.json()) == (403, {"refused": True})
    iam.put_role_policy(RoleName=unique, PolicyName="send", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}))
    sent = requests.post(url, json={"order": 1}, timeout=10)
    assert sent.status_code == 200, sent.text
    assert "SendMessageResponse" in sent.json()["queued"]
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    assert [json.loads(message["Body"]) for message in messages] == [{"order": 1}]

    iam.update_assume_role_policy(RoleName=unique, PolicyDocument=_policy(
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    untrusted = requests.post(url, json={"order": 2}, timeout=10)
    assert (untrusted.status_code, untrusted.json()) == (500, {"message": "Internal server error"})
    apigw.delete_rest_api(restApiId=api_id)


def test_gateway_responses_and_private_endpoints(cloudlet: CloudletProcess, apigw: Any, unique: str) -> None:
    api_id = apigw.create_rest_api(name=unique)["id"]
    mock_method(apigw, api_id, "/here", response_template="{}")
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    apigw.put_gateway_response(
        restApiId=api_id, responseType="MISSING_AUTHENTICATION_TOKEN", statusCode="404",
        responseParameters={"gatewayresponse.header.x-route": "'none'"},
        responseTemplates={"application/json": '{"error": "no route for $context.httpMethod", '
                                               '"type": "$context.error.responseType"}'})
    missing = requests.get(invoke_url(cloudlet, api_id, "/prod/elsewhere"), timeout=10)
    assert (missing.status_code, missing.json()) == (
        404, {"error": "no route for GET", "type": "MISSING_AUTHENTICATION_TOKEN"})
    assert missing.headers["x-route"] == "none"

    private = apigw.create_rest_api(name=f"{unique}-private", endpointConfiguration={"types": ["PRIVATE"]})["id"]
    mock_method(apigw, private, "/here", response_template="{}")
    apigw.create_deployment(restApiId=private, stageName="prod")
    outside = requests.get(invoke_url(cloudlet, private, "/prod/here"), timeout=10)  # not through an endpoint
    assert (outside.status_code, outside.json()) == (403, {"message": "Forbidden"})
    for rest_api in (api_id, private):
        apigw.delete_rest_api(restApiId=rest_api)
