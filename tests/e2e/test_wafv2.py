"""WAF (wafv2) against a real ``cloudlet up`` with boto3: IP sets, regex pattern sets and web ACLs with their
lock tokens, AWS's errors and NextMarker paging, tags, and a web ACL in front of a REST API stage blocking an
SQL injection in the query string (403) while a plain request gets the MOCK integration's 200, with the
blocked request among the sampled ones."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.e2e.rest_api_helpers import invoke_url, mock_method
from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e
SCOPE = "REGIONAL"


@pytest.fixture
def waf(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("wafv2")


@pytest.fixture
def apigw(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("apigateway")


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, dict[str, Any]]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response


def visibility(name: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": False, "MetricName": name}


def test_ip_sets_with_lock_tokens_and_errors(waf: Any, unique: str) -> None:
    summary = waf.create_ip_set(Name=unique, Scope=SCOPE, IPAddressVersion="IPV4", Description="office",
                                Addresses=["10.1.0.0/16", "192.0.2.7/32"], Tags=[{"Key": "team", "Value": "web"}]
                                )["Summary"]
    assert summary["ARN"].startswith("arn:aws:wafv2:")
    assert summary["ARN"].endswith(f":regional/ipset/{unique}/{summary['Id']}")
    got = waf.get_ip_set(Name=unique, Scope=SCOPE, Id=summary["Id"])
    assert got["IPSet"]["Addresses"] == ["10.1.0.0/16", "192.0.2.7/32"] and got["IPSet"]["Description"] == "office"
    assert got["LockToken"] == summary["LockToken"]

    with pytest.raises(ClientError) as duplicate:
        waf.create_ip_set(Name=unique, Scope=SCOPE, IPAddressVersion="IPV4", Addresses=[])
    assert error_of(duplicate)[:2] == ("WAFDuplicateItemException", 400)
    with pytest.raises(ClientError) as bad_cidr:
        waf.create_ip_set(Name=unique + "-b", Scope=SCOPE, IPAddressVersion="IPV4", Addresses=["10.0.0.0/33"])
    code, _, response = error_of(bad_cidr)
    assert code == "WAFInvalidParameterException" and response["Field"] == "IP_ADDRESS"
    assert response["Parameter"] == "10.0.0.0/33" and "field: IP_ADDRESS" in response["Error"]["Message"]
    with pytest.raises(ClientError) as v6_in_v4:
        waf.create_ip_set(Name=unique + "-c", Scope=SCOPE, IPAddressVersion="IPV4", Addresses=["2001:db8::/32"])
    assert error_of(v6_in_v4)[0] == "WAFInvalidParameterException"
    with pytest.raises(ClientError) as cloudfront:
        waf.list_ip_sets(Scope="CLOUDFRONT")
    assert error_of(cloudfront)[2]["Field"] == "SCOPE_VALUE"
    with pytest.raises(ClientError) as wrong_name:
        waf.get_ip_set(Name=unique + "-other", Scope=SCOPE, Id=summary["Id"])
    assert error_of(wrong_name)[0] == "WAFNonexistentItemException"

    next_token = waf.update_ip_set(Name=unique, Scope=SCOPE, Id=summary["Id"], Addresses=["10.2.0.0/16"],
                                   LockToken=summary["LockToken"])["NextLockToken"]
    assert next_token != summary["LockToken"]
    with pytest.raises(ClientError) as stale:
        waf.update_ip_set(Name=unique, Scope=SCOPE, Id=summary["Id"], Addresses=[], LockToken=summary["LockToken"])
    assert error_of(stale)[0] == "WAFOptimisticLockException"
    got = waf.get_ip_set(Name=unique, Scope=SCOPE, Id=summary["Id"])
    assert got["IPSet"]["Addresses"] == ["10.2.0.0/16"] and got["LockToken"] == next_token
    assert "Description" not in got["IPSet"]      # an update replaces the whole set, as AWS's does

    assert waf.list_tags_for_resource(ResourceARN=summary["ARN"])["TagInfoForResource"]["TagList"] == [
        {"Key": "team", "Value": "web"}]
    waf.tag_resource(ResourceARN=summary["ARN"], Tags=[{"Key": "env", "Value": "prod"}])
    waf.untag_resource(ResourceARN=summary["ARN"], TagKeys=["team"])
    assert waf.list_tags_for_resource(ResourceARN=summary["ARN"])["TagInfoForResource"]["TagList"] == [
        {"Key": "env", "Value": "prod"}]

    with pytest.raises(ClientError) as stale_delete:
        waf.delete_ip_set(Name=unique, Scope=SCOPE, Id=summary["Id"], LockToken=summary["LockToken"])
    assert error_of(stale_delete)[0] == "WAFOptimisticLockException"
    waf.delete_ip_set(Name=unique, Scope=SCOPE, Id=summary["Id"], LockToken=next_token)
    with pytest.raises(ClientError) as gone:
        waf.get_ip_set(Name=unique, Scope=SCOPE, Id=summary["Id"])
    assert error_of(gone)[0] == "WAFNonexistentItemException"


def test_lists_page_with_limit_and_next_marker(waf: Any, unique: str) -> None:
    names = [f"{unique}-{i}" for i in range(5)]
    for name in reversed(names):
        waf.create_regex_pattern_set(Name=name, Scope=SCOPE, RegularExpressionList=[{"RegexString": "^/a"}])
    seen: list[str] = []
    pages = 0
    kwargs: dict[str, Any] = {"Scope": SCOPE, "Limit": 2}
    while True:
        page = waf.list_regex_pattern_sets(**kwargs)
        pages += 1
        assert len(page["RegexPatternSets"]) <= 2
        seen += [item["Name"] for item in page["RegexPatternSets"]]
        if "NextMarker" not in page:
            break
        kwargs["NextMarker"] = page["NextMarker"]
    assert [name for name in seen if name.startswith(unique)] == names and pages >= 3
    assert seen == sorted(seen)
    with pytest.raises(ClientError) as bad_regex:
        waf.create_regex_pattern_set(Name=unique + "-x", Scope=SCOPE, RegularExpressionList=[{"RegexString": "(a"}])
    assert error_of(bad_regex)[0] == "WAFInvalidParameterException"
    for item in waf.list_regex_pattern_sets(Scope=SCOPE)["RegexPatternSets"]:
        if item["Name"].startswith(unique):
            waf.delete_regex_pattern_set(Name=item["Name"], Scope=SCOPE, Id=item["Id"], LockToken=item["LockToken"])


def sqli_rule(name: str = "no-sqli", priority: int = 1, action: str = "Block") -> dict[str, Any]:
    return {"Name": name, "Priority": priority, "Action": {action: {}}, "VisibilityConfig": visibility(name),
            "Statement": {"SqliMatchStatement": {"FieldToMatch": {"QueryString": {}},
                                                 "TextTransformations": [{"Priority": 0, "Type": "URL_DECODE"}]}}}


def test_web_acls_read_back_what_was_written_and_refuse_what_aws_refuses(waf: Any, unique: str) -> None:
    ip_set = waf.create_ip_set(Name=unique, Scope=SCOPE, IPAddressVersion="IPV6", Addresses=["2001:db8::/32"]
                               )["Summary"]
    agent_rule = {"Name": "bad-agent", "Priority": 0, "Action": {"Count": {}},
                  "VisibilityConfig": visibility("agent"),
                  "RuleLabels": [{"Name": "bot"}],
                  "Statement": {"ByteMatchStatement": {
                      "SearchString": b"curl/", "FieldToMatch": {"SingleHeader": {"Name": "user-agent"}},
                      "PositionalConstraint": "STARTS_WITH",
                      "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}]}}}
    ip_rule = {"Name": "v6-lab", "Priority": 2, "Action": {"Allow": {}}, "VisibilityConfig": visibility("lab"),
               "Statement": {"IPSetReferenceStatement": {"ARN": ip_set["ARN"]}}}
    rules = [agent_rule, sqli_rule(), ip_rule]
    assert waf.check_capacity(Scope=SCOPE, Rules=rules)["Capacity"] == 2 + 10 + 30 + 1
    created = waf.create_web_acl(
        Name=unique, Scope=SCOPE, DefaultAction={"Allow": {}}, Rules=rules, VisibilityConfig=visibility(unique),
        Description="front door", Tags=[{"Key": "app", "Value": "shop"}],
        CustomResponseBodies={"nope": {"ContentType": "TEXT_PLAIN", "Content": "blocked"}})["Summary"]
    assert created["ARN"].endswith(f":regional/webacl/{unique}/{created['Id']}")
    got = waf.get_web_acl(Name=unique, Scope=SCOPE, Id=created["Id"])
    acl = got["WebACL"]
    assert acl["Rules"][0]["Statement"]["ByteMatchStatement"]["SearchString"] == b"curl/"
    assert [rule["Name"] for rule in acl["Rules"]] == ["bad-agent", "no-sqli", "v6-lab"]
    assert acl["Capacity"] == 43 and acl["DefaultAction"] == {"Allow": {}} and acl["Description"] == "front door"
    assert acl["LabelNamespace"] == f"awswaf:{created['ARN'].split(':')[4]}:webacl:{unique}:"
    assert waf.get_web_acl(ARN=created["ARN"])["WebACL"]["Id"] == created["Id"]
    assert created["Id"] in [item["Id"] for item in waf.list_web_acls(Scope=SCOPE, Limit=100)["WebACLs"]]

    with pytest.raises(ClientError) as in_use:
        waf.delete_ip_set(Name=unique, Scope=SCOPE, Id=ip_set["Id"], LockToken=ip_set["LockToken"])
    assert error_of(in_use)[0] == "WAFAssociatedItemException"
    missing_arn = ip_set["ARN"][:-36] + "00000000-0000-0000-0000-000000000000"
    missing = dict(ip_rule, Statement={"IPSetReferenceStatement": {"ARN": missing_arn}})
    with pytest.raises(ClientError) as nonexistent:
        waf.update_web_acl(Name=unique, Scope=SCOPE, Id=created["Id"], DefaultAction={"Allow": {}},
                           Rules=[missing], VisibilityConfig=visibility(unique), LockToken=got["LockToken"])
    assert error_of(nonexistent)[0] == "WAFNonexistentItemException"
    geo = {"Name": "geo", "Priority": 0, "Action": {"Block": {}}, "VisibilityConfig": visibility("geo"),
           "Statement": {"GeoMatchStatement": {"CountryCodes": ["DE"]}}}
    with pytest.raises(ClientError) as unsupported:
        waf.update_web_acl(Name=unique, Scope=SCOPE, Id=created["Id"], DefaultAction={"Allow": {}},
                           Rules=[geo], VisibilityConfig=visibility(unique), LockToken=got["LockToken"])
    assert error_of(unsupported)[2]["Field"] == "GEO_MATCH_STATEMENT"
    with pytest.raises(ClientError) as same_priority:
        waf.update_web_acl(Name=unique, Scope=SCOPE, Id=created["Id"], DefaultAction={"Allow": {}},
                           Rules=[sqli_rule("a", 1), sqli_rule("b", 1)], VisibilityConfig=visibility(unique),
                           LockToken=got["LockToken"])
    assert error_of(same_priority)[0] == "WAFInvalidParameterException"

    token = waf.update_web_acl(Name=unique, Scope=SCOPE, Id=created["Id"], DefaultAction={"Block": {}},
                               Rules=[sqli_rule()], VisibilityConfig=visibility(unique), LockToken=got["LockToken"]
                               )["NextLockToken"]
    with pytest.raises(ClientError) as stale:
        waf.update_web_acl(Name=unique, Scope=SCOPE, Id=created["Id"], DefaultAction={"Allow": {}},
                           VisibilityConfig=visibility(unique), LockToken=got["LockToken"])
    assert error_of(stale)[0] == "WAFOptimisticLockException"
    updated = waf.get_web_acl(Name=unique, Scope=SCOPE, Id=created["Id"])
    assert updated["LockToken"] == token and updated["WebACL"]["DefaultAction"] == {"Block": {}}
    assert "CustomResponseBodies" not in updated["WebACL"] and updated["WebACL"]["Capacity"] == 30
    assert waf.list_tags_for_resource(ResourceARN=created["ARN"])["TagInfoForResource"]["TagList"] == [
        {"Key": "app", "Value": "shop"}]

    waf.delete_web_acl(Name=unique, Scope=SCOPE, Id=created["Id"], LockToken=token)
    waf.delete_ip_set(Name=unique, Scope=SCOPE, Id=ip_set["Id"], LockToken=ip_set["LockToken"])
    with pytest.raises(ClientError) as gone:
        waf.get_web_acl(ARN=created["ARN"])
    assert error_of(gone)[0] == "WAFNonexistentItemException"


def test_a_web_acl_in_front_of_a_rest_stage_blocks_sql_injection(cloudlet: CloudletProcess, waf: Any, apigw: Any,
                                                                  unique: str) -> None:
    api_id = apigw.create_rest_api(name=unique)["id"]
    mock_method(apigw, api_id, "/items", response_template='{"items": []}')
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    stage_arn = f"arn:aws:apigateway:{cloudlet.region}::/restapis/{api_id}/stages/prod"
    acl = waf.create_web_acl(Name=unique, Scope=SCOPE, DefaultAction={"Allow": {}}, Rules=[sqli_rule()],
                             VisibilityConfig=visibility(unique))["Summary"]
    url = invoke_url(cloudlet, api_id, "/prod/items")
    assert requests.get(url, params={"id": "1' OR '1'='1"}, timeout=10).status_code == 200   # nothing associated yet

    with pytest.raises(ClientError) as no_stage:
        waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=stage_arn.replace("/prod", "/qa"))
    assert error_of(no_stage)[0] == "WAFNonexistentItemException"
    with pytest.raises(ClientError) as not_a_stage:
        waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn="arn:aws:s3:::a-bucket-of-ours")
    assert error_of(not_a_stage)[2]["Field"] == "RESOURCE_ARN"
    waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=stage_arn)
    assert waf.get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]["Id"] == acl["Id"]
    assert waf.list_resources_for_web_acl(WebACLArn=acl["ARN"], ResourceType="API_GATEWAY")["ResourceArns"] == [
        stage_arn]
    assert waf.list_resources_for_web_acl(WebACLArn=acl["ARN"])["ResourceArns"] == []   # the default type is ALB

    logs = cloudlet.client("logs")
    group = f"aws-waf-logs-{unique}"
    group_arn = f"arn:aws:logs:{cloudlet.region}:{cloudlet.account_id}:log-group:{group}"
    with pytest.raises(ClientError) as no_group:
        waf.put_logging_configuration(LoggingConfiguration={"ResourceArn": acl["ARN"],
                                                            "LogDestinationConfigs": [group_arn]})
    assert error_of(no_group)[0] == "WAFNonexistentItemException"
    with pytest.raises(ClientError) as bad_name:
        waf.put_logging_configuration(LoggingConfiguration={
            "ResourceArn": acl["ARN"], "LogDestinationConfigs": [group_arn.replace("aws-waf-logs-", "mine-")]})
    assert error_of(bad_name)[2]["Field"] == "LOG_DESTINATION"
    logs.create_log_group(logGroupName=group)
    waf.put_logging_configuration(LoggingConfiguration={
        "ResourceArn": acl["ARN"], "LogDestinationConfigs": [group_arn],
        "RedactedFields": [{"SingleHeader": {"Name": "authorization"}}]})
    assert waf.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]["LogDestinationConfigs"] == [
        group_arn]

    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    blocked = requests.get(url, params={"id": "1' OR '1'='1"}, headers={"x-probe": "sqli", "authorization": "secret"},
                           timeout=10)
    assert blocked.status_code == 403 and blocked.json() == {"message": "Forbidden"}
    allowed = requests.get(url, params={"id": "1"}, headers={"x-probe": "plain"}, timeout=10)
    assert allowed.status_code == 200 and allowed.json() == {"items": []}

    window = {"StartTime": since, "EndTime": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)}
    by_rule = waf.get_sampled_requests(WebAclArn=acl["ARN"], RuleMetricName="no-sqli", Scope=SCOPE,
                                       TimeWindow=window, MaxItems=100)
    [sample] = by_rule["SampledRequests"]
    assert sample["Action"] == "BLOCK" and by_rule["PopulationSize"] == 1
    assert sample["Request"]["URI"] == "/prod/items" and sample["Request"]["Method"] == "GET"
    assert {"Name": "x-probe", "Value": "sqli"} in sample["Request"]["Headers"] and sample["ResponseCodeSent"] == 403
    by_default = waf.get_sampled_requests(WebAclArn=acl["ARN"], RuleMetricName=unique, Scope=SCOPE,
                                          TimeWindow=window, MaxItems=100)["SampledRequests"]
    assert [s["Action"] for s in by_default] == ["ALLOW"]
    assert {"Name": "x-probe", "Value": "plain"} in by_default[0]["Request"]["Headers"]

    stream = f"{cloudlet.region}_{unique}_0"
    records = [json.loads(event["message"]) for event in logs.get_log_events(
        logGroupName=group, logStreamName=stream, startFromHead=True)["events"]]
    assert [(r["action"], r["terminatingRuleId"], r["httpRequest"]["args"]) for r in records] == [
        ("BLOCK", "no-sqli", "id=1%27+OR+%271%27%3D%271"), ("ALLOW", "Default_Action", "id=1")]
    assert {"name": "authorization", "value": "REDACTED"} in records[0]["httpRequest"]["headers"]
    assert records[0]["webaclId"] == acl["ARN"] and records[0]["httpSourceId"].endswith(f":{api_id}:prod")
    waf.delete_logging_configuration(ResourceArn=acl["ARN"])
    with pytest.raises(ClientError) as no_logging:
        waf.get_logging_configuration(ResourceArn=acl["ARN"])
    assert error_of(no_logging)[0] == "WAFNonexistentItemException"

    token = waf.get_web_acl(ARN=acl["ARN"])["LockToken"]
    with pytest.raises(ClientError) as associated:
        waf.delete_web_acl(Name=unique, Scope=SCOPE, Id=acl["Id"], LockToken=token)
    assert error_of(associated)[0] == "WAFAssociatedItemException"
    waf.update_web_acl(Name=unique, Scope=SCOPE, Id=acl["Id"], DefaultAction={"Allow": {}},
                       Rules=[sqli_rule(action="Count")], VisibilityConfig=visibility(unique), LockToken=token)
    assert requests.get(url, params={"id": "1' OR '1'='1"}, timeout=10).status_code == 200   # counted, not blocked

    waf.disassociate_web_acl(ResourceArn=stage_arn)
    assert "WebACL" not in waf.get_web_acl_for_resource(ResourceArn=stage_arn)
    assert "webAclArn" not in apigw.get_stage(restApiId=api_id, stageName="prod")

    # A deleted stage takes its association with it: made again, it has no web ACL, and the ACL may go.
    waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=stage_arn)
    assert apigw.get_stage(restApiId=api_id, stageName="prod")["webAclArn"] == acl["ARN"]
    deployment = apigw.get_stage(restApiId=api_id, stageName="prod")["deploymentId"]
    apigw.delete_stage(restApiId=api_id, stageName="prod")
    apigw.create_stage(restApiId=api_id, stageName="prod", deploymentId=deployment)
    assert "WebACL" not in waf.get_web_acl_for_resource(ResourceArn=stage_arn)
    assert waf.list_resources_for_web_acl(WebACLArn=acl["ARN"], ResourceType="API_GATEWAY")["ResourceArns"] == []
    waf.delete_web_acl(Name=unique, Scope=SCOPE, Id=acl["Id"], LockToken=waf.get_web_acl(ARN=acl["ARN"])["LockToken"])


def test_rate_limits_ip_sets_and_custom_responses_at_the_invoke_url(cloudlet: CloudletProcess, waf: Any,
                                                                      apigw: Any, unique: str) -> None:
    api_id = apigw.create_rest_api(name=unique)["id"]
    mock_method(apigw, api_id, "/items", response_template='{"items": []}')
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    stage_arn = f"arn:aws:apigateway:{cloudlet.region}::/restapis/{api_id}/stages/prod"
    loopback = waf.create_ip_set(Name=unique, Scope=SCOPE, IPAddressVersion="IPV4", Addresses=["127.0.0.0/8"]
                                 )["Summary"]
    header_is = {"ByteMatchStatement": {
        "SearchString": b"blocked-team", "FieldToMatch": {"SingleHeader": {"Name": "x-team"}},
        "PositionalConstraint": "EXACTLY", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    rules = [
        {"Name": "teapot", "Priority": 0, "VisibilityConfig": visibility("teapot"),
         "Action": {"Block": {"CustomResponse": {"ResponseCode": 418, "CustomResponseBodyKey": "tea",
                                                 "ResponseHeaders": [{"Name": "why", "Value": "team"}]}}},
         "Statement": {"AndStatement": {"Statements": [
             {"IPSetReferenceStatement": {"ARN": loopback["ARN"]}}, header_is]}}},
        {"Name": "flood", "Priority": 1, "Action": {"Block": {}}, "VisibilityConfig": visibility("flood"),
         "Statement": {"RateBasedStatement": {"Limit": 10, "EvaluationWindowSec": 60, "AggregateKeyType": "IP"}}},
    ]
    acl = waf.create_web_acl(Name=unique, Scope=SCOPE, DefaultAction={"Allow": {}}, Rules=rules,
                             VisibilityConfig=visibility(unique),
                             CustomResponseBodies={"tea": {"ContentType": "APPLICATION_JSON", "Content": '{"tea":1}'}}
                             )["Summary"]
    waf.associate_web_acl(WebACLArn=acl["ARN"], ResourceArn=stage_arn)
    url = invoke_url(cloudlet, api_id, "/prod/items")
    session = requests.Session()

    teapot = session.get(url, headers={"x-team": "blocked-team"}, timeout=10)
    assert teapot.status_code == 418 and teapot.json() == {"tea": 1}
    assert teapot.headers["x-amzn-waf-why"] == "team"
    statuses = [session.get(url, timeout=10).status_code for _ in range(11)]
    # A rate-based rule counts the requests that reach it: not the teapot one, which a rule before it ended.
    assert statuses == [200] * 10 + [403]
    waf.disassociate_web_acl(ResourceArn=stage_arn)
    assert session.get(url, timeout=10).status_code == 200
    waf.delete_web_acl(Name=unique, Scope=SCOPE, Id=acl["Id"], LockToken=waf.get_web_acl(ARN=acl["ARN"])["LockToken"])
    waf.delete_ip_set(Name=unique, Scope=SCOPE, Id=loopback["Id"], LockToken=loopback["LockToken"])
