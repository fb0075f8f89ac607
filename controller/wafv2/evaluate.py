"""A web ACL compiled for the data plane, and one request judged by it (pure, given a rate counter).

Compiling turns the stored document (with the IP sets and regex pattern sets it references) into matchers:
closures over a :class:`Facts` view of the request, built once per web ACL revision. Judging runs the rules
in priority order, AWS's way: a matching rule adds its labels; Count records the match and goes on; Allow and
Block end the evaluation; when no rule ends it the default action does. Rate-based statements count every
request they see (after their scope-down statement) per aggregation key in a sliding window, and match while
the key's count in the window exceeds the limit.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from controller.wafv2 import detect, transforms

BODY_LIMITS = {"KB_16": 16384, "KB_32": 32768, "KB_48": 49152, "KB_64": 65536}
DEFAULT_BODY_LIMIT = 8192
_WORD = "A-Za-z0-9_"
_OVERSIZE = object()


@dataclass(frozen=True)
class Facts:
    """What WAF inspects of a request: ``path`` and ``raw_query`` as sent (still percent-encoded), lower-cased
    header names, the body, and the address the request came from."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    source_ip: str

    @cached_property
    def query_args(self) -> list[tuple[str, str]]:
        """The query's arguments as sent (not decoded: URL_DECODE is a transformation to ask for)."""
        pairs = []
        for part in self.raw_query.split("&"):
            if part:
                name, _, value = part.partition("=")
                pairs.append((name, value))
        return pairs

    @cached_property
    def cookies(self) -> list[tuple[str, str]]:
        found = []
        for part in self.headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                found.append((name, value))
        return found


class Rates(Protocol):
    def hit(self, key: tuple[str, ...], window: float, now: float) -> int:
        """Count one request for ``key``; returns the key's requests in the last ``window`` seconds."""


@dataclass
class Evaluation:
    facts: Facts
    rates: Rates
    now: float
    labels: list[str] = field(default_factory=list)


Matcher = Callable[[Evaluation], bool]


@dataclass(frozen=True)
class Rule:
    name: str
    action: str                      # ALLOW, BLOCK, COUNT
    settings: dict[str, Any]         # the action's body (CustomResponse...)
    labels: tuple[str, ...]
    metric: str
    sampled: bool
    matches: Matcher


@dataclass(frozen=True)
class CompiledAcl:
    acl_id: str
    name: str
    namespace: str
    rules: tuple[Rule, ...]
    default_action: str
    default_settings: dict[str, Any]
    metric: str
    sampled: bool
    bodies: dict[str, Any]
    #: The web ACL's GetLoggingConfiguration document, when it logs (set by the edge that loads it).
    logging: dict[str, Any] | None = None


@dataclass(frozen=True)
class Sampled:
    """One sample to record: under which metric (a rule's, or the web ACL's for its default action)."""

    metric: str
    action: str
    rule: str | None


@dataclass
class Outcome:
    action: str
    rule: str | None
    settings: dict[str, Any]
    labels: list[str]
    samples: list[Sampled]
    counted: list[str] = field(default_factory=list)     # the Count rules that matched, in order


@dataclass(frozen=True)
class Verdict:
    """A blocked request's answer: an empty body asks the API for its WAF_FILTERED gateway response."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Sets:
    """The referenced sets, by ARN: IP networks and compiled regular expressions."""

    ip_sets: dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]]
    regex_sets: dict[str, list[re.Pattern[str]]]


def _action(action: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = next(key for key, value in action.items() if value is not None)
    return kind.upper(), action[kind] or {}


def compile_acl(doc: dict[str, Any], sets: Sets) -> CompiledAcl:
    """Compile a stored web ACL document (search strings as base64 text)."""
    namespace = doc["LabelNamespace"]
    limit = BODY_LIMITS.get(((doc.get("AssociationConfig") or {}).get("RequestBody") or {})
                            .get("API_GATEWAY", {}).get("DefaultSizeInspectionLimit"), DEFAULT_BODY_LIMIT)
    compiler = _Compiler(doc["Id"], namespace, sets, limit)
    rules = []
    for rule in sorted(doc.get("Rules") or [], key=lambda item: item["Priority"]):
        action, settings = _action(rule["Action"])
        rules.append(Rule(
            name=rule["Name"], action=action, settings=settings,
            labels=tuple(namespace + label["Name"] for label in rule.get("RuleLabels") or []),
            metric=rule["VisibilityConfig"]["MetricName"],
            sampled=bool(rule["VisibilityConfig"]["SampledRequestsEnabled"]),
            matches=compiler.statement(rule["Statement"], rule["Name"])))
    default, default_settings = _action(doc["DefaultAction"])
    return CompiledAcl(acl_id=doc["Id"], name=doc["Name"], namespace=namespace, rules=tuple(rules),
                       default_action=default, default_settings=default_settings,
                       metric=doc["VisibilityConfig"]["MetricName"],
                       sampled=bool(doc["VisibilityConfig"]["SampledRequestsEnabled"]),
                       bodies=doc.get("CustomResponseBodies") or {})


def judge(acl: CompiledAcl, facts: Facts, rates: Rates, now: float) -> Outcome:
    evaluation = Evaluation(facts, rates, now)
    samples: list[Sampled] = []
    counted: list[str] = []
    for rule in acl.rules:
        if not rule.matches(evaluation):
            continue
        evaluation.labels.extend(label for label in rule.labels if label not in evaluation.labels)
        if rule.sampled:
            samples.append(Sampled(rule.metric, rule.action, rule.name))
        if rule.action != "COUNT":
            return Outcome(rule.action, rule.name, rule.settings, evaluation.labels, samples, counted)
        counted.append(rule.name)
    if acl.sampled:
        samples.append(Sampled(acl.metric, acl.default_action, None))
    return Outcome(acl.default_action, None, acl.default_settings, evaluation.labels, samples, counted)


def verdict(acl: CompiledAcl, outcome: Outcome) -> Verdict | None:
    """The answer to a blocked request (a custom response when the Block action has one), or None."""
    if outcome.action != "BLOCK":
        return None
    custom = outcome.settings.get("CustomResponse")
    if custom is None:
        return Verdict(403, [], b"")
    headers = [(f"x-amzn-waf-{item['Name']}", item["Value"]) for item in custom.get("ResponseHeaders") or []]
    body = acl.bodies.get(custom.get("CustomResponseBodyKey") or "")
    if body is None:
        return Verdict(custom["ResponseCode"], headers, b"")
    content_type = {"TEXT_PLAIN": "text/plain", "TEXT_HTML": "text/html",
                    "APPLICATION_JSON": "application/json"}[body["ContentType"]]
    return Verdict(custom["ResponseCode"], [("content-type", content_type), *headers], body["Content"].encode())


class _Compiler:
    def __init__(self, acl_id: str, namespace: str, sets: Sets, body_limit: int) -> None:
        self.acl_id = acl_id
        self.namespace = namespace
        self.sets = sets
        self.body_limit = body_limit

    def statement(self, statement: dict[str, Any], rule: str) -> Matcher:
        kind = next(key for key, value in statement.items() if value is not None)
        body = statement[kind]
        if kind == "AndStatement":
            parts = [self.statement(item, rule) for item in body["Statements"]]
            return lambda ev: all(part(ev) for part in parts)
        if kind == "OrStatement":
            parts = [self.statement(item, rule) for item in body["Statements"]]
            return lambda ev: any(part(ev) for part in parts)
        if kind == "NotStatement":
            inner = self.statement(body["Statement"], rule)
            return lambda ev: not inner(ev)
        if kind == "IPSetReferenceStatement":
            return self._ip_set(body)
        if kind == "LabelMatchStatement":
            return self._label(body)
        if kind == "RateBasedStatement":
            return self._rate(body, rule)
        return self._text(kind, body)

    def _ip_set(self, body: dict[str, Any]) -> Matcher:
        networks = self.sets.ip_sets.get(body["ARN"], [])
        forwarded = body.get("IPSetForwardedIPConfig")

        def contains(address: str) -> bool | None:
            try:
                ip = ipaddress.ip_address(address.strip())
            except ValueError:
                return None
            return any(ip.version == net.version and ip in net for net in networks)

        def matches(ev: Evaluation) -> bool:
            if forwarded is None:
                return bool(contains(ev.facts.source_ip))
            listed = [item for item in ev.facts.headers.get(forwarded["HeaderName"].lower(), "").split(",")
                      if item.strip()]
            position = forwarded.get("Position", "FIRST")
            chosen = listed if position == "ANY" else listed[:1] if position == "FIRST" else listed[-1:]
            found = [contains(item) for item in chosen]
            if not found or None in found:
                return forwarded.get("FallbackBehavior") == "MATCH"
            return any(found)

        return matches

    def _label(self, body: dict[str, Any]) -> Matcher:
        key = body["Key"]
        wanted = {key, self.namespace + key}
        if body["Scope"] == "LABEL":
            return lambda ev: any(label in wanted for label in ev.labels)
        prefixes = tuple(item if item.endswith(":") else item + ":" for item in wanted)
        return lambda ev: any(label.startswith(prefixes) for label in ev.labels)

    def _rate(self, body: dict[str, Any], rule: str) -> Matcher:
        scope_down = self.statement(body["ScopeDownStatement"], rule) if body.get("ScopeDownStatement") else None
        window = float(body.get("EvaluationWindowSec") or 300)
        limit = int(body["Limit"])
        aggregate = body["AggregateKeyType"]
        header = ((body.get("ForwardedIPConfig") or {}).get("HeaderName") or "").lower()
        fallback = (body.get("ForwardedIPConfig") or {}).get("FallbackBehavior", "NO_MATCH")
        # Counts are kept per rule instance and settings: changing the settings restarts them, as AWS's do.
        instance = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

        def matches(ev: Evaluation) -> bool:
            if scope_down is not None and not scope_down(ev):
                return False
            if aggregate == "CONSTANT":
                key = ""
            elif aggregate == "IP":
                key = ev.facts.source_ip
            else:
                key = ev.facts.headers.get(header, "").split(",")[0].strip()
                try:
                    key = str(ipaddress.ip_address(key))
                except ValueError:
                    return fallback == "MATCH"
            return ev.rates.hit((self.acl_id, rule, instance, key), window, ev.now) > limit

        return matches

    def _text(self, kind: str, body: dict[str, Any]) -> Matcher:
        extract = self._field(body["FieldToMatch"])
        steps = transforms.ordered(body.get("TextTransformations") or [])
        test = self._test(kind, body)

        def matches(ev: Evaluation) -> bool:
            values = extract(ev.facts)
            if values is _OVERSIZE:
                return True
            return any(test(transforms.apply(value, steps)) for value in values)

        return matches

    def _test(self, kind: str, body: dict[str, Any]) -> Callable[[str], bool]:
        if kind == "ByteMatchStatement":
            search = transforms.text(base64.b64decode(body["SearchString"]))
            position = body["PositionalConstraint"]
            if position == "EXACTLY":
                return lambda value: value == search
            if position == "STARTS_WITH":
                return lambda value: value.startswith(search)
            if position == "ENDS_WITH":
                return lambda value: value.endswith(search)
            if position == "CONTAINS":
                return lambda value: search in value
            word = re.compile(f"(?<![{_WORD}]){re.escape(search)}(?![{_WORD}])")
            return lambda value: word.search(value) is not None
        if kind == "RegexMatchStatement":
            pattern = re.compile(body["RegexString"])
            return lambda value: pattern.search(value) is not None
        if kind == "RegexPatternSetReferenceStatement":
            patterns = self.sets.regex_sets.get(body["ARN"], [])
            return lambda value: any(pattern.search(value) for pattern in patterns)
        if kind == "SqliMatchStatement":
            sensitivity = body.get("SensitivityLevel", "LOW")
            return lambda value: detect.is_sql_injection(value, sensitivity)
        if kind == "XssMatchStatement":
            return detect.is_xss
        size, operator = int(body["Size"]), body["ComparisonOperator"]
        compare: dict[str, Callable[[int], bool]] = {
            "EQ": lambda n: n == size, "NE": lambda n: n != size, "LE": lambda n: n <= size,
            "LT": lambda n: n < size, "GE": lambda n: n >= size, "GT": lambda n: n > size}
        check = compare[operator]
        return lambda value: check(len(value.encode(transforms.ENCODING, transforms.ERRORS)))

    def _field(self, target: dict[str, Any]) -> Callable[[Facts], Any]:
        kind = next(key for key, value in target.items() if value is not None)
        settings = target[kind] or {}
        if kind == "UriPath":
            return lambda facts: [facts.path]
        if kind == "QueryString":
            return lambda facts: [facts.raw_query]
        if kind == "Method":
            return lambda facts: [facts.method]
        if kind == "SingleHeader":
            name = settings["Name"].lower()
            return lambda facts: [facts.headers[name]] if name in facts.headers else []
        if kind == "SingleQueryArgument":
            name = settings["Name"].lower()
            return lambda facts: [value for key, value in facts.query_args if key.lower() == name]
        if kind == "AllQueryArguments":
            return lambda facts: [value for _, value in facts.query_args]
        if kind == "Body":
            return self._body(settings.get("OversizeHandling", "CONTINUE"))
        return self._pairs(kind, settings)

    def _body(self, oversize: str) -> Callable[[Facts], Any]:
        limit = self.body_limit

        def values(facts: Facts) -> Any:
            if len(facts.body) > limit and oversize != "CONTINUE":
                return _OVERSIZE if oversize == "MATCH" else []
            return [transforms.text(facts.body[:limit])]

        return values

    def _pairs(self, kind: str, settings: dict[str, Any]) -> Callable[[Facts], list[str]]:
        """Headers or Cookies: the chosen pairs' keys, values or both (MatchScope)."""
        pattern = settings.get("MatchPattern") or {}
        fold = str.lower if kind == "Headers" else str
        included = {fold(name) for name in pattern.get("IncludedHeaders") or pattern.get("IncludedCookies") or []}
        excluded = {fold(name) for name in pattern.get("ExcludedHeaders") or pattern.get("ExcludedCookies") or []}
        scope = settings.get("MatchScope", "ALL")

        def values(facts: Facts) -> list[str]:
            pairs = list(facts.headers.items()) if kind == "Headers" else facts.cookies
            found = []
            for name, value in pairs:
                if (included and fold(name) not in included) or fold(name) in excluded:
                    continue
                if scope in ("ALL", "KEY"):
                    found.append(name)
                if scope in ("ALL", "VALUE"):
                    found.append(value)
            return found

        return values
