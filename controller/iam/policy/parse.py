"""Policy JSON -> compiled :class:`PolicyDocument`, refusing what IAM refuses.

This is the grammar every policy kind shares (elements, types, effects, actions,
resource ARNs, condition operators, principals). Rules that depend on where the
policy goes (Principal required or forbidden, size quotas...) live in ``validate.py``.
Messages are the ones IAM returns in ``MalformedPolicyDocument`` errors.

Compiling is cached by document text: attach one managed policy to a thousand users
and it is parsed once.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from controller.iam.policy.conditions import Condition, parse_date, parse_operator
from controller.iam.policy.errors import MalformedPolicyDocument
from controller.iam.policy.matching import PatternSet, has_wildcard
from controller.iam.policy.model import PolicyDocument, Position, ResourceSet, Statement
from controller.iam.policy.principals import PrincipalSpec
from controller.iam.policy.variables import Template, Variable, parse_template

SYNTAX_ERROR = "Syntax errors in policy."
LEGACY_PARSING = "The policy failed legacy parsing"
VERSIONS = ("2012-10-17", "2008-10-17")
VARIABLES_VERSION = "2012-10-17"
TOP_ELEMENTS = frozenset({"Version", "Id", "Statement"})
STATEMENT_ELEMENTS = frozenset({"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
                                "Resource", "NotResource", "Condition"})
PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "*"})
_VENDOR = re.compile(r"[A-Za-z0-9\-.*?]+")
_WHITESPACE = " \t\n\r"


def compile_document(document: str | Mapping[str, Any]) -> PolicyDocument:
    """Parse and compile a policy document (JSON text, or an already decoded object)."""
    if not isinstance(document, str):
        document = json.dumps(document, indent=4)
    return _compile_text(document)


@lru_cache(maxsize=4096)
def _compile_text(text: str) -> PolicyDocument:
    try:
        root = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedPolicyDocument(SYNTAX_ERROR) from None
    raw_statements = _check_syntax(root)
    version = root.get("Version")
    _check_legacy(raw_statements)
    _check_sids_unique(raw_statements)
    for raw in raw_statements:
        _check_actions(raw)
    for raw in raw_statements:
        for key in ("Resource", "NotResource"):
            for resource in _strings(raw.get(key)):
                _check_resource(resource)
    variables = version == VARIABLES_VERSION
    spans = _statement_spans(text) if len(raw_statements) else []
    if len(spans) != len(raw_statements):
        spans = []
    line_starts = [0] + [index + 1 for index, char in enumerate(text) if char == "\n"]
    statements = []
    for index, raw in enumerate(raw_statements):
        start = end = None
        if spans:
            start = _position(line_starts, spans[index][0])
            end = _position(line_starts, spans[index][1])
        statements.append(_compile_statement(index, raw, variables, start, end))
    return _document(version, root.get("Id"), tuple(statements))


# --- syntax -------------------------------------------------------------------------------


def _check_syntax(root: Any) -> list[dict[str, Any]]:
    if not isinstance(root, dict) or not set(root) <= TOP_ELEMENTS:
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    if "Version" in root and root["Version"] not in VERSIONS:
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    if "Id" in root and not isinstance(root["Id"], str):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    raw = root.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    for statement in statements:
        _check_statement_syntax(statement)
    return statements


def _check_statement_syntax(statement: Any) -> None:
    if not isinstance(statement, dict) or not set(statement) <= STATEMENT_ELEMENTS:
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    for first, second in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
        if first in statement and second in statement:
            raise MalformedPolicyDocument(SYNTAX_ERROR)
    effect = statement.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    if "Sid" in statement and not isinstance(statement["Sid"], str):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        if key in statement and not _is_string_or_strings(statement[key]):
            raise MalformedPolicyDocument(SYNTAX_ERROR)
    for key in ("Principal", "NotPrincipal"):
        if key in statement:
            _check_principal_syntax(statement[key])
    if "Condition" in statement:
        _check_condition_syntax(statement["Condition"])


def _is_string_or_strings(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(item, str) for item in value))


def _check_principal_syntax(principal: Any) -> None:
    if principal == "*":
        return
    if not isinstance(principal, dict) or not principal or not set(principal) <= set(PRINCIPAL_TYPES):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    for kind, values in principal.items():
        if not _is_string_or_strings(values):
            raise MalformedPolicyDocument(SYNTAX_ERROR)
        for value in _strings(values):
            if kind == "AWS" and not _valid_aws_principal(value):
                raise MalformedPolicyDocument(f'Invalid principal in policy: "AWS":"{value}"')
            if not value or (kind != "AWS" and has_wildcard(value) and value != "*"):
                raise MalformedPolicyDocument(f'Invalid principal in policy: "{kind}":"{value}"')


def _valid_aws_principal(value: str) -> bool:
    if value == "*" or re.fullmatch(r"\d{12}", value):
        return True
    return value.startswith("arn:") and value.count(":") >= 5 and not has_wildcard(value)


def _check_condition_syntax(condition: Any) -> None:
    if not isinstance(condition, dict):
        raise MalformedPolicyDocument(SYNTAX_ERROR)
    for operator_name, block in condition.items():
        if not isinstance(block, dict):
            raise MalformedPolicyDocument(SYNTAX_ERROR)
        if parse_operator(operator_name) is None and block:
            raise MalformedPolicyDocument(SYNTAX_ERROR)
        for values in block.values():
            items = values if isinstance(values, list) else [values]
            if not all(_is_scalar(item) for item in items):
                raise MalformedPolicyDocument(SYNTAX_ERROR)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | bool | int | float)


def _condition_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- the rules after the syntax ----------------------------------------------------------------


def _check_legacy(statements: list[dict[str, Any]]) -> None:
    for statement in statements:
        if statement["Effect"] not in ("Allow", "Deny"):
            raise MalformedPolicyDocument(LEGACY_PARSING)
        for operator_name, block in statement.get("Condition", {}).items():
            spec = parse_operator(operator_name)
            if spec is None or not spec.base.startswith("Date"):
                continue
            for values in block.values():
                for value in values if isinstance(values, list) else [values]:
                    if parse_date(_condition_text(value)) is None:
                        raise MalformedPolicyDocument(LEGACY_PARSING)


def _check_sids_unique(statements: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if sid:
            if sid in seen:
                raise MalformedPolicyDocument("Statement IDs (SID) in a single policy must be unique.")
            seen.add(sid)


def _check_actions(statement: dict[str, Any]) -> None:
    key = "Action" if "Action" in statement else "NotAction"
    actions = _strings(statement.get(key))
    if not actions:
        raise MalformedPolicyDocument("Policy statement must contain actions.")
    for action in actions:
        if action == "*":
            continue
        parts = action.split(":")
        if len(parts) == 1:
            raise MalformedPolicyDocument(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
        if len(parts) > 2:
            raise MalformedPolicyDocument("Actions/Condition can contain only one colon.")
        if not _VENDOR.fullmatch(parts[0]):
            raise MalformedPolicyDocument(f"Vendor {parts[0]} is not valid")


def _check_resource(resource: str) -> None:
    if resource == "*":
        return
    parts = resource.split(":", 5)
    if len(parts) < 2:
        raise MalformedPolicyDocument(f'Resource {resource} must be in ARN format or "*".')
    if parts[0] != "arn" and not has_wildcard(parts[0]):
        raise MalformedPolicyDocument(f'Resource {resource} must be in ARN format or "*".')
    if parts[1] not in PARTITIONS and not has_wildcard(parts[1]):
        raise MalformedPolicyDocument(f'Partition "{parts[1]}" is not valid for resource "{resource}".')
    if len(parts) < 3 or not parts[2]:
        raise MalformedPolicyDocument("Resource vendor must be fully qualified and cannot contain regexes.")
    if len(parts) == 6 and parts[2] == "iam" and parts[3]:
        raise MalformedPolicyDocument(f"IAM resource {resource} cannot contain region information.")


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# --- compiling ---------------------------------------------------------------------------------


def _compile_statement(index: int, raw: dict[str, Any], variables: bool,
                       start: Position | None, end: Position | None) -> Statement:
    not_action = "NotAction" in raw
    actions = _strings(raw.get("NotAction" if not_action else "Action"))
    not_resource = "NotResource" in raw
    resources = None
    templates: list[Template] = []
    if "Resource" in raw or not_resource:
        plain: list[str] = []
        for resource in _strings(raw.get("NotResource" if not_resource else "Resource")):
            template = parse_template(resource) if variables else None
            if template is None:
                plain.append(resource)
            else:
                templates.append(template)
        resources = ResourceSet(PatternSet.build(plain), tuple(templates))
    not_principal = "NotPrincipal" in raw
    principal_raw = raw.get("NotPrincipal" if not_principal else "Principal")
    conditions = tuple(
        Condition.compile(spec, key, [_condition_text(item) for item in _listify(values)], variables=variables)
        for operator_name, block in raw.get("Condition", {}).items()
        if (spec := parse_operator(operator_name)) is not None
        for key, values in block.items())
    statement_variables = tuple(variable for template in templates for variable in template.variables) + tuple(
        variable for condition in conditions for variable in condition.variables)
    return Statement(
        index=index, sid=raw.get("Sid") or None, allow=raw["Effect"] == "Allow",
        actions=PatternSet.build(actions, ignore_case=True), action_patterns=tuple(actions),
        not_action=not_action,
        resources=resources, not_resource=not_resource,
        principal=_compile_principal(principal_raw) if principal_raw is not None else None,
        not_principal=not_principal, conditions=conditions,
        services=None if not_action else _services(actions),
        reported_keys=_reported_keys(conditions, statement_variables),
        variables=statement_variables, start=start, end=end)


def _listify(values: Any) -> list[Any]:
    return values if isinstance(values, list) else [values]


def _services(actions: list[str]) -> frozenset[str] | None:
    services: set[str] = set()
    for action in actions:
        service = action.split(":", 1)[0].lower()
        if action == "*" or has_wildcard(service):
            return None
        services.add(service)
    return frozenset(services)


def _compile_principal(raw: Any) -> PrincipalSpec:
    if raw == "*":
        return PrincipalSpec.build(True, [], [], [], [])
    return PrincipalSpec.build(False, _strings(raw.get("AWS")), _strings(raw.get("Service")),
                               _strings(raw.get("Federated")), _strings(raw.get("CanonicalUser")))


def _reported_keys(conditions: tuple[Condition, ...],
                   variables: tuple[Variable, ...]) -> tuple[tuple[str, str], ...]:
    keys: dict[str, str] = {}
    for condition in conditions:
        if condition.requires_key:
            keys.setdefault(condition.key_lower, condition.key)
    for variable in variables:
        if variable.default is None:
            keys.setdefault(variable.key, variable.name)
    return tuple(keys.items())


def _document(version: str | None, policy_id: str | None, statements: tuple[Statement, ...]) -> PolicyDocument:
    any_service = tuple(statement for statement in statements if statement.services is None)
    named = {service for statement in statements for service in statement.services or ()}
    by_service = {service: tuple(statement for statement in statements
                                 if statement.services is None or service in statement.services)
                  for service in named}
    context_keys: dict[str, str] = {}
    for statement in statements:
        for condition in statement.conditions:
            context_keys.setdefault(condition.key_lower, condition.key)
        for variable in statement.variables:
            context_keys.setdefault(variable.key, variable.name)
    return PolicyDocument(version, policy_id, statements, by_service, any_service, tuple(context_keys.values()))


# --- statement positions -------------------------------------------------------------------


def _position(line_starts: list[int], offset: int) -> Position:
    line = bisect.bisect_right(line_starts, offset)
    return Position(line, offset - line_starts[line - 1] + 2)


def _statement_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of each statement's opening and closing brace in the document text."""
    decoder = json.JSONDecoder()
    spans: list[tuple[int, int]] = []
    try:
        index = _skip(text, 0)
        if text[index] != "{":
            return []
        index += 1
        while True:
            index = _skip(text, index)
            if text[index] == "}":
                return spans
            key, index = decoder.raw_decode(text, index)
            index = _skip(text, index) + 1
            index = _skip(text, index)
            if key == "Statement":
                spans, index = _spans_of_value(decoder, text, index)
            else:
                _, index = decoder.raw_decode(text, index)
            index = _skip(text, index)
            if text[index] == ",":
                index += 1
    except (ValueError, IndexError):
        return []


def _spans_of_value(decoder: json.JSONDecoder, text: str, index: int) -> tuple[list[tuple[int, int]], int]:
    if text[index] != "[":
        _, end = decoder.raw_decode(text, index)
        return [(index, end - 1)], end
    spans: list[tuple[int, int]] = []
    index += 1
    while True:
        index = _skip(text, index)
        if text[index] == "]":
            return spans, index + 1
        _, end = decoder.raw_decode(text, index)
        spans.append((index, end - 1))
        index = _skip(text, end)
        if text[index] == ",":
            index += 1


def _skip(text: str, index: int) -> int:
    while text[index] in _WHITESPACE:
        index += 1
    return index
