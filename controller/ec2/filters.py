"""EC2's generic ``Filters`` (Name + Values with ``*``/``?`` wildcards) over plain dict rows.

Each Describe operation keeps one table, written from its page of the EC2 API Reference, mapping a
filter name to where the value lives in the operation's output item: a JMESPath expression over the
output (``"Attachments[].State"``; a projection gives every value of a list) or, where a value must be
computed, a function of the output item. ``tag:<key>``, ``tag-key`` and ``tag-value`` need no entry.

Values compare as AWS compares them: as text, case-sensitively, with ``*`` for any run of characters,
``?`` for one character and a backslash to take either (or itself) literally. Booleans read ``true`` /
``false``, numbers in decimal, times in ISO 8601 UTC with milliseconds (``2021-09-29T11:04:43.305Z``),
so a wildcard such as ``2021-09-29T*`` finds a day's resources.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

import jmespath

from controller.errors import error

InvalidParameterValue = error("InvalidParameterValue")

Row = dict[str, Any]
Getter = Callable[[Row], Any]
#: A filter name maps to a JMESPath expression over the output item, or a function giving its value(s).
FilterFields = Mapping[str, str | Getter]
#: Where a row's tags are: the name of its tag list, a function giving that list, or None for resources
#: without tags, whose operations refuse the tag filters (DescribeInstanceStatus refuses ``tag:Name``).
TagSource = str | Callable[[Row], list[dict[str, str]]] | None


def apply_filters(rows: Iterable[Row], filters: list[dict[str, Any]] | None, fields: FilterFields, *,
                  tags_key: TagSource = "Tags") -> list[Row]:
    """Rows matching every filter (AND); a filter matches when any of its values does (OR).

    ``tags_key`` says where the rows' tags are for the ``tag:*`` filters (ENIs call their list ``TagSet``).
    A name that is neither in ``fields`` nor a tag filter is refused as AWS refuses it. A filter without
    values matches nothing.
    """
    compiled = [(getter(_name(f), fields, tags_key), [pattern(str(v)) for v in f.get("Values") or []])
                for f in filters or []]
    return [row for row in rows if all(_matches(get(row), patterns) for get, patterns in compiled)]


def check_names(filters: list[dict[str, Any]] | None, fields: FilterFields, tags_key: TagSource = "Tags") -> None:
    """Refuse a filter name AWS does not document before anything is looked up (input comes first)."""
    for f in filters or []:
        getter(_name(f), fields, tags_key)


def _name(f: dict[str, Any]) -> str:
    """A filter's name; EC2 calls a missing one ``null`` in its error."""
    name = f.get("Name")
    return "null" if name is None else str(name)


def getter(name: str, fields: FilterFields, tags_key: TagSource = "Tags") -> Getter:
    """How to read filter ``name``'s value(s) from a row; InvalidParameterValue for a name not in the table."""
    field = fields.get(name)
    if isinstance(field, str):
        return _compiled_path(field).search
    if field is not None:
        return field
    tag_getter = _tag_getter(name, tags_key)
    if tag_getter is None:
        raise InvalidParameterValue(f"The filter '{name}' is invalid")
    return tag_getter


def values(value: Any) -> list[str]:
    """The texts a filter compares for what a getter gave (one value or nested lists of them)."""
    return [text(v) for v in _flat(value) if v is not None]


@lru_cache(maxsize=2048)
def _compiled_path(expression: str) -> Any:
    return jmespath.compile(expression)


@lru_cache(maxsize=1024)
def pattern(value: str) -> re.Pattern[str]:
    """An EC2 filter value as a regular expression: ``*`` any run, ``?`` one character, ``\\`` escapes."""
    parts, escaped = [], False
    for char in value:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    if escaped:
        parts.append(re.escape("\\"))
    return re.compile("".join(parts), re.DOTALL)


def sql_glob(value: str) -> tuple[str, str | None]:
    """An EC2 filter value as a SQLite GLOB pattern, and the exact text it stands for when it has no wildcard.

    GLOB's own ``[`` classes are taken literally (``[[]``), and escaped ``\\*``/``\\?`` become ``[*]``/``[?]``,
    so SQL and :func:`pattern` agree on every value.
    """
    parts, literal, escaped, wild = [], [], False, False
    for char in value:
        if escaped:
            parts.append(f"[{char}]" if char in "*?[" else char)
            literal.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "*?":
            parts.append(char)
            wild = True
        else:
            parts.append("[[]" if char == "[" else char)
            literal.append(char)
    if escaped:
        parts.append("\\")
        literal.append("\\")
    return "".join(parts), None if wild else "".join(literal)


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list | tuple | set):
        return [item for v in value for item in _flat(v)]
    return [value]


def _matches(value: Any, patterns: list[re.Pattern[str]]) -> bool:
    return any(p.fullmatch(v) for v in values(value) for p in patterns)


def text(value: Any) -> str:
    """A value as EC2 filters compare it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC) if value.tzinfo else value
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return str(value)


def _tag_getter(name: str, tags_key: TagSource = "Tags") -> Getter | None:
    if tags_key is None:
        return None

    def tags(row: Row) -> list[dict[str, str]]:
        return tags_key(row) if callable(tags_key) else row.get(tags_key) or []

    if name.startswith("tag:"):
        key = name[4:]
        return lambda row: [t["Value"] for t in tags(row) if t["Key"] == key]
    if name == "tag-key":
        return lambda row: [t["Key"] for t in tags(row)]
    if name == "tag-value":
        return lambda row: [t["Value"] for t in tags(row)]
    return None
