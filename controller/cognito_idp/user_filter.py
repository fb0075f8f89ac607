"""Pure parsing and matching of ListUsers' Filter: ``attribute = "value"`` (exact) or ``attribute ^= "value"``
(prefix), over the attributes Cognito lets a filter search."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Filterable attributes; ``username`` and ``email`` compare case-insensitively as Cognito's do.
SEARCHABLE = ("username", "email", "phone_number", "name", "given_name", "family_name", "preferred_username",
              "cognito:user_status", "status", "sub")
_CASELESS = ("username", "email")
_GRAMMAR = re.compile(r'^\s*([a-z_:]+)\s*(\^?=)\s*"((?:[^"\\]|\\.)*)"\s*$')


@dataclass(frozen=True)
class UserFilter:
    attribute: str
    prefix: bool
    value: str

    def matches(self, user: dict[str, Any]) -> bool:
        actual = _value(user, self.attribute)
        if actual is None:
            return False
        expected = self.value
        if self.attribute in _CASELESS:
            actual, expected = actual.lower(), expected.lower()
        return actual.startswith(expected) if self.prefix else actual == expected


def _value(user: dict[str, Any], attribute: str) -> str | None:
    if attribute == "username":
        return user["username"]
    if attribute == "cognito:user_status":
        return user["status"]
    if attribute == "status":
        return "Enabled" if user["enabled"] else "Disabled"
    return user["attributes"].get(attribute)


def parse(text: str | None) -> UserFilter | None:
    """The filter ``text`` says (None: no filter), or ValueError with Cognito's message."""
    if text is None or not text.strip():
        return None
    match = _GRAMMAR.match(text)
    if match is None:
        raise ValueError("Error while parsing filter.")
    attribute, operator, value = match.groups()
    if attribute not in SEARCHABLE:
        raise ValueError(f"Invalid search attribute: {attribute}")
    return UserFilter(attribute=attribute, prefix=operator == "^=", value=re.sub(r"\\(.)", r"\1", value))
