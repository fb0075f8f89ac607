"""Metric math (pure): parse an expression of GetMetricData or an alarm's Metrics and evaluate it.

Values are scalars, time series (timestamp -> value) or arrays of series (``METRICS()``, ``[m1, m2]``).
Arithmetic works element-wise on series (on the timestamps both have), broadcasts scalars, and maps
over arrays. ``SUM/AVG/MIN/MAX`` of one series are scalars, of an array a series; ``RATE``, ``DIFF``,
``FILL``, ``ABS`` and ``IF`` are series functions, as CloudWatch documents them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Series = dict[int, float]
Value = float | Series | list[Series]


class MathError(ValueError):
    """The expression cannot be parsed or evaluated; the message says why, as AWS would."""


_TOKEN_RE = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                       r"|(?P<str>\"[^\"]*\"|'[^']*')|(?P<op>>=|<=|==|!=|&&|\|\||[-+*/^(),\[\]<>]))")


@dataclass(frozen=True)
class Node:
    kind: str                   # num | ref | str | binary | neg | call | array
    value: Any = None
    args: tuple[Node, ...] = ()


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None or match.end() == position:
            raise MathError(f"Unexpected character '{text[position:].strip()[:1]}' at position {position}.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    _PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, ">": 3, "<=": 3, ">=": 3,
                   "+": 4, "-": 4, "*": 5, "/": 5, "^": 6}

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise MathError("Unexpected end of expression.")
        if expected is not None and token[1] != expected:
            raise MathError(f"Expected '{expected}' but found '{token[1]}'.")
        self.position += 1
        return token

    def parse(self) -> Node:
        node = self.expression(0)
        if self.peek() is not None:
            raise MathError(f"Unexpected token '{self.peek()[1]}'.")  # type: ignore[index]
        return node

    def expression(self, floor: int) -> Node:
        left = self.unary()
        while True:
            token = self.peek()
            if token is None or token[0] != "op" or self._PRECEDENCE.get(token[1], 0) <= floor:
                return left
            self.take()
            precedence = self._PRECEDENCE[token[1]]
            right = self.expression(precedence - (1 if token[1] == "^" else 0))
            left = Node("binary", token[1], (left, right))

    def unary(self) -> Node:
        token = self.peek()
        if token is not None and token[1] in ("-", "+"):
            self.take()
            operand = self.unary()
            return Node("neg", None, (operand,)) if token[1] == "-" else operand
        return self.primary()

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Node("num", float(text))
        if kind == "str":
            return Node("str", text[1:-1])
        if kind == "name":
            following = self.peek()
            if following is not None and following[1] == "(":
                self.take("(")
                args: list[Node] = []
                if self.peek() is not None and self.peek()[1] != ")":  # type: ignore[index]
                    args.append(self.expression(0))
                    while self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                        self.take(",")
                        args.append(self.expression(0))
                self.take(")")
                return Node("call", text.upper(), tuple(args))
            if text.upper() in ("REPEAT", "LINEAR"):
                return Node("str", text.upper())
            return Node("ref", text)
        if text == "(":
            node = self.expression(0)
            self.take(")")
            return node
        if text == "[":
            items = [self.expression(0)]
            while self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                self.take(",")
                items.append(self.expression(0))
            self.take("]")
            return Node("array", None, tuple(items))
        raise MathError(f"Unexpected token '{text}'.")


def parse(text: str) -> Node:
    """The syntax tree of ``text``; MathError when it is not an expression."""
    if not text or not text.strip():
        raise MathError("The expression is empty.")
    return _Parser(text).parse()


def references(node: Node) -> set[str]:
    """The ids an expression reads (``METRICS()`` reads every metric, which the caller supplies)."""
    found = {node.value} if node.kind == "ref" else set()
    for arg in node.args:
        found |= references(arg)
    return found


_BINARY: dict[str, Callable[[float, float], float | None]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": lambda a, b: None if b == 0 else a / b, "^": lambda a, b: _power(a, b),
    "<": lambda a, b: float(a < b), ">": lambda a, b: float(a > b), "<=": lambda a, b: float(a <= b),
    ">=": lambda a, b: float(a >= b), "==": lambda a, b: float(a == b), "!=": lambda a, b: float(a != b),
    "&&": lambda a, b: float(bool(a) and bool(b)), "||": lambda a, b: float(bool(a) or bool(b)),
}


def _power(a: float, b: float) -> float | None:
    try:
        result = a ** b
    except (OverflowError, ZeroDivisionError):
        return None
    return None if isinstance(result, complex) else float(result)


@dataclass
class Environment:
    """What an expression can see: the series of other queries by id, the metrics ``METRICS()`` lists
    (id -> series, in request order), and the grid of period timestamps FILL completes series to."""

    series: dict[str, Value]
    metrics: dict[str, Series]
    grid: Sequence[int]


def evaluate(node: Node, env: Environment) -> Value:
    if node.kind == "num":
        return float(node.value)
    if node.kind == "ref":
        if node.value not in env.series:
            raise MathError(f"Unrecognized id '{node.value}'.")
        return env.series[node.value]
    if node.kind == "str":
        raise MathError(f"Unexpected string '{node.value}'.")
    if node.kind == "neg":
        return _map_unary(evaluate(node.args[0], env), lambda a: -a)
    if node.kind == "binary":
        return _binary(node.value, evaluate(node.args[0], env), evaluate(node.args[1], env))
    if node.kind == "array":
        items: list[Series] = []
        for arg in node.args:
            value = evaluate(arg, env)
            if isinstance(value, float):
                value = {ts: value for ts in env.grid}
            items.extend(value if isinstance(value, list) else [value])
        return items
    return _call(node, env)


def _map_unary(value: Value, function: Callable[[float], float]) -> Value:
    if isinstance(value, float):
        return function(value)
    if isinstance(value, list):
        return [{ts: function(v) for ts, v in series.items()} for series in value]
    return {ts: function(v) for ts, v in value.items()}


def _binary(op: str, left: Value, right: Value) -> Value:
    function = _BINARY[op]
    if isinstance(left, list) or isinstance(right, list):
        if isinstance(left, list) and isinstance(right, list):
            raise MathError(f"The operator '{op}' cannot be applied to two arrays of time series.")
        if isinstance(left, list):
            return [_binary(op, item, right) for item in left]  # type: ignore[misc]
        return [_binary(op, left, item) for item in right]  # type: ignore[misc, union-attr]
    if isinstance(left, float) and isinstance(right, float):
        result = function(left, right)
        if result is None:
            raise MathError("Division by zero.")
        return result
    out: Series = {}
    stamps = left.keys() if isinstance(left, dict) else right.keys()  # type: ignore[union-attr]
    for ts in stamps:
        a = left if isinstance(left, float) else left.get(ts)
        b = right if isinstance(right, float) else right.get(ts)
        if a is None or b is None:
            continue
        result = function(a, b)
        if result is not None:
            out[ts] = result
    return dict(sorted(out.items()))


def _series_arg(value: Value, name: str) -> list[Series]:
    if isinstance(value, float):
        raise MathError(f"{name} expects a time series or an array of time series.")
    return value if isinstance(value, list) else [value]


def _aggregate(name: str, value: Value, combine: Callable[[list[float]], float]) -> Value:
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        values = list(value.values())
        return combine(values) if values else {}       # no datapoints: nothing to aggregate
    stamps = sorted({ts for series in value for ts in series})
    return {ts: combine([series[ts] for series in value if ts in series]) for ts in stamps}


def _each(value: Value, name: str, function: Callable[[Series], Series]) -> Value:
    items = [function(series) for series in _series_arg(value, name)]
    return items if isinstance(value, list) else items[0]


def _rate(series: Series, diff_only: bool) -> Series:
    out: Series = {}
    previous: tuple[int, float] | None = None
    for ts, value in sorted(series.items()):
        if previous is not None:
            delta = value - previous[1]
            out[ts] = delta if diff_only else delta / (ts - previous[0])
        previous = (ts, value)
    return out


def _fill(series: Series, filler: Value | str, grid: Sequence[int]) -> Series:
    out: Series = {}
    last: float | None = None
    for ts in sorted(set(grid) | series.keys()):
        if ts in series:
            out[ts] = last = series[ts]
        elif filler == "REPEAT":
            if last is not None:
                out[ts] = last
        elif isinstance(filler, float):
            out[ts] = filler
        elif isinstance(filler, dict) and ts in filler:
            out[ts] = filler[ts]
    return out


def _call(node: Node, env: Environment) -> Value:
    name, args = node.value, node.args
    if name == "METRICS":
        wanted = args[0].value if args and args[0].kind == "str" else ""
        return [series for id_, series in env.metrics.items() if wanted in id_]
    arity = {"SUM": 1, "AVG": 1, "MIN": 1, "MAX": 1, "ABS": 1, "RATE": 1, "DIFF": 1, "FILL": 2, "IF": 3}
    if name not in arity:
        raise MathError(f"Unknown function '{name}'.")
    if name == "IF" and len(args) == 2:
        args = (*args, Node("num", float("nan")))
    if len(args) != arity[name]:
        raise MathError(f"{name} expects {arity[name]} argument(s), got {len(args)}.")
    if name == "FILL":
        filler: Value | str = args[1].value if args[1].kind == "str" else evaluate(args[1], env)
        if filler not in ("REPEAT",) and not isinstance(filler, (float, dict)):
            raise MathError("FILL expects a number, a time series, REPEAT or LINEAR.")
        return _each(evaluate(args[0], env), name, lambda s: _fill(s, filler, env.grid))
    if name == "IF":
        return _if(evaluate(args[0], env), evaluate(args[1], env), evaluate(args[2], env))
    value = evaluate(args[0], env)
    if name == "SUM":
        return _aggregate(name, value, sum)
    if name == "AVG":
        return _aggregate(name, value, lambda values: sum(values) / len(values))
    if name == "MIN":
        return _aggregate(name, value, min)
    if name == "MAX":
        return _aggregate(name, value, max)
    if name == "ABS":
        return _map_unary(value, abs)
    return _each(value, name, lambda series: _rate(series, diff_only=name == "DIFF"))


def _if(condition: Value, then: Value, otherwise: Value) -> Value:
    if isinstance(condition, list):
        raise MathError("IF expects a time series condition.")
    if isinstance(condition, float):
        return then if condition else otherwise
    out: Series = {}
    for ts, test in condition.items():
        chosen = then if test else otherwise
        value = chosen if isinstance(chosen, float) else (chosen.get(ts) if isinstance(chosen, dict) else None)
        if value is not None and value == value:
            out[ts] = value
    return out


def as_series(value: Value, grid: Sequence[int]) -> Series:
    """What a query answers: a scalar becomes a flat series over the grid; an array is refused."""
    if isinstance(value, float):
        return {ts: value for ts in grid}
    if isinstance(value, list):
        raise MathError("The expression must return a single time series, not an array.")
    return value
