"""WAF's evaluator on its own: web ACL documents compiled and judged against requests, with no server.

SQL injection in a query string is blocked, a Count rule records without blocking, IP sets match source
addresses (IPv4 and IPv6) and forwarded ones, rate-based rules block past their limit in the window and
not after it, byte matches honour their positions and transformations, and a custom response is rendered."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections import defaultdict
from typing import Any

import pytest

from controller.wafv2 import detect, errors, log_config, rules, transforms
from controller.wafv2.evaluate import Facts, Sets, compile_acl, judge, verdict
from controller.wafv2.runtime import WafRuntime

IPSET = "arn:aws:wafv2:home-1:000000000000:regional/ipset/office/11111111-1111-1111-1111-111111111111"
REGEXSET = "arn:aws:wafv2:home-1:000000000000:regional/regexpatternset/bad/22222222-2222-2222-2222-222222222222"
SETS = Sets(ip_sets={IPSET: [ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("2001:db8::/32")]},
            regex_sets={REGEXSET: [re.compile(r"^/admin/\d+$")]})


def visibility(name: str, sampled: bool = True) -> dict[str, Any]:
    return {"SampledRequestsEnabled": sampled, "CloudWatchMetricsEnabled": False, "MetricName": name}


def rule(name: str, priority: int, statement: dict[str, Any], action: str = "Block", **extra: Any) -> dict[str, Any]:
    return {"Name": name, "Priority": priority, "Statement": statement, "Action": {action: extra.pop("settings", {})},
            "VisibilityConfig": visibility(name), **extra}


def acl(*rule_list: dict[str, Any], default: str = "Allow", bodies: dict[str, Any] | None = None) -> Any:
    doc = {"Name": "front", "Id": "acl-1", "LabelNamespace": "awswaf:000000000000:webacl:front:",
           "Rules": list(rule_list), "DefaultAction": {default: {}}, "VisibilityConfig": visibility("front"),
           "CustomResponseBodies": bodies or {}}
    rules.check_rules(doc["Rules"], doc["CustomResponseBodies"])
    return compile_acl(doc, SETS)


def request(query: str = "", *, ip: str = "192.0.2.7", path: str = "/prod/items", method: str = "GET",
            headers: dict[str, str] | None = None, body: bytes = b"") -> Facts:
    return Facts(method=method, path=path, raw_query=query, headers=headers or {}, body=body, source_ip=ip)


class Counter:
    def __init__(self) -> None:
        self.hits: dict[tuple[str, ...], list[float]] = defaultdict(list)

    def hit(self, key: tuple[str, ...], window: float, now: float) -> int:
        self.hits[key].append(now)
        return sum(1 for at in self.hits[key] if at > now - window)


SQLI_QUERY = {"SqliMatchStatement": {"FieldToMatch": {"QueryString": {}},
                                     "TextTransformations": [{"Priority": 0, "Type": "URL_DECODE"}]}}


def blocked(compiled: Any, facts: Facts, rates: Any = None, now: float = 1000.0) -> bool:
    return judge(compiled, facts, rates or Counter(), now).action == "BLOCK"


def test_sql_injection_in_the_query_string_is_blocked() -> None:
    compiled = acl(rule("sqli", 0, SQLI_QUERY))
    assert blocked(compiled, request("id=1'%20OR%20'1'%3D'1"))
    assert blocked(compiled, request("id=1%20UNION%20SELECT%20password%20FROM%20users"))
    assert blocked(compiled, request("name=admin'--"))
    assert not blocked(compiled, request("id=1"))
    assert not blocked(compiled, request("name=O'Brien&city=rock%20and%20roll"))
    outcome = judge(compiled, request("id=1'%20OR%20'1'%3D'1"), Counter(), 1.0)
    answer = verdict(compiled, outcome)
    assert outcome.rule == "sqli" and answer is not None and (answer.status, answer.body) == (403, b"")


def test_without_url_decode_the_encoded_injection_is_not_seen_but_the_raw_one_is() -> None:
    statement = {"SqliMatchStatement": {"FieldToMatch": {"SingleQueryArgument": {"Name": "ID"}},
                                        "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    compiled = acl(rule("sqli", 0, statement))
    assert not blocked(compiled, request("id=1%27%20OR%20%271%27%3D%271"))
    assert blocked(compiled, request("id=1' OR '1'='1"))
    assert not blocked(compiled, request("other=1' OR '1'='1"))


def test_count_records_the_match_and_lets_the_request_through() -> None:
    compiled = acl(rule("watch", 0, SQLI_QUERY, "Count", RuleLabels=[{"Name": "suspect"}]))
    outcome = judge(compiled, request("id=1'%20OR%20'1'%3D'1"), Counter(), 1.0)
    assert outcome.action == "ALLOW" and verdict(compiled, outcome) is None
    assert [(s.metric, s.action) for s in outcome.samples] == [("watch", "COUNT"), ("front", "ALLOW")]
    assert outcome.labels == ["awswaf:000000000000:webacl:front:suspect"]


def test_a_count_rule_label_can_decide_a_later_rule() -> None:
    compiled = acl(rule("watch", 0, SQLI_QUERY, "Count", RuleLabels=[{"Name": "sqli:seen"}]),
                   rule("by-label", 1, {"LabelMatchStatement": {"Scope": "NAMESPACE", "Key": "sqli:"}}))
    outcome = judge(compiled, request("q=1%20OR%201%3D1"), Counter(), 1.0)
    assert (outcome.action, outcome.rule) == ("BLOCK", "by-label")
    assert not blocked(compiled, request("q=1"))


def test_ip_sets_match_source_addresses_of_both_versions_and_forwarded_ones() -> None:
    outside = {"NotStatement": {"Statement": {"IPSetReferenceStatement": {"ARN": IPSET}}}}
    compiled = acl(rule("office-only", 0, outside))
    assert not blocked(compiled, request(ip="10.1.2.3"))
    assert not blocked(compiled, request(ip="2001:db8::5"))
    assert blocked(compiled, request(ip="10.2.0.1"))
    assert blocked(compiled, request(ip="2001:db9::1"))
    forwarded = acl(rule("deny", 0, {"IPSetReferenceStatement": {"ARN": IPSET, "IPSetForwardedIPConfig": {
        "HeaderName": "X-Forwarded-For", "FallbackBehavior": "MATCH", "Position": "LAST"}}}))
    assert blocked(forwarded, request(headers={"x-forwarded-for": "192.0.2.1, 10.1.9.9"}))
    assert not blocked(forwarded, request(headers={"x-forwarded-for": "10.1.9.9, 192.0.2.1"}))
    assert blocked(forwarded, request(headers={"x-forwarded-for": "not-an-address"}))


def test_rate_based_rules_block_past_the_limit_per_source_ip_within_the_window() -> None:
    statement = {"RateBasedStatement": {"Limit": 10, "EvaluationWindowSec": 60, "AggregateKeyType": "IP"}}
    compiled = acl(rule("flood", 0, statement))
    rates = WafRuntime()
    answers = [blocked(compiled, request(ip="192.0.2.1"), rates, 1000.0 + i) for i in range(12)]
    assert answers == [False] * 10 + [True, True]
    assert not blocked(compiled, request(ip="192.0.2.2"), rates, 1012.0)
    assert not blocked(compiled, request(ip="192.0.2.1"), rates, 1100.0)
    assert blocked(compiled, request(ip="192.0.2.3"), rates, 1200.0) is False
    for _ in range(10):
        blocked(compiled, request(ip="192.0.2.3"), rates, 1200.0)
    assert blocked(compiled, request(ip="192.0.2.3"), rates, 1200.0)
    changed = acl(rule("flood", 0, {"RateBasedStatement": dict(statement["RateBasedStatement"], Limit=20)}))
    assert not blocked(changed, request(ip="192.0.2.3"), rates, 1200.0)    # new settings, counts start again
    with pytest.raises(errors.ServiceError, match="field: SCOPE_DOWN"):
        rules.check_rules([rule("all", 0, {"RateBasedStatement": {"Limit": 10, "AggregateKeyType": "CONSTANT"}})],
                          {})


def test_rate_based_scope_down_counts_only_what_it_selects() -> None:
    statement = {"RateBasedStatement": {"Limit": 10, "AggregateKeyType": "IP", "ScopeDownStatement": {
        "ByteMatchStatement": {"SearchString": base64.b64encode(b"POST").decode(), "FieldToMatch": {"Method": {}},
                               "PositionalConstraint": "EXACTLY",
                               "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}}}
    compiled = acl(rule("posts", 0, statement))
    rates = Counter()
    assert not any(blocked(compiled, request(), rates, 1.0) for _ in range(20))
    posts = [blocked(compiled, request(method="POST"), rates, 2.0) for _ in range(11)]
    assert posts[-1] and not posts[-2]


def byte_match(search: str, position: str, target: dict[str, Any], *types: str) -> dict[str, Any]:
    return {"ByteMatchStatement": {
        "SearchString": base64.b64encode(search.encode()).decode(), "FieldToMatch": target,
        "PositionalConstraint": position,
        "TextTransformations": [{"Priority": i, "Type": t} for i, t in enumerate(types or ("NONE",))]}}


@pytest.mark.parametrize(("search", "position", "value", "expected"), [
    ("/prod/admin", "STARTS_WITH", "/prod/admin/1", True),
    ("/prod/admin", "STARTS_WITH", "/prod/items", False),
    (".php", "ENDS_WITH", "/prod/index.php", True),
    ("/prod/items", "EXACTLY", "/prod/items", True),
    ("/prod/items", "EXACTLY", "/prod/items/", False),
    ("admin", "CONTAINS", "/prod/xadminx", True),
    ("admin", "CONTAINS_WORD", "/prod/xadminx", False),
    ("admin", "CONTAINS_WORD", "/prod/admin/x", True),
])
def test_byte_match_positions(search: str, position: str, value: str, expected: bool) -> None:
    compiled = acl(rule("path", 0, byte_match(search, position, {"UriPath": {}})))
    assert blocked(compiled, request(path=value)) is expected


def test_byte_match_on_a_header_after_transformations() -> None:
    compiled = acl(rule("agent", 0, byte_match("bad bot", "CONTAINS", {"SingleHeader": {"Name": "User-Agent"}},
                                               "LOWERCASE", "COMPRESS_WHITE_SPACE")))
    assert blocked(compiled, request(headers={"user-agent": "Mozilla BAD \t  Bot/1.0"}))
    assert not blocked(compiled, request(headers={"user-agent": "Mozilla"}))
    assert not blocked(compiled, request())


def test_regex_sets_xss_size_and_default_block_with_a_custom_response() -> None:
    compiled = acl(
        rule("allow-admin", 0, {"RegexPatternSetReferenceStatement": {
            "ARN": REGEXSET, "FieldToMatch": {"UriPath": {}},
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}},
            "Allow"),
        rule("xss", 1, {"XssMatchStatement": {
            "FieldToMatch": {"Body": {}}, "TextTransformations": [{"Priority": 0, "Type": "HTML_ENTITY_DECODE"}]}}),
        rule("big", 2, {"SizeConstraintStatement": {"FieldToMatch": {"Body": {"OversizeHandling": "MATCH"}},
                                                    "ComparisonOperator": "GT", "Size": 100,
                                                    "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}},
             settings={"CustomResponse": {"ResponseCode": 413, "CustomResponseBodyKey": "too-big",
                                          "ResponseHeaders": [{"Name": "reason", "Value": "size"}]}}),
        rule("posts", 3, byte_match("POST", "EXACTLY", {"Method": {}}), "Allow"),
        default="Block", bodies={"too-big": {"ContentType": "APPLICATION_JSON", "Content": '{"error":"too big"}'}})
    assert not blocked(compiled, request(path="/admin/7"))
    assert blocked(compiled, request(method="POST", body=b"&lt;script&gt;alert(1)&lt;/script&gt;"))
    assert not blocked(compiled, request(method="POST", body=b"hello"))
    answer = verdict(compiled, judge(compiled, request(method="POST", body=b"x" * 101), Counter(), 1.0))
    assert answer is not None and answer.status == 413 and answer.body == b'{"error":"too big"}'
    assert ("content-type", "application/json") in answer.headers and ("x-amzn-waf-reason", "size") in answer.headers
    default = judge(compiled, request(), Counter(), 1.0)
    assert (default.action, default.rule) == ("BLOCK", None)


def test_checks_refuse_what_aws_refuses_and_count_capacity() -> None:
    with pytest.raises(errors.ServiceError, match="field: GEO_MATCH_STATEMENT"):
        rules.check_rules([rule("geo", 0, {"GeoMatchStatement": {"CountryCodes": ["DE"]}})], {})
    with pytest.raises(errors.ServiceError, match="field: RULE"):
        rules.check_rules([rule("a", 0, SQLI_QUERY), rule("b", 0, SQLI_QUERY)], {})
    nested = {"NotStatement": {"Statement": {"RateBasedStatement": {"Limit": 100, "AggregateKeyType": "IP"}}}}
    with pytest.raises(errors.ServiceError, match="field: RATE_BASED_STATEMENT"):
        rules.check_rules([rule("r", 0, nested)], {})
    custom = {"CustomResponse": {"ResponseCode": 403, "CustomResponseBodyKey": "missing"}}
    with pytest.raises(errors.ServiceError, match="field: CUSTOM_RESPONSE_BODY"):
        rules.check_rules([rule("c", 0, SQLI_QUERY, settings=custom)], {})
    assert rules.check_rules([rule("s", 0, SQLI_QUERY)], {}).capacity == 30
    both = rules.check_rules([rule("s", 0, SQLI_QUERY),
                              rule("i", 1, {"IPSetReferenceStatement": {"ARN": IPSET}})], {})
    assert both.capacity == 31 and both.references == {IPSET}


def test_transformations_and_detectors() -> None:
    assert transforms.apply("%3Cscript%3E+x", ["URL_DECODE"]) == "<script> x"
    assert transforms.apply("C:\\Win^dows\\, /c", ["CMD_LINE"]) == "c:windows /c"
    assert transforms.apply("a/*x*/b", ["REPLACE_COMMENTS"]) == "a b"
    assert transforms.apply("/a//b/./c/../d", ["NORMALIZE_PATH"]) == "/a/b/d"
    assert transforms.apply("0x414243", ["SQL_HEX_DECODE"]) == "ABC"
    assert transforms.apply("PHNjcmlwdD4=", ["BASE64_DECODE"]) == "<script>"
    assert detect.is_sql_injection("1 AND SLEEP(5)") and detect.is_sql_injection("'; DROP TABLE users--")
    assert not detect.is_sql_injection("it's a good day") and not detect.is_sql_injection("tom & jerry")
    assert detect.is_xss('<img src=x onerror="alert(1)">') and detect.is_xss("<a href='javascript:go()'>")
    assert not detect.is_xss("1 < 2 and 3 > 2") and not detect.is_xss("<b>bold</b>")


def test_logging_filters_keep_by_action_and_label_and_records_redact() -> None:
    compiled = acl(rule("watch", 0, SQLI_QUERY, "Count", RuleLabels=[{"Name": "sqli"}]))
    facts = request("id=1%20OR%201%3D1", headers={"authorization": "secret", "x-a": "1"})
    outcome = judge(compiled, facts, Counter(), 1.0)
    config = {"ResourceArn": "arn:acl", "LogDestinationConfigs": ["arn:aws:logs:home-1:0:log-group:aws-waf-logs-x"],
              "RedactedFields": [{"SingleHeader": {"Name": "Authorization"}}, {"QueryString": {}}],
              "LoggingFilter": {"DefaultBehavior": "DROP", "Filters": [{
                  "Behavior": "KEEP", "Requirement": "MEETS_ANY", "Conditions": [
                      {"LabelNameCondition": {"LabelName": "awswaf:000000000000:webacl:front:sqli"}}]}]}}
    assert log_config.kept(config, outcome)
    assert not log_config.kept(config, judge(compiled, request("id=1"), Counter(), 1.0))
    line = json.loads(log_config.record(config, "arn:acl", "0:api:prod", facts, outcome, request_id="r",
                                        status=None, at_ms=5))
    assert (line["action"], line["terminatingRuleId"], line["httpRequest"]["args"]) == ("ALLOW", "Default_Action",
                                                                                       "REDACTED")
    assert line["nonTerminatingMatchingRules"] == [{"ruleId": "watch", "action": "COUNT", "ruleMatchDetails": []}]
    assert {"name": "authorization", "value": "REDACTED"} in line["httpRequest"]["headers"]
    assert {"name": "x-a", "value": "1"} in line["httpRequest"]["headers"]
    assert log_config.log_group(config) == "aws-waf-logs-x"
