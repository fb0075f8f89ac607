"""Pure: ``ParameterFilters`` (and DescribeParameters' older ``Filters``), checked and matched as AWS does.

DescribeParameters filters on Name (Equals, BeginsWith, Contains), Path (OneLevel, Recursive), and Type, KeyId,
Tier, DataType and ``tag:{key}`` (Equals, BeginsWith); GetParametersByPath only on Type, KeyId (Equals,
BeginsWith) and Label (Equals), as the API reference's ParameterStringFilter says.
A key may appear once; a filter matches when any of its values does (a tag filter without values matches
every parameter carrying the key); all filters must match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.errors import error
from controller.ssm import names
from controller.ssm.model import Version

InvalidFilterKey = error("InvalidFilterKey")
InvalidFilterOption = error("InvalidFilterOption")
InvalidFilterValue = error("InvalidFilterValue")

TYPES = ("String", "StringList", "SecureString")
TIERS = ("Standard", "Advanced", "Intelligent-Tiering")
#: Each key's options, the first one its default.
_OPTIONS = {"Name": ("Equals", "BeginsWith", "Contains"), "Path": ("OneLevel", "Recursive"),
            "Type": ("Equals", "BeginsWith"), "KeyId": ("Equals", "BeginsWith"), "Tier": ("Equals", "BeginsWith"),
            "DataType": ("Equals", "BeginsWith"), "Label": ("Equals",), "tag": ("Equals", "BeginsWith")}
DESCRIBE_KEYS = ("Path", "Name", "Type", "KeyId", "Tier", "DataType", "tag")
BY_PATH_KEYS = ("Type", "KeyId", "Label")
_LEGACY_OPTIONS = {"Name": "BeginsWith", "Type": "Equals", "KeyId": "Equals"}


@dataclass(frozen=True)
class Filter:
    key: str
    option: str
    values: tuple[str, ...]

    def matches(self, item: Version, tags: dict[str, str]) -> bool:
        if self.key.startswith("tag:"):
            tag = self.key[4:]
            return tag in tags and (not self.values or any(self._test(tags[tag], value) for value in self.values))
        if self.key == "Path":
            return any(names.in_path(item.name, value, self.option == "Recursive") for value in self.values)
        if self.key == "Label":
            return any(value in item.labels for value in self.values)
        if self.key == "Name" and self.option != "Contains":   # "app" and "/app" name the same parameter here
            return any(self._test("/" + item.name.lstrip("/"), "/" + value.lstrip("/")) for value in self.values)
        actual = {"Name": item.name, "Type": item.type, "KeyId": item.key_id or "", "Tier": item.tier,
                  "DataType": item.data_type}[self.key]
        return any(self._test(actual, value) for value in self.values)

    def _test(self, actual: str, value: str) -> bool:
        test: Callable[[str, str], bool] = {"Equals": str.__eq__, "BeginsWith": str.startswith,
                                            "Contains": str.__contains__}[self.option]
        return test(actual, value)


def _key_kind(key: str) -> str:
    return "tag" if key.startswith("tag:") else key


def parse(raw: list[dict[str, Any]] | None, allowed_keys: tuple[str, ...]) -> list[Filter]:
    """``ParameterFilters`` as :class:`Filter` objects; AWS's error for a key, option or value it refuses."""
    parsed: list[Filter] = []
    seen: set[str] = set()
    for entry in raw or []:
        key = entry.get("Key", "")
        kind = _key_kind(key)
        if kind not in allowed_keys or key == "tag:":
            shown = ", ".join("tag:{key}" if item == "tag" else item for item in allowed_keys)
            raise InvalidFilterKey(f"The following filter key is not valid: {key}. Valid filter keys include: "
                                   f"[{shown}].")
        if key in seen:
            raise names.ValidationException(f"The following filter is duplicated in the request: {key}. A request "
                                            "can contain only one occurrence of a specific filter.")
        seen.add(key)
        options = _OPTIONS[kind]
        option = entry.get("Option") or options[0]
        if option not in options:
            raise InvalidFilterOption(f"The following filter option is not valid: {option}. Valid options "
                                      f"include: [{', '.join(options)}].")
        values = tuple(entry.get("Values") or ())
        if not values and kind != "tag":
            raise InvalidFilterValue(f"The following filter values are missing: null for filter key {key}.")
        if option == "Equals" or kind == "Path":
            _check_values(kind, values)
        parsed.append(Filter(key, option, values))
    return parsed


def _check_values(kind: str, values: tuple[str, ...]) -> None:
    allowed = {"Type": TYPES, "Tier": TIERS}.get(kind)
    for value in values:
        if allowed is not None and value not in allowed:
            raise InvalidFilterValue(f"The following filter value is not valid: {value}. Valid values include: "
                                     f"[{', '.join(allowed)}].")
        if kind == "Path":
            if value.lower().startswith(("/aws", "/ssm")):
                raise names.ValidationException(
                    "Filters for common parameters can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). "
                    "When using global parameters, please specify within a global namespace.")
            names.check_path(value)


def parse_legacy(raw: list[dict[str, Any]] | None) -> list[Filter]:
    """DescribeParameters' older ``Filters`` (Name begins with, Type and KeyId equal)."""
    parsed = []
    for entry in raw or []:
        key = entry.get("Key", "")
        if key not in _LEGACY_OPTIONS:
            raise InvalidFilterKey(f"The following filter key is not valid: {key}. Valid filter keys include: "
                                   "[Name, Type, KeyId].")
        values = tuple(entry.get("Values") or ())
        _check_values(key, values)
        parsed.append(Filter(key, _LEGACY_OPTIONS[key], values))
    return parsed


def matching(items: list[Version], filters: list[Filter], tags_of: Callable[[str], dict[str, str]]) -> list[Version]:
    """The items every filter matches (tags read only when a tag filter asks)."""
    needs_tags = any(item.key.startswith("tag:") for item in filters)
    return [item for item in items
            if all(f.matches(item, tags_of(item.name) if needs_tags else {}) for f in filters)]
