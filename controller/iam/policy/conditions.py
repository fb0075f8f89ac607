"""The ``Condition`` element: every operator family, ``IfExists``, ``ForAnyValue``/``ForAllValues``.

Semantics, from the IAM User Guide ("Condition operators", "Multivalued context keys"):

- within a statement, all operators and all keys must hold (AND); the values listed for
  one key are alternatives (OR);
- a negated operator (``StringNotEquals``, ``NotIpAddress``, ``ArnNotLike``...) holds when
  the request value matches *none* of the listed values (NOR), i.e. it is exactly the
  negation of its positive twin;
- a key absent from the request makes a positive operator false and a negated one true,
  ``...IfExists`` makes any operator true, ``ForAllValues`` is true and ``ForAnyValue``
  false on an absent key or an empty value set;
- ``ForAnyValue`` holds when at least one request value satisfies the operator,
  ``ForAllValues`` when every request value does; without a qualifier a multivalued
  request key behaves like ``ForAnyValue`` for a positive operator and as its negation
  for a negated one;
- ``Null`` tests presence: ``true`` means the key is absent.

Policy values are compiled once per document. Values holding policy variables (string,
ARN and Bool operators only) are compiled per distinct substitution and cached.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Protocol

from controller.iam.policy.matching import arn_matches, arn_regex_source, compile_regex, glob_to_regex
from controller.iam.policy.variables import Lookup, Template, Variable, parse_template

#: A policy value as (text, wildcards-active) pieces; a plain value is one piece.
Pieces = tuple[tuple[str, bool], ...]


class Matcher(Protocol):
    def matches(self, context_value: str) -> bool:
        """Whether the request value matches any of the policy values."""


class ContextView(Protocol):
    def values(self, key: str) -> tuple[str, ...] | None:
        """All values of a lowercased context key, or None when absent."""

    def single(self, key: str) -> str | None:
        """The value of a single-valued key, or None (absent or multivalued)."""


# --- value families -----------------------------------------------------------------


def _text(pieces: Pieces) -> str:
    return "".join(text for text, _ in pieces)


@dataclass(frozen=True, slots=True)
class _SetMatcher:
    values: frozenset[str]
    fold: Callable[[str], str] | None = None

    def matches(self, context_value: str) -> bool:
        return (self.fold(context_value) if self.fold else context_value) in self.values


@dataclass(frozen=True, slots=True)
class _RegexMatcher:
    regex: re.Pattern[str] | None

    def matches(self, context_value: str) -> bool:
        return self.regex is not None and self.regex.match(context_value) is not None


@dataclass(frozen=True, slots=True)
class _ArnMatcher:
    regexes: tuple[re.Pattern[str], ...]

    def matches(self, context_value: str) -> bool:
        return any(arn_matches(regex, context_value) for regex in self.regexes)


@dataclass(frozen=True, slots=True)
class _OrderedMatcher:
    """Numeric and date comparisons: parse the request value, compare with each policy value."""

    values: tuple[Decimal | float, ...]
    compare: Callable[[object, object], bool]
    parse: Callable[[str], Decimal | float | None]

    def matches(self, context_value: str) -> bool:
        parsed = self.parse(context_value)
        if parsed is None:
            return False
        return any(self.compare(parsed, value) for value in self.values)


@dataclass(frozen=True, slots=True)
class _IpMatcher:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    def matches(self, context_value: str) -> bool:
        address = _parse_ip(context_value)
        if address is None:
            return False
        return any(address.version == network.version and address in network for network in self.networks)


@dataclass(frozen=True, slots=True)
class _BinaryMatcher:
    values: frozenset[bytes]

    def matches(self, context_value: str) -> bool:
        return _decode_binary(context_value) in self.values


def _parse_number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


_EPOCH = re.compile(r"-?\d+(?:\.\d+)?")
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")


@lru_cache(maxsize=4096)
def parse_date(text: str) -> float | None:
    """Seconds since the epoch of a W3C ISO 8601 date/time or an epoch number, or None.

    Accepts ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY-MM-DDThh:mm[:ss[.s]]TZD`` (a time without
    a zone is UTC) and epoch seconds. A bare number is always epoch seconds, as in IAM's
    own parser, so ``2020`` is 33 minutes after the epoch, not the year.
    """
    text = text.strip()
    if _EPOCH.fullmatch(text):
        return float(text)
    partial = _YEAR_MONTH.fullmatch(text)
    try:
        if partial:
            moment = dt.datetime(int(partial.group(1)), int(partial.group(2)), 1)
        else:
            moment = dt.datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@lru_cache(maxsize=4096)
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _decode_binary(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode()


class Family:
    """How one operator family turns policy values into a :class:`Matcher`."""

    allows_variables = False

    def build(self, values: Sequence[Pieces]) -> Matcher:
        raise NotImplementedError


class _StringEquals(Family):
    allows_variables = True

    def build(self, values: Sequence[Pieces]) -> Matcher:
        return _SetMatcher(frozenset(_text(value) for value in values))


class _StringEqualsIgnoreCase(Family):
    allows_variables = True

    def build(self, values: Sequence[Pieces]) -> Matcher:
        return _SetMatcher(frozenset(_text(value).casefold() for value in values), str.casefold)


class _StringLike(Family):
    allows_variables = True

    def build(self, values: Sequence[Pieces]) -> Matcher:
        sources = sorted({"".join(glob_to_regex(text) if wild else re.escape(text) for text, wild in value)
                          for value in values})
        return _RegexMatcher(compile_regex("|".join(sources)) if sources else None)


class _Arn(Family):
    allows_variables = True

    def build(self, values: Sequence[Pieces]) -> Matcher:
        sources = (arn_regex_source(value) for value in values)
        return _ArnMatcher(tuple(compile_regex(source) for source in sources if source is not None))


class _Bool(Family):
    allows_variables = True

    def build(self, values: Sequence[Pieces]) -> Matcher:
        return _SetMatcher(frozenset(_text(value).lower() for value in values), str.lower)


class _Ordered(Family):
    def __init__(self, compare: Callable[[object, object], bool],
                 parse: Callable[[str], Decimal | float | None]) -> None:
        self.compare = compare
        self.parse = parse

    def build(self, values: Sequence[Pieces]) -> Matcher:
        parsed = (self.parse(_text(value)) for value in values)
        return _OrderedMatcher(tuple(value for value in parsed if value is not None), self.compare, self.parse)


class _Ip(Family):
    def build(self, values: Sequence[Pieces]) -> Matcher:
        networks = (_parse_network(_text(value)) for value in values)
        return _IpMatcher(tuple(network for network in networks if network is not None))


class _Binary(Family):
    def build(self, values: Sequence[Pieces]) -> Matcher:
        return _BinaryMatcher(frozenset(_decode_binary(_text(value)) for value in values))


class _Null(Family):
    def build(self, values: Sequence[Pieces]) -> Matcher:
        return _SetMatcher(frozenset(_text(value).lower() for value in values))


_STRING, _STRING_IC, _LIKE, _ARN, _BOOL = _StringEquals(), _StringEqualsIgnoreCase(), _StringLike(), _Arn(), _Bool()
_IP, _BINARY, _NULL = _Ip(), _Binary(), _Null()


def _numeric(compare: Callable[[object, object], bool]) -> Family:
    return _Ordered(compare, _parse_number)


def _date(compare: Callable[[object, object], bool]) -> Family:
    return _Ordered(compare, parse_date)


#: Base operator name -> (family, negated).
OPERATORS: dict[str, tuple[Family, bool]] = {
    "StringEquals": (_STRING, False),
    "StringNotEquals": (_STRING, True),
    "StringEqualsIgnoreCase": (_STRING_IC, False),
    "StringNotEqualsIgnoreCase": (_STRING_IC, True),
    "StringLike": (_LIKE, False),
    "StringNotLike": (_LIKE, True),
    "NumericEquals": (_numeric(operator.eq), False),
    "NumericNotEquals": (_numeric(operator.eq), True),
    "NumericLessThan": (_numeric(operator.lt), False),
    "NumericLessThanEquals": (_numeric(operator.le), False),
    "NumericGreaterThan": (_numeric(operator.gt), False),
    "NumericGreaterThanEquals": (_numeric(operator.ge), False),
    "DateEquals": (_date(operator.eq), False),
    "DateNotEquals": (_date(operator.eq), True),
    "DateLessThan": (_date(operator.lt), False),
    "DateLessThanEquals": (_date(operator.le), False),
    "DateGreaterThan": (_date(operator.gt), False),
    "DateGreaterThanEquals": (_date(operator.ge), False),
    "Bool": (_BOOL, False),
    "BinaryEquals": (_BINARY, False),
    "IpAddress": (_IP, False),
    "NotIpAddress": (_IP, True),
    "ArnEquals": (_ARN, False),
    "ArnLike": (_ARN, False),
    "ArnNotEquals": (_ARN, True),
    "ArnNotLike": (_ARN, True),
    "Null": (_NULL, False),
}

ANY_VALUE, ALL_VALUES = "ForAnyValue", "ForAllValues"


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """A parsed operator name such as ``ForAllValues:StringLikeIfExists``."""

    name: str
    base: str
    family: Family
    negated: bool
    qualifier: str | None
    if_exists: bool


def parse_operator(name: str) -> OperatorSpec | None:
    """The operator named ``name`` (case-sensitive, as IAM spells it), or None if unknown."""
    qualifier = None
    base = name
    for prefix in (ANY_VALUE, ALL_VALUES):
        if base.startswith(prefix + ":"):
            qualifier = prefix
            base = base[len(prefix) + 1:]
            break
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[:-len("IfExists")]
    entry = OPERATORS.get(base)
    if entry is None or (base == "Null" and (if_exists or qualifier)):
        return None
    family, negated = entry
    return OperatorSpec(name, base, family, negated, qualifier, if_exists)


@lru_cache(maxsize=8192)
def _build_cached(family: Family, values: tuple[Pieces, ...]) -> Matcher:
    return family.build(values)


@dataclass(frozen=True, slots=True)
class Condition:
    """One (operator, key, values) test of a statement's ``Condition`` block."""

    spec: OperatorSpec
    key: str
    key_lower: str
    matcher: Matcher | None
    templates: tuple[Template | str, ...]

    @classmethod
    def compile(cls, spec: OperatorSpec, key: str, values: Sequence[str], *, variables: bool) -> Condition:
        use_templates = variables and spec.family.allows_variables
        parsed: list[Template | str] = []
        for value in values:
            template = parse_template(value) if use_templates else None
            parsed.append(template if template is not None else value)
        if all(isinstance(value, str) for value in parsed):
            matcher = spec.family.build([((value, True),) for value in values])
            return cls(spec, key, key.lower(), matcher, ())
        return cls(spec, key, key.lower(), None, tuple(parsed))

    @property
    def variables(self) -> tuple[Variable, ...]:
        return tuple(variable for value in self.templates if isinstance(value, Template)
                     for variable in value.variables)

    @property
    def requires_key(self) -> bool:
        """Whether an absent key is worth reporting as a missing context value."""
        return self.spec.base != "Null" and not self.spec.if_exists

    def _resolve(self, lookup: Lookup) -> Matcher | None:
        resolved: list[Pieces] = []
        for value in self.templates:
            if isinstance(value, str):
                resolved.append(((value, True),))
                continue
            pieces = value.resolve(lookup)
            if pieces is None:
                return None
            resolved.append(tuple(pieces))
        return _build_cached(self.spec.family, tuple(resolved))

    def evaluate(self, context: ContextView) -> bool | None:
        """True/False, or None when a policy variable in the values can't be resolved."""
        spec = self.spec
        values = context.values(self.key_lower)
        if spec.base == "Null":
            assert self.matcher is not None
            return self.matcher.matches("true" if not values else "false")
        if not values or (spec.qualifier is not None and values == ("",)):
            if spec.if_exists:
                return True
            if spec.qualifier is not None:
                return spec.qualifier == ALL_VALUES
            return spec.negated
        matcher = self.matcher if self.matcher is not None else self._resolve(context.single)
        if matcher is None:
            return None
        negated = spec.negated
        if spec.qualifier is None:
            return any(matcher.matches(value) for value in values) != negated
        if spec.qualifier == ANY_VALUE:
            return any(matcher.matches(value) != negated for value in values)
        return all(matcher.matches(value) != negated for value in values)
