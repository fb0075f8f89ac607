"""SNS subscription filter policies: validation with AWS's own messages, and matching.

A filter policy is a JSON object whose keys name message attributes (scope ``MessageAttributes``) or
message-body properties (scope ``MessageBody``, where objects nest) and whose leaves are arrays of
match values: exact strings, numbers, ``true``/``false``/``null``, and one-key match expressions
(``prefix``, ``suffix``, ``equals-ignore-case``, ``anything-but``, ``numeric``, ``exists``, ``cidr``).
Values of one key are ORed, keys are ANDed, and ``"$or": [{...}, {...}]`` ORs whole sub-policies.

SNS compiles policies with AWS's event-ruler, so invalid policies are refused with that compiler's
messages ("Value of < must be numeric", "Unrecognized match type ...") and SNS's own limits
(five keys, 150 combinations). Differences from EventBridge patterns that SNS documents and this
module keeps: attribute policies cannot nest; String.Array attributes are matched element by element,
and ``anything-but`` matches one only when none of its elements is excluded; ``exists: true`` needs a
non-null value; ``exists: false`` never matches a message without any attribute (or an empty body
object); a body that is not a JSON object never matches a body policy.
Docs: docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html and the pages it links
(string-value-matching, numeric-value-matching, attribute-key-matching, and-or-logic,
subscription-filter-policy-constraints).

Pure functions: no I/O, no state.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

MESSAGE_ATTRIBUTES = "MessageAttributes"
MESSAGE_BODY = "MessageBody"
MAX_KEYS = 5
MAX_COMBINATIONS = 150
#: Numeric match operands must lie within +-1e9 (subscription-filter-policy-constraints).
NUMERIC_LIMIT = Decimal(1_000_000_000)
_OR = "$or"
_RESERVED = frozenset({"prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "exists", "cidr"})
_STRING_OPERATORS = ("prefix", "suffix", "equals-ignore-case")
_LOWER_BOUNDS = (">", ">=")
_UPPER_BOUNDS = ("<", "<=")


# --- validation -------------------------------------------------------------------------------------------

def validate(policy_text: str, scope: str) -> None:
    """Raise ``ValueError(message)`` with AWS's message when ``policy_text`` is not a valid filter policy."""
    try:
        policy = json.loads(policy_text, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, RecursionError):
        raise ValueError("failed to parse JSON.") from None
    if not isinstance(policy, dict):
        raise ValueError("Filter is not an object")
    if not policy:
        return
    branches = _branches(policy, scope, depth=1, top=True)
    for branch in branches:
        if len({path[0] for path, _ in branch}) > MAX_KEYS:
            raise ValueError(f"Filter policy can not have more than {MAX_KEYS} keys")
    if sum(_combinations(branch) for branch in branches) > MAX_COMBINATIONS:
        raise ValueError("Filter policy is too complex")


Branch = list[tuple[tuple[str, ...], list[Any]]]


def _branches(policy: dict, scope: str, depth: int, top: bool = False,
              path: tuple[str, ...] = (), level: int = 1) -> list[Branch]:
    """The policy as alternatives ($or expanded), each a list of (key path, match values)."""
    if level > MAX_COMBINATIONS:  # each level of objects adds a combination at least: never recurse deeper
        raise ValueError("Filter policy is too complex")
    if not policy and not top:
        raise ValueError("Empty objects are not allowed")
    branches: list[Branch] = [[]]
    for key, rule in policy.items():
        if key == _OR and is_or_relationship(rule):
            alternatives = [alt for sub in rule for alt in _branches(sub, scope, depth, path=path, level=level + 1)]
            branches = [mine + alt for mine in branches for alt in alternatives]
        elif isinstance(rule, dict):
            if scope == MESSAGE_ATTRIBUTES:
                raise ValueError("Filter policy scope MessageAttributes does not support nested filter policy")
            nested = _branches(rule, scope, depth + 1, path=path + (key,), level=level + 1)
            branches = [mine + alt for mine in branches for alt in nested]
        elif isinstance(rule, list):
            _check_values(rule)
            branches = [mine + [(path + (key,), rule)] for mine in branches]
        else:
            raise ValueError(f'"{key}" must be an object or an array')
        if len(branches) > MAX_COMBINATIONS:  # each branch counts at least 1: stop before $or nesting explodes
            raise ValueError("Filter policy is too complex")
    return branches


def is_or_relationship(rule: Any) -> bool:
    """SNS reads ``$or`` as OR only for an array of at least 2 objects without reserved keywords as keys;
    otherwise ``$or`` is an ordinary property name (and-or-logic.html)."""
    return (isinstance(rule, list) and len(rule) >= 2
            and all(isinstance(sub, dict) and not (_RESERVED & sub.keys()) for sub in rule))


def _combinations(branch: Branch) -> int:
    """AWS's count: the product of each array's length times the nesting depth of its key."""
    total = 1
    for path, values in branch:
        total *= len(values) * len(path)
    return total


def _check_values(values: list) -> None:
    if not values:
        raise ValueError("Empty arrays are not allowed")
    for value in values:
        if isinstance(value, dict):
            _check_expression(value)
        elif not (value is None or isinstance(value, str | bool | Decimal | int | float)):
            raise ValueError("Match value must be String, number, true, false, or null")


def _check_expression(expression: dict) -> None:
    if not expression:
        raise ValueError("Match expression name not found")
    operator, operand = next(iter(expression.items()))
    if operator in _STRING_OPERATORS:
        if not isinstance(operand, str):
            raise ValueError(f"{operator} match pattern must be a string")
    elif operator == "anything-but":
        _check_anything_but(operand)
    elif operator == "numeric":
        _check_numeric(operand)
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise ValueError("exists match pattern must be either true or false.")
    elif operator == "cidr":
        _check_cidr(operand)
    else:
        raise ValueError(f"Unrecognized match type {operator}")
    if len(expression) > 1:
        raise ValueError("Only one key allowed in match expression")


def _is_number(value: Any) -> bool:
    return isinstance(value, Decimal | int | float) and not isinstance(value, bool)


def _check_anything_but(operand: Any) -> None:
    if isinstance(operand, dict):
        if not operand:
            raise ValueError("Anything-But expression name not found")
        inner, value = next(iter(operand.items()))
        if inner not in ("prefix", "suffix"):
            raise ValueError(f"Unsupported anything-but pattern: {inner}")
        values = value if isinstance(value, list) else [value]
        if not isinstance(value, list | str):
            raise ValueError("Value of anything-but must be an array or single string/number value.")
        for each in values:
            if not isinstance(each, str):
                raise ValueError("prefix/suffix match pattern must be a string")
            if not each:
                raise ValueError("Null prefix/suffix not allowed")
        if len(operand) > 1:
            raise ValueError("Too many elements in numeric expression")
        return
    if isinstance(operand, list):
        if any(not (isinstance(v, str) or _is_number(v)) for v in operand):
            raise ValueError("Inside anything but list, start|null|boolean is not supported.")
        numbers = sum(_is_number(v) for v in operand)
        if not operand or 0 < numbers < len(operand):
            raise ValueError("Inside anything but list, either all values are number or string, "
                             "mixed type is not supported")
        return
    if not (isinstance(operand, str) or _is_number(operand)):
        raise ValueError("Value of anything-but must be an array or single string/number value.")


def _check_numeric(operand: Any) -> None:
    if not isinstance(operand, list):
        raise ValueError("Value of numeric must be an array.")
    if not operand:
        raise ValueError("Invalid member in numeric match: ]")
    operator = operand[0]
    if not isinstance(operator, str):
        raise ValueError(f"Invalid member in numeric match: {_json_text(operator)}")
    if operator not in ("=", *_LOWER_BOUNDS, *_UPPER_BOUNDS):
        raise ValueError(f"Unrecognized numeric range operator: {operator}")
    _check_operand("equals" if operator == "=" else operator, operand[1:2])
    if len(operand) == 2:
        return
    if operator not in _LOWER_BOUNDS:
        raise ValueError("Too many elements in numeric expression")
    top_operator = operand[2]
    if not isinstance(top_operator, str):
        raise ValueError(f"Bad value in numeric range: {_json_text(top_operator)}")
    if top_operator not in _UPPER_BOUNDS:
        raise ValueError(f"Bad numeric range operator: {top_operator}")
    _check_operand(top_operator, operand[3:4])
    if len(operand) > 4:
        raise ValueError("Too many terms in numeric range expression")
    if Decimal(str(operand[3])) <= Decimal(str(operand[1])):
        raise ValueError("Bottom must be less than top")


def _check_operand(name: str, operand: list) -> None:
    if not operand or not _is_number(operand[0]):
        raise ValueError(f"Value of {name} must be numeric")
    if abs(Decimal(str(operand[0]))) > NUMERIC_LIMIT:
        raise ValueError("Value must be between -1.0E9 and 1.0E9, inclusive")


def _check_cidr(operand: Any) -> None:
    if not isinstance(operand, str):
        raise ValueError("prefix match pattern must be a string")
    address, slash, mask = operand.partition("/")
    if not slash or "/" in mask:
        raise ValueError("Malformed CIDR, one '/' required")
    if not mask.isdigit():
        raise ValueError("Malformed CIDR, mask bits must be an integer")
    try:
        ipaddress.ip_network(operand, strict=False)
    except ValueError:
        raise ValueError(f"Nonstandard IP address: {address}") from None


def _json_text(value: Any) -> str:
    return json.dumps(value, default=str) if not isinstance(value, Decimal) else str(value)


# --- matching ---------------------------------------------------------------------------------------------

class _StringArray(list):
    """The elements of a String.Array attribute: ``anything-but`` must hold for every one of them."""


_ABSENT = object()


def matches(policy: dict, scope: str, message_attributes: dict, body: str) -> bool:
    """Whether a message passes ``policy`` (already validated) in ``scope``.

    ``message_attributes`` has SNS's MessageAttributeValue shape
    (``{"Name": {"DataType": "String", "StringValue": "x"}}``); ``body`` is the published message.
    """
    if not policy:
        return True
    if scope == MESSAGE_BODY:
        try:
            document = json.loads(body, parse_float=Decimal, parse_int=Decimal)
        except (ValueError, TypeError, RecursionError):
            return False
        if not isinstance(document, dict):
            return False
    else:
        document = _attribute_document(message_attributes)
    return _match_object(policy, document, empty_message=not document)


def _attribute_document(message_attributes: dict) -> dict[str, Any]:
    """Attributes as the values a policy compares: String -> str, Number -> Decimal, String.Array -> its
    elements; Binary attributes are never compared (SNS matches String, String.Array and Number only)."""
    document: dict[str, Any] = {}
    for name, attribute in (message_attributes or {}).items():
        data_type = str(attribute.get("DataType", ""))
        value = attribute.get("StringValue")
        if value is None:
            continue
        if data_type == "String.Array":
            try:
                elements = json.loads(value, parse_float=Decimal, parse_int=Decimal)
            except (ValueError, RecursionError):
                continue
            if isinstance(elements, list):
                document[name] = _StringArray(elements)
        elif data_type.split(".")[0] == "Number":
            try:
                document[name] = Decimal(value)
            except InvalidOperation:
                document[name] = value
        elif data_type.split(".")[0] == "String":
            document[name] = value
    return document


def _match_object(policy: dict, node: dict, empty_message: bool) -> bool:
    for key, rule in policy.items():
        if key == _OR and is_or_relationship(rule):
            if not any(_match_object(sub, node, empty_message) for sub in rule):
                return False
        elif isinstance(rule, dict):
            children = [child for child in _flatten(node.get(key)) if isinstance(child, dict)] or [{}]
            if not any(_match_object(rule, child, empty_message=False) for child in children):
                return False
        elif not _match_field(rule, node.get(key, _ABSENT), empty_message):
            return False
    return True


def _flatten(value: Any) -> Iterator[Any]:
    """The non-array values inside ``value`` (arrays of arrays included), without recursion: a published
    body may nest arrays as deep as the JSON parser allows."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(reversed(item))
        else:
            yield item


def _match_field(conditions: list, raw: Any, empty_message: bool) -> bool:
    values = [] if raw is _ABSENT else [v for v in _flatten(raw) if not isinstance(v, dict)]
    exists = any(v is not None for v in values)
    every_element = isinstance(raw, _StringArray)
    for condition in conditions:
        if isinstance(condition, dict) and "exists" in condition:
            if condition["exists"] == exists and (exists or not empty_message):
                return True
        elif isinstance(condition, dict) and "anything-but" in condition:
            if _anything_but(condition["anything-but"], values, every_element):
                return True
        elif any(_match_value(condition, value) for value in values):
            return True
    return False


def _match_value(condition: Any, value: Any) -> bool:
    if not isinstance(condition, dict):
        return _equal(condition, value)
    operator, operand = next(iter(condition.items()))
    if operator == "numeric":
        return _is_number(value) and _in_range(operand, Decimal(str(value)))
    if not isinstance(value, str):
        return False
    if operator == "prefix":
        return value.startswith(operand)
    if operator == "suffix":
        return value.endswith(operand)
    if operator == "equals-ignore-case":
        return value.lower() == operand.lower()
    if operator == "cidr":
        return _in_cidr(operand, value)
    return False


def _equal(expected: Any, value: Any) -> bool:
    """Exact match by JSON type: strings to strings, numbers numerically, true/false/null to themselves."""
    if expected is None or isinstance(expected, bool):
        return value is expected
    if _is_number(expected):
        return _is_number(value) and Decimal(str(expected)) == value
    return isinstance(value, str) and value == expected


def _anything_but(operand: Any, values: list, every_element: bool) -> bool:
    """True when some value of the operand's type is not listed; for a String.Array attribute, also when
    none of its elements is listed (string-value-matching.html)."""
    if isinstance(operand, dict):
        inner, patterns = next(iter(operand.items()))
        patterns = patterns if isinstance(patterns, list) else [patterns]

        def applies(value: Any) -> bool:
            return isinstance(value, str)

        def listed(value: Any) -> bool:
            return applies(value) and any(
                value.startswith(p) if inner == "prefix" else value.endswith(p) for p in patterns)
    else:
        excluded = operand if isinstance(operand, list) else [operand]
        numeric = any(_is_number(v) for v in excluded)

        def applies(value: Any) -> bool:
            return _is_number(value) if numeric else isinstance(value, str)

        def listed(value: Any) -> bool:
            return applies(value) and any(_equal(v, value) for v in excluded)

    passing = any(applies(v) and not listed(v) for v in values)
    if every_element:
        return passing and not any(listed(v) for v in values)
    return passing


def _in_range(operand: list, value: Decimal) -> bool:
    for operator, bound in zip(operand[::2], operand[1::2], strict=False):
        limit = Decimal(str(bound))
        if not {"=": value == limit, "<": value < limit, "<=": value <= limit,
                ">": value > limit, ">=": value >= limit}[operator]:
            return False
    return True


def _in_cidr(network: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False
