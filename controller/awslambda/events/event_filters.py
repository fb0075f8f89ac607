"""Event filtering of an event source mapping (FilterCriteria), as pure functions.

Lambda applies EventBridge-style patterns to each record
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html): a record is kept when any
filter's pattern matches it; for SQS the ``body`` is matched as JSON when it is JSON (a pattern on body
members never matches a body that is not), and a record no filter keeps is deleted from the queue
without invoking the function. A pattern is a JSON object whose leaves are arrays of values or of
comparison operators: exact values, ``prefix``, ``suffix``, ``equals-ignore-case``, ``anything-but``,
``numeric`` and ``exists``.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

from controller.awslambda.errors import InvalidParameterValueException

MAX_FILTERS = 5
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _invalid(pattern: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Invalid filter pattern definition. ({pattern})")


def parse_pattern(text: str) -> dict[str, Any]:
    """One filter's pattern, checked; InvalidParameterValueException when Lambda would refuse it."""
    try:
        pattern = json.loads(text)
    except ValueError:
        raise _invalid(text) from None
    if not isinstance(pattern, dict) or not pattern:
        raise _invalid(text)
    _check_node(pattern, text)
    return pattern


def _check_node(node: dict[str, Any], text: str) -> None:
    for value in node.values():
        if isinstance(value, dict):
            if not value:
                raise _invalid(text)
            _check_node(value, text)
        elif isinstance(value, list):
            if not all(_valid_item(item) for item in value):
                raise _invalid(text)
        else:
            raise _invalid(text)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _valid_item(item: Any) -> bool:
    """A leaf's alternative: a plain value, or one operator with an argument of its kind."""
    if not isinstance(item, dict):
        return not isinstance(item, list)
    if len(item) != 1:
        return False
    [(name, argument)] = item.items()
    if name in ("prefix", "suffix", "equals-ignore-case"):
        return isinstance(argument, str)
    if name == "exists":
        return isinstance(argument, bool)
    if name == "anything-but":
        values = argument if isinstance(argument, list) else [argument]
        return bool(values) and all(isinstance(value, str) or _number(value) for value in values)
    if name == "numeric":
        return (isinstance(argument, list) and 0 < len(argument) <= 4 and len(argument) % 2 == 0
                and all(isinstance(argument[i], str) and argument[i] in _NUMERIC and _number(argument[i + 1]) for i in range(0, len(argument), 2)))
    return False


def check_criteria(criteria: dict[str, Any] | None) -> None:
    filters = (criteria or {}).get("Filters") or []
    if len(filters) > MAX_FILTERS:
        raise InvalidParameterValueException(f"The number of filters exceeds the limit of {MAX_FILTERS}.")
    for entry in filters:
        parse_pattern(entry.get("Pattern") or "")


def sqs_view(record: dict[str, Any]) -> dict[str, Any]:
    """The record as patterns see it: the body as JSON when it is JSON."""
    try:
        body = json.loads(record["body"])
    except ValueError:
        body = record["body"]
    return {**record, "body": body}


def keeps(criteria: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    """Whether any filter matches the record (no filters: every record is kept)."""
    filters = (criteria or {}).get("Filters") or []
    if not filters:
        return True
    view = sqs_view(record)
    return any(matches(json.loads(entry["Pattern"]), view) for entry in filters)


def matches(pattern: dict[str, Any], event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    for key, wanted in pattern.items():
        present = key in event
        value = event.get(key)
        if isinstance(wanted, dict):
            if not present or not matches(wanted, value):
                return False
        elif not _leaf(wanted, present, value):
            return False
    return True


def _leaf(alternatives: list[Any], present: bool, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for alternative in alternatives:
        if isinstance(alternative, dict) and "exists" in alternative:
            if bool(alternative["exists"]) == present:
                return True
        elif present and any(_one(alternative, item) for item in values):
            return True
    return False


def _one(alternative: Any, value: Any) -> bool:
    if not isinstance(alternative, dict):
        same_kind = (isinstance(alternative, bool) == isinstance(value, bool)
                     and isinstance(alternative, str) == isinstance(value, str))
        return same_kind and alternative == value
    [(name, argument)] = alternative.items()
    if name == "prefix":
        return isinstance(value, str) and value.startswith(argument)
    if name == "suffix":
        return isinstance(value, str) and value.endswith(argument)
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(argument).lower()
    if name == "anything-but":
        excluded = argument if isinstance(argument, list) else [argument]
        return value not in excluded
    if name == "numeric":
        if not _number(value):
            return False
        pairs = list(zip(argument[::2], argument[1::2], strict=False))
        return all(op in _NUMERIC and _NUMERIC[op](value, bound) for op, bound in pairs)
    return False
