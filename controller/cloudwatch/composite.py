"""Composite alarms' AlarmRule language (pure): parse, list the alarms it names, evaluate.

``ALARM(name)``, ``OK(name)``, ``INSUFFICIENT_DATA(name)`` (a name or an alarm ARN, optionally in double
quotes), ``TRUE``, ``FALSE``, ``NOT``, ``AND``, ``OR`` (AND binds tighter than OR) and parentheses, as
the PutCompositeAlarm reference documents. A rule is at most 10,240 characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_RULE_LENGTH = 10240
STATE_FUNCTIONS = ("ALARM", "OK", "INSUFFICIENT_DATA")
_TOKEN_RE = re.compile(r'\s*(?:(?P<paren>[()])|(?P<quoted>"(?:[^"\\]|\\.)*")|(?P<word>[^\s()"]+))')


class RuleError(ValueError):
    """The rule is not in the AlarmRule language; the message says where."""


@dataclass(frozen=True)
class Expr:
    kind: str                       # state | const | not | and | or
    value: str | bool = ""          # the state function name, or the constant
    alarm: str = ""                 # the alarm a state function reads
    args: tuple[Expr, ...] = ()


def _tokens(rule: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    stripped = rule.rstrip()
    while position < len(stripped):
        match = _TOKEN_RE.match(stripped, position)
        if match is None or match.end() == position:
            raise RuleError(f"Unexpected character at position {position}.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


class _Parser:
    def __init__(self, rule: str) -> None:
        self.tokens = _tokens(rule)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise RuleError("Unexpected end of the alarm rule.")
        self.position += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "word" and token[1].upper() == word:
            self.position += 1
            return True
        return False

    def parse(self) -> Expr:
        expr = self.disjunction()
        if self.peek() is not None:
            raise RuleError(f"Unexpected token '{self.peek()[1]}' in the alarm rule.")  # type: ignore[index]
        return expr

    def disjunction(self) -> Expr:
        items = [self.conjunction()]
        while self.keyword("OR"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Expr("or", args=tuple(items))

    def conjunction(self) -> Expr:
        items = [self.negation()]
        while self.keyword("AND"):
            items.append(self.negation())
        return items[0] if len(items) == 1 else Expr("and", args=tuple(items))

    def negation(self) -> Expr:
        if self.keyword("NOT"):
            return Expr("not", args=(self.negation(),))
        return self.primary()

    def primary(self) -> Expr:
        kind, text = self.take()
        if kind == "paren" and text == "(":
            inner = self.disjunction()
            if self.take() != ("paren", ")"):
                raise RuleError("Expected ')' in the alarm rule.")
            return inner
        if kind == "word" and text.upper() in ("TRUE", "FALSE"):
            return Expr("const", text.upper() == "TRUE")
        if kind == "word" and text.upper() in STATE_FUNCTIONS:
            if self.take() != ("paren", "("):
                raise RuleError(f"Expected '(' after {text}.")
            name_kind, name = self.take()
            if name_kind == "quoted":
                name = name[1:-1].replace('\\"', '"')
            elif name_kind != "word":
                raise RuleError(f"Expected an alarm name after {text}(.")
            if self.take() != ("paren", ")"):
                raise RuleError(f"Expected ')' after the alarm name {name}.")
            if not name:
                raise RuleError(f"An empty alarm name in {text}().")
            return Expr("state", text.upper(), alarm=name)
        raise RuleError(f"Unexpected token '{text}' in the alarm rule.")


def parse(rule: str) -> Expr:
    if not rule or not rule.strip():
        raise RuleError("The alarm rule is empty.")
    if len(rule) > MAX_RULE_LENGTH:
        raise RuleError(f"The alarm rule is longer than {MAX_RULE_LENGTH} characters.")
    return _Parser(rule).parse()


def alarm_names(expr: Expr) -> list[str]:
    """The alarms (names or ARNs) the rule reads, in order of appearance, once each."""
    found: list[str] = []
    if expr.kind == "state" and expr.alarm not in found:
        found.append(expr.alarm)
    for arg in expr.args:
        found.extend(name for name in alarm_names(arg) if name not in found)
    return found


def evaluate(expr: Expr, state_of: Callable[[str], str]) -> bool:
    """Whether the rule holds, given each named alarm's state."""
    if expr.kind == "const":
        return bool(expr.value)
    if expr.kind == "state":
        return state_of(expr.alarm) == expr.value
    if expr.kind == "not":
        return not evaluate(expr.args[0], state_of)
    if expr.kind == "and":
        return all(evaluate(arg, state_of) for arg in expr.args)
    return any(evaluate(arg, state_of) for arg in expr.args)
