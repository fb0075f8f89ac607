"""The REST data plane's pure parts: resource matching, the canary draw, Lambda proxy answers, VTL templates,
integration response selection, token buckets, quota periods, access log lines and resource policy ARNs."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from controller.apigateway.errors import BadRequestException
from controller.apigateway.rest_apis import expand_policy
from controller.execute_api.rest import access_log, mapping, matching, proxy_events, throttle, vtl


def _resource(path: str, *methods: str) -> dict:
    return {"id": path, "path": path, "resourceMethods": {m: {"httpMethod": m} for m in methods}}


RESOURCES = [_resource("/"), _resource("/pets", "GET"), _resource("/pets/{id}", "GET"),
             _resource("/pets/mine", "GET"), _resource("/{proxy+}", "ANY")]


@pytest.mark.parametrize(("method", "path", "resource", "params"), [
    ("GET", "/pets/mine", "/pets/mine", {}),                  # a literal beats {id}
    ("GET", "/pets/7", "/pets/{id}", {"id": "7"}),
    ("GET", "/pets/a%2Fb", "/pets/{id}", {"id": "a/b"}),      # an encoded slash stays in its segment
    ("POST", "/pets/7", "/{proxy+}", {"proxy": "pets/7"}),    # no POST on /pets/{id}: the greedy ANY catches it
    ("DELETE", "/a/b/c", "/{proxy+}", {"proxy": "a/b/c"}),
])
def test_matching_prefers_literals_then_params_then_greedy(method: str, path: str, resource: str,
                                                           params: dict) -> None:
    found = matching.match(RESOURCES, method, path)
    assert found is not None
    assert (found.resource["path"], found.path_parameters) == (resource, params)


def test_no_method_anywhere_is_no_match() -> None:
    assert matching.match([_resource("/"), _resource("/pets", "GET")], "POST", "/pets") is None
    assert matching.split_stage("/prod/pets/1") == ("prod", "/pets/1")


def test_canary_draw_and_overrides() -> None:
    stage = {"variables": {"v": "1", "w": "x"},
             "canarySettings": {"percentTraffic": 10.0, "stageVariableOverrides": {"v": "2"}}}
    primary, canary = {"id": "p"}, {"id": "c"}
    assert matching.pick(stage, primary, canary, draw=0.05) == matching.Served(canary, {"v": "2", "w": "x"}, True)
    assert matching.pick(stage, primary, canary, draw=0.10) == matching.Served(primary, {"v": "1", "w": "x"}, False)
    assert not matching.pick(stage, primary, None, draw=0.0).canary


def test_proxy_answers_and_malformed_ones() -> None:
    answer = proxy_events.response(json.dumps({"statusCode": "201", "headers": {"a": "1"},
                                               "multiValueHeaders": {"set-cookie": ["x=1", "y=2"]},
                                               "body": "hi"}).encode(), accept="", binary_media_types=[])
    assert answer.status == 201 and answer.body == b"hi"
    assert ("set-cookie", "x=1") in answer.headers and ("set-cookie", "y=2") in answer.headers
    binary = proxy_events.response(json.dumps({"statusCode": 200, "isBase64Encoded": True, "body": "AAE=",
                                               "headers": {"content-type": "image/png"}}).encode(),
                                   accept="", binary_media_types=["image/*"])
    assert binary.body == b"\x00\x01"
    for bad in (b"not json", b"[1]", b'{"body": "x"}', b'{"statusCode": 200, "body": {"a": 1}}',
                b'{"statusCode": 99}'):
        with pytest.raises(proxy_events.MalformedAnswer):
            proxy_events.response(bad, accept="", binary_media_types=[])


def _render(template: str, body: str = "", **params: dict) -> str:
    return vtl.render(template, body=body, params={"path": {}, "querystring": {}, "header": {}, **params},
                      context=vtl.context_map({"stage": "prod", "isCanaryRequest": False}),
                      stage_variables={"tier": "gold"})


def test_vtl_reads_the_request_the_way_api_gateway_documents() -> None:
    body = '{"name": "ada", "tags": ["a", "b"], "ok": true}'
    assert _render("$input.path('$.name').toUpperCase()", body) == "ADA"
    assert _render("$input.json('$.tags')", body) == '["a","b"]'
    assert _render("$input.path('$.tags').size()", body) == "2"
    assert _render("$input.path('$.ok')", body) == "true"
    assert _render("$input.params('id')", path={"id": "7"}) == "7"
    assert _render("$input.params('id').equals('7')", path={"id": "7"}) == "true"
    assert _render("$context.stage $stageVariables.tier $context.isCanaryRequest") == "prod gold false"
    assert _render("$util.escapeJavaScript(\"it's\")") == "it\\'s"
    assert _render("#foreach($t in $input.path('$.tags'))$t#if($foreach.hasNext),#end#end", body) == "a,b"
    with pytest.raises(vtl.TemplateFailure):
        _render("#if($input.path('$.ok'))x")  # no #end


def test_integration_responses_by_selection_pattern() -> None:
    responses = {"200": {"statusCode": "200"}, "404": {"statusCode": "404", "selectionPattern": "NotFound:.*"},
                 "500": {"statusCode": "500", "selectionPattern": "5\\d\\d"}}
    assert mapping.select_integration_response(responses, "NotFound: order 1")["statusCode"] == "404"
    assert mapping.select_integration_response(responses, "503")["statusCode"] == "500"
    assert mapping.select_integration_response(responses, "xNotFound:")["statusCode"] == "200"  # whole match
    assert mapping.select_integration_response({}, "x") is None


def test_request_templates_and_passthrough() -> None:
    templates = {"application/json": "{}"}
    assert mapping.choose_request_template(templates, "application/json; charset=utf-8", "NEVER").template == "{}"
    assert mapping.choose_request_template(templates, "text/plain", "WHEN_NO_MATCH").passthrough
    refused = mapping.choose_request_template(templates, "text/plain", "WHEN_NO_TEMPLATES")
    assert refused.template is None and not refused.passthrough
    assert mapping.choose_request_template({}, "text/plain", "WHEN_NO_TEMPLATES").passthrough


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    runtime = throttle.InvokeRuntime()
    allowed = [runtime.admit(("k",), rate=2.0, burst=3, now=100.0) for _ in range(5)]
    assert allowed == [True, True, True, False, False]
    assert runtime.admit(("k",), rate=2.0, burst=3, now=100.5)        # one token back after half a second
    assert not runtime.admit(("k",), rate=2.0, burst=3, now=100.5)


def test_method_limits_fall_back_from_method_to_stage_to_account() -> None:
    stage = {"methodSettings": {"*/*": {"throttlingRateLimit": 5.0, "throttlingBurstLimit": 10},
                                "pets/{id}/GET": {"throttlingRateLimit": 1.0, "throttlingBurstLimit": 2}}}
    assert throttle.method_limits(stage, "/pets/{id}", "GET") == (1.0, 2)
    assert throttle.method_limits(stage, "/pets", "GET") == (5.0, 10)
    assert throttle.method_limits({}, "/", "GET") == (throttle.ACCOUNT_RATE, throttle.ACCOUNT_BURST)


def test_quota_periods_and_counts() -> None:
    now = dt.datetime(2026, 12, 5, 15, 30, tzinfo=dt.UTC)       # a Saturday
    assert throttle.period_start("DAY", 0, now) == dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    assert throttle.period_start("WEEK", 0, now) == dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    assert throttle.period_start("MONTH", 10, now) == dt.datetime(2026, 11, 11, tzinfo=dt.UTC)
    runtime = throttle.InvokeRuntime()
    quota = {"limit": 2, "period": "DAY"}
    assert [runtime.count_quota("p", "k", quota, now) for _ in range(3)] == [True, True, False]
    assert runtime.count_quota("p", "k", quota, now + dt.timedelta(days=1))      # a new day, a new count


def test_access_log_lines() -> None:
    context = {"requestId": "r1", "identity": {"sourceIp": "10.0.0.1"}, "status": 200}
    assert access_log.line("$context.requestId $context.identity.sourceIp $context.status "
                           "$context.authorizer.principalId", context) == "r1 10.0.0.1 200 -"


def test_resource_policies_are_stored_with_full_arns() -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
         "Resource": ["execute-api:/prod/GET/*", "arn:aws:execute-api:*:*:*"]}]})
    stored = json.loads(expand_policy(text, "arn:aws:execute-api:home-1:123456789012:abc"))
    assert stored["Statement"][0]["Resource"] == ["arn:aws:execute-api:home-1:123456789012:abc/prod/GET/*",
                                                  "arn:aws:execute-api:*:*:*"]
    with pytest.raises(BadRequestException):
        expand_policy("{", "arn:x")
    with pytest.raises(BadRequestException):
        expand_policy(json.dumps({"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}), "arn:x")
