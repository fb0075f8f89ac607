"""EC2's generic ``Filters`` (Name + Values with ``*``/``?`` wildcards) over plain dict rows."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import Any

from controller.errors import error

InvalidParameterValue = error("InvalidParameterValue")

#: A filter name maps to a function giving the row's value(s) for it.
FilterFields = dict[str, Callable[[dict[str, Any]], Any]]


def apply_filters(rows: Iterable[dict[str, Any]], filters: list[dict[str, Any]] | None,
                  fields: FilterFields, *, tags_key: str = "Tags") -> list[dict[str, Any]]:
    """Rows matching every filter (AND); a filter matches when any of its values does (OR).

    ``tags_key`` names the rows' tag list for the ``tag:*`` filters (ENIs call it ``TagSet``).
    """
    compiled = []
    for f in filters or []:
        name = f.get("Name", "")
        getter = fields.get(name) or _tag_getter(name, tags_key)
        if getter is None:
            raise InvalidParameterValue(f"The filter '{name}' is invalid")
        patterns = [re.compile(fnmatch.translate(str(v))) for v in f.get("Values") or []]
        compiled.append((getter, patterns))
    return [row for row in rows if all(_matches(getter(row), patterns) for getter, patterns in compiled)]


def _matches(value: Any, patterns: list[re.Pattern[str]]) -> bool:
    values = value if isinstance(value, list | tuple | set) else [value]
    return any(p.fullmatch(_text(v)) for v in values if v is not None for p in patterns)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _tag_getter(name: str, tags_key: str = "Tags") -> Callable[[dict[str, Any]], Any] | None:
    if name.startswith("tag:"):
        key = name[4:]
        return lambda row: [t["Value"] for t in row.get(tags_key, []) if t["Key"] == key]
    if name == "tag-key":
        return lambda row: [t["Key"] for t in row.get(tags_key, [])]
    if name == "tag-value":
        return lambda row: [t["Value"] for t in row.get(tags_key, [])]
    return None
