"""Policy variables: ``${aws:username}``, ``${aws:PrincipalTag/team, 'none'}``, ``${*}``.

A variable is replaced by the single value its context key has in the request (key
names are case-insensitive), or by its quoted default. ``${*}``, ``${?}`` and ``${$}``
stand for the literal characters, so ``${*}`` in a ``Resource`` or ``StringLike`` value
matches only an asterisk. A value substituted into a wildcard pattern is literal too:
a tag value of ``*`` does not widen a grant.

Variables exist only in policies whose ``Version`` is ``2012-10-17``; older documents
keep ``${...}`` as plain text. When a variable can't be resolved (key absent or
multi-valued, no default) the statement holding it does not apply, as the IAM User
Guide says ("causes the statement to be invalid").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: Returns the single string value of a (lowercased) context key, or None.
Lookup = Callable[[str], "str | None"]

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_WITH_DEFAULT = re.compile(r"^\s*([^,\s][^,]*?)\s*,\s*'([^']*)'\s*$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True, slots=True)
class Variable:
    """One ``${key}`` or ``${key, 'default'}`` reference."""

    name: str
    key: str
    default: str | None


@dataclass(frozen=True, slots=True)
class Escaped:
    """Text that must match literally even inside a wildcard pattern (``${*}``)."""

    text: str


Segment = str | Escaped | Variable


@dataclass(frozen=True, slots=True)
class Template:
    """A policy string with at least one variable or escape, split into segments.

    Plain ``str`` segments keep their wildcard meaning in ``*Like`` and ``Resource``
    patterns; :class:`Escaped` segments and substituted values never do.
    """

    source: str
    segments: tuple[Segment, ...]

    @property
    def variables(self) -> tuple[Variable, ...]:
        return tuple(segment for segment in self.segments if isinstance(segment, Variable))

    def resolve(self, lookup: Lookup) -> list[tuple[str, bool]] | None:
        """Pieces of text, each flagged True when its wildcards count; None if unresolvable."""
        pieces: list[tuple[str, bool]] = []
        for segment in self.segments:
            if isinstance(segment, Variable):
                value = lookup(segment.key)
                if value is None:
                    value = segment.default
                if value is None:
                    return None
                pieces.append((value, False))
            elif isinstance(segment, Escaped):
                pieces.append((segment.text, False))
            else:
                pieces.append((segment, True))
        return pieces


def parse_template(text: str) -> Template | None:
    """Split ``text`` into segments, or None when it holds no ``${...}`` at all."""
    if "${" not in text:
        return None
    segments: list[Segment] = []
    position = 0
    for match in _VARIABLE.finditer(text):
        if match.start() > position:
            segments.append(text[position:match.start()])
        segments.append(_segment(match.group(1), match.group(0)))
        position = match.end()
    if position < len(text):
        segments.append(text[position:])
    if all(isinstance(segment, str) for segment in segments):
        return None
    return Template(text, tuple(segments))


def _segment(inner: str, whole: str) -> Segment:
    if inner in _ESCAPES:
        return Escaped(_ESCAPES[inner])
    with_default = _WITH_DEFAULT.match(inner)
    if with_default:
        name = with_default.group(1)
        return Variable(name, name.lower(), with_default.group(2))
    name = inner.strip()
    if not name:
        return whole
    return Variable(name, name.lower(), None)
