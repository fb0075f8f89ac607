"""Wildcard matching for actions, resources and ``*Like`` condition values.

IAM wildcards are only ``*`` (any run of characters, ``:`` and ``/`` included) and
``?`` (exactly one character); everything else is literal. Patterns are compiled once
into one anchored regular expression per set (an alternation), and plain strings go
into a frozenset, so matching a request against a statement is one set lookup plus
at most one regex call whatever the number of patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache


def has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def glob_to_regex(pattern: str) -> str:
    """The regex source (unanchored) equivalent to an IAM wildcard pattern."""
    parts: list[str] = []
    literal_start = 0
    for index, char in enumerate(pattern):
        if char in "*?":
            parts.append(re.escape(pattern[literal_start:index]))
            parts.append(".*" if char == "*" else ".")
            literal_start = index + 1
    parts.append(re.escape(pattern[literal_start:]))
    return "".join(parts)


@lru_cache(maxsize=8192)
def compile_regex(source: str) -> re.Pattern[str]:
    """Compile (and remember) an anchored regex; patterns built per request hit this cache."""
    return re.compile(f"(?:{source})\\Z", re.DOTALL)


@lru_cache(maxsize=8192)
def compile_pieces(pieces: tuple[tuple[str, bool], ...]) -> re.Pattern[str]:
    """Compile a pattern given as (text, wildcards-active) pieces, as policy variables produce."""
    return compile_regex("".join(glob_to_regex(text) if wild else re.escape(text) for text, wild in pieces))


@dataclass(frozen=True, slots=True)
class PatternSet:
    """Any-of matcher over IAM wildcard patterns.

    ``ignore_case`` is for actions (``s3:getobject`` is ``s3:GetObject``); resources and
    ``StringLike`` values are case-sensitive. With ``ignore_case`` the exact strings are
    stored lowercased and :meth:`matches` expects a lowercased candidate.
    """

    exact: frozenset[str]
    regex: re.Pattern[str] | None
    match_all: bool

    @classmethod
    def build(cls, patterns: Iterable[str], *, ignore_case: bool = False) -> PatternSet:
        exact: set[str] = set()
        wild: list[str] = []
        match_all = False
        for pattern in patterns:
            if ignore_case:
                pattern = pattern.lower()
            if pattern == "*":
                match_all = True
            elif has_wildcard(pattern):
                wild.append(glob_to_regex(pattern))
            else:
                exact.add(pattern)
        regex = compile_regex("|".join(sorted(set(wild)))) if wild else None
        return cls(frozenset(exact), regex, match_all)

    def matches(self, candidate: str) -> bool:
        if self.match_all or candidate in self.exact:
            return True
        return self.regex is not None and self.regex.match(candidate) is not None


def arn_regex_source(pieces: Iterable[tuple[str, bool]]) -> str | None:
    """Regex source for an ``ArnLike`` pattern given as (text, wildcards-active) pieces.

    AWS matches each of the six colon-separated components on its own: a wildcard in
    the partition, service, region or account can't swallow a colon, while one in the
    resource part (everything after the fifth colon) can. Translating the first five
    components with ``[^:]`` classes gives exactly that in one regex. None when the
    pattern does not have six components.
    """
    parts: list[str] = []
    colons = 0
    for text, wild in pieces:
        for char in text:
            if char == ":" and colons < 5:
                colons += 1
                parts.append(":")
            elif wild and char == "*":
                parts.append("[^:]*" if colons < 5 else ".*")
            elif wild and char == "?":
                parts.append("[^:]" if colons < 5 else ".")
            else:
                parts.append(re.escape(char))
    return "".join(parts) if colons == 5 else None


def arn_matches(regex: re.Pattern[str], value: str) -> bool:
    """Whether an ARN-shaped ``value`` matches a pattern built by :func:`arn_regex_source`."""
    return value.startswith("arn:") and value.count(":") >= 5 and regex.match(value) is not None
