"""A web ACL's rules as AWS checks them before storing them, and what they cost in WCUs (pure).

Checks: one statement type per statement, one action per rule, one member per field to match, unique rule
names and priorities, text transformation priorities, custom responses whose body keys exist, rate-based
statements only at a rule's top, and the features Cloudlet does not serve (geo and ASN matches, rule groups,
managed rule groups, CAPTCHA and challenge actions, JA3/JA4 fingerprints) refused by name. Capacity follows
AWS's WCU table: a text transformation adds 10, a byte match costs 2 (10 when it searches anywhere in the
value), a regex 3, a regex pattern set 25, an IP set 1, SQLi 20 (30 HIGH), XSS 40, a size constraint 1,
a label match 1, a rate-based statement 2 plus its scope-down; inspecting every header, cookie or query
argument doubles the base cost.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from controller.wafv2 import errors
from controller.wafv2.transforms import TRANSFORMS

MAX_CAPACITY = 5000
_RULE_NAME = re.compile(r"[\w\-]{1,128}")
_METRIC = re.compile(r"[\w#:\.\-/]{1,255}")
_LABEL = re.compile(r"[0-9A-Za-z_\-:]{1,1024}")
_BODY_KEY = re.compile(r"[\w\-]{1,128}")
_HEADER_NAME = re.compile(r"[0-9A-Za-z_\-]{1,64}")
UNSUPPORTED_STATEMENTS = {"GeoMatchStatement": "GEO_MATCH_STATEMENT", "AsnMatchStatement": "STATEMENT",
                          "RuleGroupReferenceStatement": "RULE_GROUP_REFERENCE_STATEMENT",
                          "ManagedRuleGroupStatement": "MANAGED_RULE_SET_STATEMENT"}
FIELDS = {"UriPath", "QueryString", "SingleHeader", "SingleQueryArgument", "AllQueryArguments", "Body", "Method",
          "Headers", "Cookies"}
CONTENT_TYPES = {"TEXT_PLAIN", "TEXT_HTML", "APPLICATION_JSON"}
RATE_WINDOWS = {60, 120, 300, 600}


@dataclass
class Checked:
    """What checking found beyond errors: the WCUs, and the IP sets and regex pattern sets referenced."""

    capacity: int = 0
    references: set[str] = field(default_factory=set)


def _one(value: dict[str, Any] | None, field_name: str) -> str:
    present = [key for key, item in (value or {}).items() if item is not None]
    if len(present) != 1:
        raise errors.invalid(field_name, ",".join(present) or "null", errors.ONE_REQUIRED)
    return present[0]


def check_visibility(config: dict[str, Any], where: str) -> None:
    if not _METRIC.fullmatch(config.get("MetricName") or ""):
        raise errors.invalid("METRIC_NAME", config.get("MetricName"))
    for flag in ("SampledRequestsEnabled", "CloudWatchMetricsEnabled"):
        if not isinstance(config.get(flag), bool):
            raise errors.invalid(where, flag, errors.MISSING)


def check_bodies(bodies: dict[str, Any]) -> None:
    for key, body in bodies.items():
        if not _BODY_KEY.fullmatch(key):
            raise errors.invalid("CUSTOM_RESPONSE_BODY", key)
        if body.get("ContentType") not in CONTENT_TYPES:
            raise errors.invalid("RESPONSE_CONTENT_TYPE", body.get("ContentType"))
        content = body.get("Content") or ""
        if not 1 <= len(content) <= 10240:
            raise errors.invalid("CUSTOM_RESPONSE_BODY", key)
        if body["ContentType"] == "APPLICATION_JSON":
            try:
                json.loads(content)
            except ValueError:
                raise errors.invalid("CUSTOM_RESPONSE_BODY", key) from None


def check_action(action: dict[str, Any], bodies: dict[str, Any] | None, field_name: str, *, default: bool) -> str:
    kind = _one(action, field_name)
    if kind in ("Captcha", "Challenge", "Monetize"):
        raise errors.invalid(field_name, kind, errors.UNSUPPORTED)
    if default and kind not in ("Allow", "Block"):
        raise errors.invalid(field_name, kind)
    custom = (action[kind] or {}).get("CustomResponse")
    if custom is not None:
        if kind != "Block":
            raise errors.invalid("CUSTOM_RESPONSE", kind)
        if not 200 <= custom.get("ResponseCode", 0) <= 599:
            raise errors.invalid("CUSTOM_RESPONSE", custom.get("ResponseCode"))
        key = custom.get("CustomResponseBodyKey")
        if key is not None and bodies is not None and key not in bodies:
            raise errors.invalid("CUSTOM_RESPONSE_BODY", key, "The custom response body key does not exist.")
        for header in custom.get("ResponseHeaders") or []:
            if not _HEADER_NAME.fullmatch(header.get("Name") or ""):
                raise errors.invalid("HEADER_NAME", header.get("Name"))
    return kind


def _transformations(items: list[dict[str, Any]]) -> int:
    priorities = [item.get("Priority") for item in items]
    if len(set(priorities)) != len(priorities):
        raise errors.invalid("TEXT_TRANSFORMATION", priorities, errors.DUPLICATE_VALUE)
    for item in items:
        if item.get("Type") not in TRANSFORMS:
            raise errors.invalid("TEXT_TRANSFORMATION", item.get("Type"))
    return 10 * sum(1 for item in items if item["Type"] != "NONE")


def _field(target: dict[str, Any]) -> int:
    """Check a FieldToMatch; returns how many times the base cost it multiplies (2 for whole collections)."""
    kind = _one(target, "FIELD_TO_MATCH")
    if kind not in FIELDS:
        raise errors.invalid("FIELD_TO_MATCH", kind, errors.UNSUPPORTED)
    if kind in ("SingleHeader", "SingleQueryArgument") and not (target[kind] or {}).get("Name"):
        raise errors.invalid("SINGLE_HEADER" if kind == "SingleHeader" else "SINGLE_QUERY_ARGUMENT", kind,
                             errors.MISSING)
    if kind in ("Headers", "Cookies"):
        pattern = target[kind].get("MatchPattern") or {}
        _one(pattern, "HEADER_MATCH_PATTERN" if kind == "Headers" else "COOKIE_MATCH_PATTERN")
        if target[kind].get("MatchScope") not in ("ALL", "KEY", "VALUE"):
            raise errors.invalid("MAP_MATCH_SCOPE", target[kind].get("MatchScope"))
    return 2 if kind in ("AllQueryArguments", "Headers", "Cookies") else 1


def check_statement(statement: dict[str, Any], checked: Checked, *, top: bool) -> int:
    """Check one statement (recursively); returns its WCUs and records its references in ``checked``."""
    kind = _one(statement, "STATEMENT")
    body = statement[kind]
    if kind in UNSUPPORTED_STATEMENTS:
        raise errors.invalid(UNSUPPORTED_STATEMENTS[kind], kind, errors.UNSUPPORTED)
    if kind in ("AndStatement", "OrStatement"):
        nested = body.get("Statements") or []
        if len(nested) < 2:
            raise errors.invalid("AND_STATEMENT" if kind == "AndStatement" else "OR_STATEMENT", len(nested))
        return sum(check_statement(item, checked, top=False) for item in nested)
    if kind == "NotStatement":
        return check_statement(body["Statement"], checked, top=False)
    if kind == "RateBasedStatement":
        return _rate_based(body, checked, top)
    if kind == "LabelMatchStatement":
        if body.get("Scope") not in ("LABEL", "NAMESPACE") or not _LABEL.fullmatch(body.get("Key") or ""):
            raise errors.invalid("LABEL_MATCH_STATEMENT", body.get("Key"))
        return 1
    if kind == "IPSetReferenceStatement":
        checked.references.add(body["ARN"])
        forwarded = body.get("IPSetForwardedIPConfig")
        if forwarded is not None and forwarded.get("Position") not in ("FIRST", "LAST", "ANY"):
            raise errors.invalid("IP_SET_FORWARDED_IP_CONFIG", forwarded.get("Position"))
        return 1
    multiplier = _field(body.get("FieldToMatch") or {})
    cost = _transformations(body.get("TextTransformations") or [])
    if kind == "ByteMatchStatement":
        if body.get("PositionalConstraint") not in ("EXACTLY", "STARTS_WITH", "ENDS_WITH", "CONTAINS",
                                                    "CONTAINS_WORD"):
            raise errors.invalid("POSITION", body.get("PositionalConstraint"))
        if not body.get("SearchString"):
            raise errors.invalid("BYTE_MATCH_STATEMENT", "SearchString", errors.MISSING)
        base = 10 if body["PositionalConstraint"].startswith("CONTAINS") else 2
    elif kind == "RegexMatchStatement":
        try:
            re.compile(body.get("RegexString") or "")
        except re.error:
            raise errors.invalid("STATEMENT", body.get("RegexString")) from None
        base = 3
    elif kind == "RegexPatternSetReferenceStatement":
        checked.references.add(body["ARN"])
        base = 25
    elif kind == "SqliMatchStatement":
        if body.get("SensitivityLevel", "LOW") not in ("LOW", "HIGH"):
            raise errors.invalid("SQLI_MATCH_STATEMENT", body.get("SensitivityLevel"))
        base = 30 if body.get("SensitivityLevel") == "HIGH" else 20
    elif kind == "XssMatchStatement":
        base = 40
    else:   # SizeConstraintStatement
        if body.get("ComparisonOperator") not in ("EQ", "NE", "LE", "LT", "GE", "GT"):
            raise errors.invalid("SIZE_CONSTRAINT_STATEMENT", body.get("ComparisonOperator"))
        base = 1
    return base * multiplier + cost


def _rate_based(body: dict[str, Any], checked: Checked, top: bool) -> int:
    if not top:
        raise errors.invalid("RATE_BASED_STATEMENT", "nested", "A rate-based statement cannot be nested.")
    if not 10 <= body.get("Limit", 0) <= 2_000_000_000:
        raise errors.invalid("RATE_BASED_STATEMENT", body.get("Limit"))
    if body.get("EvaluationWindowSec", 300) not in RATE_WINDOWS:
        raise errors.invalid("RATE_BASED_STATEMENT", body.get("EvaluationWindowSec"))
    aggregate = body.get("AggregateKeyType")
    if aggregate not in ("IP", "FORWARDED_IP", "CONSTANT"):
        raise errors.invalid("RATE_BASED_STATEMENT", aggregate, errors.UNSUPPORTED)
    if aggregate == "FORWARDED_IP" and not (body.get("ForwardedIPConfig") or {}).get("HeaderName"):
        raise errors.invalid("FORWARDED_IP_CONFIG", "HeaderName", errors.MISSING)
    scope_down = body.get("ScopeDownStatement")
    if aggregate == "CONSTANT" and scope_down is None:
        raise errors.invalid("SCOPE_DOWN", "ScopeDownStatement", errors.MISSING)
    return 2 + (check_statement(scope_down, checked, top=False) if scope_down else 0)


def check_rules(rules: list[dict[str, Any]], bodies: dict[str, Any] | None) -> Checked:
    """Check a web ACL's (or CheckCapacity's) rules; raises AWS's WAFInvalidParameterException.

    ``bodies`` None (CheckCapacity: no web ACL to hold them) leaves custom response body keys unchecked."""
    checked = Checked()
    names = [rule.get("Name") for rule in rules]
    priorities = [rule.get("Priority") for rule in rules]
    if len(set(names)) != len(names):
        raise errors.invalid("RULE", names, errors.DUPLICATE_VALUE)
    if len(set(priorities)) != len(priorities):
        raise errors.invalid("RULE", priorities, errors.DUPLICATE_VALUE)
    for rule in rules:
        if not _RULE_NAME.fullmatch(rule.get("Name") or ""):
            raise errors.invalid("RULE", rule.get("Name"))
        if rule.get("OverrideAction") is not None:
            raise errors.invalid("OVERRIDE_ACTION", rule["Name"])
        if rule.get("Action") is None:
            raise errors.invalid("RULE_ACTION", rule["Name"], errors.MISSING)
        check_action(rule["Action"], bodies, "RULE_ACTION", default=False)
        check_visibility(rule.get("VisibilityConfig") or {}, "RULE")
        for label in rule.get("RuleLabels") or []:
            if not _LABEL.fullmatch(label.get("Name") or ""):
                raise errors.invalid("RULE", label.get("Name"))
        checked.capacity += check_statement(rule.get("Statement") or {}, checked, top=True)
    return checked
