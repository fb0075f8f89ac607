"""CloudWatch Logs filter patterns, compiled into a predicate over one event's message (pure).

The syntax of https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html,
shared by FilterLogEvents, metric and subscription filters:

- terms: ``ERROR Exception`` (every term), ``"Out of memory"`` (a phrase), ``?ERROR ?WARN`` (any
  ``?`` term), ``ERROR -Exiting`` (without the ``-`` term); case-sensitive substring matches;
- a regular expression between ``%``: ``%ERROR|WARN%`` (letters, digits, a few symbols and operators,
  no parentheses; at most two in a JSON or space-delimited pattern);
- JSON: ``{ $.level = "error" && ($.latency > 500 || $.user.id NOT EXISTS) }`` with ``=``/``!=``
  on strings (``*`` wildcards, ``%regex%``), numeric comparisons, ``IS NULL``, ``IS TRUE``,
  ``IS FALSE``, ``NOT EXISTS``; an event that is not a JSON object never matches;
- space-delimited: ``[ip, user, ..., status_code = 4*, bytes > 1000]`` names the fields of events
  split on spaces (text in ``"..."`` or ``[...]`` is one field), ``...`` stands for any number of
  fields, and conditions on a field combine with ``&&``/``||``.

:func:`compile_pattern` raises :class:`FilterPatternError` for a pattern AWS would refuse; the
service answers it as InvalidParameterException "Invalid filter pattern".
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Matcher = Callable[[str], bool]

_ABSENT: Any = object()
MAX_REGEXES = 2
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<paren>[()])
    | (?P<logic>&&|\|\|)
    | (?P<op>!=|<=|>=|=|<|>)
    | (?P<comma>,)
    | (?P<quoted>"(?:[^"\\]|\\.)*")
    | (?P<regex>%[^%]+%)
    | (?P<word>[^\s()&|!=<>,"%]+)
    )""", re.VERBOSE)
#: What a ``%regex%`` may hold: ASCII letters and digits, the symbols ``:_#=@/;,-`` and space, and the
#: operators ``^$?[]{}|\*+.`` (no parentheses, no multi-byte characters).
_REGEX_TEXT = re.compile(r"[A-Za-z0-9:_#=@/;,\- ^$?\[\]{}|\\*+.]+")
_SELECTOR_PART = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


class FilterPatternError(ValueError):
    """A pattern CloudWatch Logs refuses."""


def compile_pattern(pattern: str | None) -> Matcher:
    """The predicate that says whether an event's message matches ``pattern`` (None or blank: all)."""
    text = (pattern or "").strip()
    if not text or text == '""':
        return lambda message: True
    if text.startswith("{"):
        return _json_pattern(text)
    if text.startswith("["):
        return _delimited_pattern(text)
    if len(text) > 2 and text.startswith("%") and text.endswith("%") and "%" not in text[1:-1]:
        regex = _regex(text)
        return lambda message: regex.search(message) is not None
    return _terms_pattern(text)


# --- terms -------------------------------------------------------------------------------------------

_TERM = re.compile(r'\s*([?-]?)(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')


def _terms_pattern(text: str) -> Matcher:
    """Terms: every plain term before the first ``?`` term is required; each ``?`` term starts an
    alternative that the plain terms after it join (``?ERROR MainThread ?WARN Deadlock`` is ERROR and
    MainThread, or WARN and Deadlock: AWS CDK's ``anyTermGroup``); ``-`` terms exclude events."""
    required: list[str] = []
    alternatives: list[list[str]] = []
    excluded: list[str] = []
    position = 0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None:
            if text[position:].strip():
                raise FilterPatternError(f"unbalanced quote in {text!r}")
            break
        prefix, quoted, bare = match.groups()
        term = _unescape(quoted) if quoted is not None else bare
        if not term or (bare is not None and bare[0] in "{}[]"):
            raise FilterPatternError(f"term {term!r} is not valid")
        if prefix == "?":
            alternatives.append([term])
        elif prefix == "-":
            excluded.append(term)
        else:
            (alternatives[-1] if alternatives else required).append(term)
        position = match.end()

    def matches(message: str) -> bool:
        return (all(term in message for term in required)
                and (not alternatives or any(all(term in message for term in group) for group in alternatives))
                and not any(term in message for term in excluded))
    return matches


# --- shared lexing and values ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterPatternError(f"unexpected {text[position:].strip()[:20]!r}")
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


def _limit_regexes(tokens: list[_Token]) -> list[_Token]:
    """A JSON or space-delimited pattern may hold at most :data:`MAX_REGEXES` ``%regex%`` values."""
    if sum(token.kind == "regex" for token in tokens) > MAX_REGEXES:
        raise FilterPatternError(f"a JSON or space-delimited pattern holds at most {MAX_REGEXES} regular expressions")
    return tokens


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _regex(token: str) -> re.Pattern[str]:
    """A ``%regex%`` term: AWS allows letters, digits, a few symbols and operators, and no groups."""
    body = token[1:-1]
    if not _REGEX_TEXT.fullmatch(body):
        raise FilterPatternError(f"{token!r} uses characters a filter pattern's regular expression may not")
    try:
        return re.compile(body)
    except re.error as exc:
        raise FilterPatternError(f"bad regular expression {token!r}: {exc}") from exc


def _glob(text: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", text)),
                      re.DOTALL)


@dataclass(frozen=True)
class _Value:
    """The right-hand side of a comparison: a number, a string (glob) or a regular expression."""

    number: float | None
    text: re.Pattern[str] | None
    regex: re.Pattern[str] | None

    @staticmethod
    def of(token: _Token) -> _Value:
        if token.kind == "regex":
            return _Value(None, None, _regex(token.text))
        if token.kind == "quoted":
            return _Value(None, _glob(_unescape(token.text[1:-1])), None)
        if token.kind == "word":
            number = float(token.text) if _NUMBER.fullmatch(token.text) else None
            return _Value(number, _glob(token.text), None)
        raise FilterPatternError(f"expected a value, found {token.text!r}")

    def string_matches(self, value: str) -> bool:
        if self.regex is not None:
            return self.regex.search(value) is not None
        return self.text is not None and self.text.fullmatch(value) is not None


_NUMERIC = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _compare(field: Any, op: str, value: _Value, *, numeric_strings: bool) -> bool:
    """Whether ``field`` (a JSON value, or a delimited field's text) satisfies ``op value``.

    Ordering operators were checked to have a number at compile time."""
    if value.number is not None:
        number = _as_number(field) if (numeric_strings or not isinstance(field, str)) else None
        if number is not None:
            return _NUMERIC[op](number, value.number)
        if op not in ("=", "!="):
            return False
    if not isinstance(field, str):
        return False
    return value.string_matches(field) == (op == "=")


class _Parser:
    """Recursive descent over the tokens of a JSON or delimited-field condition."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str | None = None, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or (kind and token.kind != kind) or (text and token.text.upper() != text):
            raise FilterPatternError(f"expected {text or kind}, found {token.text if token else 'the end'!r}")
        self.index += 1
        return token

    def disjunction(self, comparison: Callable[[], Callable[[Any], bool]]) -> Callable[[Any], bool]:
        terms = [self.conjunction(comparison)]
        while (token := self.peek()) is not None and token.text == "||":
            self.index += 1
            terms.append(self.conjunction(comparison))
        return terms[0] if len(terms) == 1 else lambda subject: any(term(subject) for term in terms)

    def conjunction(self, comparison: Callable[[], Callable[[Any], bool]]) -> Callable[[Any], bool]:
        factors = [self.factor(comparison)]
        while (token := self.peek()) is not None and token.text == "&&":
            self.index += 1
            factors.append(self.factor(comparison))
        return factors[0] if len(factors) == 1 else lambda subject: all(factor(subject) for factor in factors)

    def factor(self, comparison: Callable[[], Callable[[Any], bool]]) -> Callable[[Any], bool]:
        token = self.peek()
        if token is not None and token.text == "(":
            self.index += 1
            inner = self.disjunction(comparison)
            self.take("paren", ")")
            return inner
        return comparison()


# --- JSON ---------------------------------------------------------------------------------------------

def _json_pattern(text: str) -> Matcher:
    if not text.endswith("}"):
        raise FilterPatternError("a JSON pattern ends with }")
    parser = _Parser(_limit_regexes(_tokens(text[1:-1])))
    if parser.peek() is None:
        raise FilterPatternError("empty JSON pattern")
    predicate = parser.disjunction(lambda: _json_comparison(parser))
    if parser.peek() is not None:
        raise FilterPatternError(f"unexpected {parser.peek().text!r}")  # type: ignore[union-attr]

    def matches(message: str) -> bool:
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return isinstance(document, dict) and predicate(document)
    return matches


def _selector(text: str) -> list[str | int]:
    if not text.startswith("$"):
        raise FilterPatternError(f"a JSON selector starts with $: {text!r}")
    parts: list[str | int] = []
    position = 1
    while position < len(text):
        match = _SELECTOR_PART.match(text, position)
        if match is None:
            raise FilterPatternError(f"bad JSON selector {text!r}")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if not parts:
        raise FilterPatternError("a JSON selector names a field: $.name")
    return parts


def _resolve(document: Any, path: list[str | int]) -> Any:
    for part in path:
        if isinstance(part, int):
            if not isinstance(document, list) or part >= len(document):
                return _ABSENT
            document = document[part]
        else:
            if not isinstance(document, dict) or part not in document:
                return _ABSENT
            document = document[part]
    return document


def _json_comparison(parser: _Parser) -> Callable[[Any], bool]:
    path = _selector(parser.take("word").text)
    token = parser.take()
    keyword = token.text.upper()
    if token.kind == "word" and keyword == "IS":
        state = parser.take("word").text.upper()
        expected = {"NULL": None, "TRUE": True, "FALSE": False}
        if state not in expected:
            raise FilterPatternError(f"IS {state} is not a test: IS NULL, IS TRUE or IS FALSE")
        wanted = expected[state]
        return lambda document: (value := _resolve(document, path)) is not _ABSENT and value is wanted
    if token.kind == "word" and keyword == "NOT":
        parser.take("word", "EXISTS")
        return lambda document: _resolve(document, path) is _ABSENT
    if token.kind != "op":
        raise FilterPatternError(f"expected a comparison after the selector, found {token.text!r}")
    op, value = token.text, _Value.of(parser.take())
    if op not in ("=", "!=") and value.number is None:
        raise FilterPatternError(f"{op} compares numbers")

    def compare(document: Any) -> bool:
        field = _resolve(document, path)
        return field is not _ABSENT and _compare(field, op, value, numeric_strings=False)
    return compare


# --- space-delimited ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Field:
    name: str
    test: Callable[[str], bool] | None   # None: any value


def _delimited_pattern(text: str) -> Matcher:
    if not text.endswith("]"):
        raise FilterPatternError("a space-delimited pattern ends with ]")
    body = text[1:-1]
    if not body.strip():
        raise FilterPatternError("a space-delimited pattern names its fields")
    specs = _split_fields(body)
    _limit_regexes([token for spec in specs if spec != "..." for token in _tokens(spec)])
    fields = [_delimited_field(spec) for spec in specs]
    names = [field.name for field in fields if field.name != "..."]
    if len(set(names)) != len(names):
        raise FilterPatternError("field names repeat")

    def matches(message: str) -> bool:
        return _match_fields(fields, split_event(message))
    return matches


def _split_fields(body: str) -> list[str]:
    """The pattern's comma-separated field specs (commas inside quotes or %regex% are text)."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for char in body:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "\"%":
            quote = char
            current.append(char)
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quote:
        raise FilterPatternError(f"unclosed {quote} in the pattern")
    parts.append("".join(current))
    return [part.strip() for part in parts]


def _delimited_field(spec: str) -> _Field:
    if spec == "...":
        return _Field("...", None)
    tokens = _tokens(spec)
    if not tokens:
        raise FilterPatternError("an empty field in a space-delimited pattern")
    if len(tokens) == 1 and tokens[0].kind == "word":
        return _Field(tokens[0].text, None)
    names: set[str] = set()
    parser = _Parser(tokens)

    def comparison() -> Callable[[Any], bool]:
        name = parser.take("word").text
        names.add(name)
        op = parser.take("op").text
        value = _Value.of(parser.take())
        if op not in ("=", "!=") and value.number is None:
            raise FilterPatternError(f"{op} compares numbers")
        return lambda field: _compare(field, op, value, numeric_strings=True)

    test = parser.disjunction(comparison)
    if parser.peek() is not None:
        raise FilterPatternError(f"unexpected {parser.peek().text!r}")  # type: ignore[union-attr]
    if len(names) != 1:
        raise FilterPatternError("conditions in one field name that field only")
    return _Field(names.pop(), test)


def split_event(message: str) -> list[str]:
    """An event's fields for a space-delimited pattern: words, ``"quoted text"`` and ``[bracketed text]``."""
    fields: list[str] = []
    position, length = 0, len(message)
    while position < length:
        char = message[position]
        if char.isspace():
            position += 1
            continue
        closing = {'"': '"', "[": "]"}.get(char)
        if closing is not None:
            end = message.find(closing, position + 1)
            if end >= 0:
                fields.append(message[position + 1:end])
                position = end + 1
                continue
        end = position
        while end < length and not message[end].isspace():
            end += 1
        fields.append(message[position:end])
        position = end
    return fields


def _match_fields(fields: list[_Field], values: list[str]) -> bool:
    """Match field specs against an event's fields, ``...`` taking any number (backtracking)."""
    if not fields:
        return not values
    first, rest = fields[0], fields[1:]
    if first.name == "...":
        return any(_match_fields(rest, values[skip:]) for skip in range(len(values) + 1))
    if not values or (first.test is not None and not first.test(values[0])):
        return False
    return _match_fields(rest, values[1:])
