"""Mapping templates: Velocity (VTL) rendered by airspeed, with the variables API Gateway documents.

``$input`` (``body``, ``json(path)``, ``path(path)``, ``params()``, ``params(name)``), ``$util``
(``escapeJavaScript``, ``parseJson``, ``urlEncode``, ``urlDecode``, ``base64Encode``, ``base64Decode``),
``$context`` (with ``requestOverride`` / ``responseOverride`` a template may set) and ``$stageVariables``.
JSONPath expressions go through jsonpath-ng. Values keep Velocity's Java look: ``true``/``false``,
maps as ``{a=1, b=2}``, and the Java methods templates call on them (``size()``, ``containsKey()``,
``toUpperCase()``...) are added through airspeed's documented ``__additional_methods__`` table (fixed
configuration of the engine, set once at import, not state). Pure: no cloud, no I/O.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import airspeed
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath


class TemplateFailure(Exception):
    """A template that does not parse or fails while rendering: API Gateway answers 500."""


class JavaBoolean:
    """A JSON boolean as Velocity shows it (``true``), still false in ``#if``."""

    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return self.value

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, JavaBoolean) else other)

    def __hash__(self) -> int:
        return hash(self.value)

    def __str__(self) -> str:
        return "true" if self.value else "false"


def _java_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class VtlMap(dict):
    """A JSON object as a Java Map: ``{a=1, b=2}`` when rendered, with Map's methods."""

    def size(self) -> int:
        return len(self)

    def isEmpty(self) -> JavaBoolean:  # noqa: N802 (Java's names are the interface)
        return JavaBoolean(not self)

    def containsKey(self, key: Any) -> JavaBoolean:  # noqa: N802
        return JavaBoolean(key in self)

    def keySet(self) -> list[Any]:  # noqa: N802
        return VtlList(self.keys())

    def values(self) -> list[Any]:  # type: ignore[override]
        return VtlList(dict.values(self))

    def put(self, key: Any, value: Any) -> Any:
        previous = dict.get(self, key)
        self[key] = value
        return previous

    def putAll(self, other: dict) -> None:  # noqa: N802
        self.update(other)

    def remove(self, key: Any) -> Any:
        return self.pop(key, None)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{_java_text(k)}={_java_text(v)}" for k, v in self.items()) + "}"


class VtlList(list):
    """A JSON array as a Java List: ``[a, b]`` when rendered, with List's methods."""

    def size(self) -> int:
        return len(self)

    def isEmpty(self) -> JavaBoolean:  # noqa: N802
        return JavaBoolean(not self)

    def get(self, index: int) -> Any:
        return self[index]

    def contains(self, value: Any) -> JavaBoolean:
        return JavaBoolean(value in self)

    def add(self, value: Any) -> bool:
        self.append(value)
        return True

    def __str__(self) -> str:
        return "[" + ", ".join(_java_text(v) for v in self) + "]"


#: java.lang.String's methods templates use, for every Python str the engine meets (literals included).
_STRING_METHODS = {
    "toUpperCase": lambda s: s.upper(), "toLowerCase": lambda s: s.lower(), "trim": lambda s: s.strip(),
    "isEmpty": lambda s: JavaBoolean(not s), "equals": lambda s, other: JavaBoolean(s == other),
    "endsWith": lambda s, x: JavaBoolean(s.endswith(x)), "startsWith": lambda s, x: JavaBoolean(s.startswith(x)),
    "contains": lambda s, x: JavaBoolean(str(x) in s), "length": len,
    "indexOf": lambda s, x: s.find(x), "lastIndexOf": lambda s, x: s.rfind(x),
    "substring": lambda s, start, end=None: s[start:end], "charAt": lambda s, i: s[i],
    "replace": lambda s, old, new: s.replace(old, new), "split": lambda s, regex: VtlList(re.split(regex, s)),
    "equalsIgnoreCase": lambda s, other: JavaBoolean(s.lower() == str(other).lower()), "toString": lambda s: s,
}
for _name, _method in _STRING_METHODS.items():
    airspeed.__additional_methods__[str].setdefault(_name, _method)


def java_values(value: Any) -> Any:
    """Parsed JSON with Java's look: VtlMap, VtlList, JavaBoolean."""
    if isinstance(value, dict):
        return VtlMap((k, java_values(v)) for k, v in value.items())
    if isinstance(value, list):
        return VtlList(java_values(v) for v in value)
    if isinstance(value, bool):
        return JavaBoolean(value)
    return value


@functools.lru_cache(maxsize=256)
def _jsonpath(expression: str) -> Any:
    """A parsed JSONPath (memoized: a pure function of its text, like re's pattern cache)."""
    try:
        return parse_jsonpath(expression)
    except (JsonPathParserError, ValueError, TypeError, AttributeError) as exc:
        raise TemplateFailure(f"Invalid JSONPath expression {expression!r}: {exc}") from exc


class Input:
    """``$input``: the payload (request body, or the integration's answer in a response template) and the
    method request's parameters."""

    def __init__(self, body: str, params: dict[str, dict[str, str]]) -> None:
        self.body = body
        self._params = params
        self._parsed: Any = ...

    def _document(self) -> Any:
        if self._parsed is ...:
            try:
                self._parsed = json.loads(self.body) if self.body.strip() else None
            except ValueError:
                self._parsed = self.body
        return self._parsed

    def _find(self, expression: str) -> tuple[bool, Any]:
        document = self._document()
        if expression.strip() == "$":
            return document is not None, document
        found = _jsonpath(expression).find(document)
        if not found:
            return False, None
        if len(found) == 1 and not any(c in expression for c in "*?") and ".." not in expression:
            return True, found[0].value
        return True, [match.value for match in found]

    def path(self, expression: str) -> Any:
        """The value at the JSONPath as Velocity values; empty when absent."""
        found, value = self._find(expression)
        return java_values(value) if found else ""

    def json(self, expression: str) -> str:
        """The value at the JSONPath, as JSON text."""
        found, value = self._find(expression)
        return json.dumps(value, separators=(",", ":")) if found else ""

    def params(self, name: str | None = None) -> Any:
        """All parameters (``path``, ``querystring``, ``header`` maps), or one by name looked up in that
        order (headers case-insensitively); empty when absent."""
        if name is None:
            return VtlMap((kind, VtlMap(values)) for kind, values in self._params.items())
        for kind in ("path", "querystring"):
            if name in self._params.get(kind, {}):
                return self._params[kind][name]
        lowered = name.lower()
        for header, value in self._params.get("header", {}).items():
            if header.lower() == lowered:
                return value
        return ""


_JS_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n",
               "\r": "\\r", "\t": "\\t"}


class Util:
    """``$util``, as API Gateway documents its functions."""

    @staticmethod
    def escapeJavaScript(value: Any) -> str:  # noqa: N802
        """Java's StringEscapeUtils.escapeJavaScript: quotes, backslash, slash, control and non-ASCII
        characters escaped (``'`` too, as AWS notes)."""
        out = []
        for char in "" if value is None else str(value):
            if char in _JS_ESCAPES:
                out.append(_JS_ESCAPES[char])
            elif ord(char) < 0x20 or ord(char) > 0x7E:
                out.extend(f"\\u{unit:04X}" for unit in _utf16_units(char))
            else:
                out.append(char)
        return "".join(out)

    @staticmethod
    def parseJson(value: Any) -> Any:  # noqa: N802
        try:
            return java_values(json.loads(str(value)))
        except ValueError as exc:
            raise TemplateFailure(f"$util.parseJson: {exc}") from exc

    @staticmethod
    def urlEncode(value: Any) -> str:  # noqa: N802
        """java.net.URLEncoder: spaces as ``+``, only ``A-Za-z0-9.-*_`` kept."""
        return quote_plus(str(value), safe="*").replace("~", "%7E")

    @staticmethod
    def urlDecode(value: Any) -> str:  # noqa: N802
        return unquote_plus(str(value))

    @staticmethod
    def base64Encode(value: Any) -> str:  # noqa: N802
        return base64.b64encode(str(value).encode()).decode()

    @staticmethod
    def base64Decode(value: Any) -> str:  # noqa: N802
        try:
            return base64.b64decode(str(value)).decode("utf-8", "replace")
        except ValueError as exc:
            raise TemplateFailure(f"$util.base64Decode: {exc}") from exc


def _utf16_units(char: str) -> list[int]:
    encoded = char.encode("utf-16-be")
    return [int.from_bytes(encoded[i:i + 2], "big") for i in range(0, len(encoded), 2)]


@functools.lru_cache(maxsize=512)
def _compiled(text: str) -> airspeed.Template:
    """A parsed template (memoized: parsing costs more than rendering, and the text is the whole key)."""
    template = airspeed.Template(text)
    try:
        template.ensure_compiled()
    except airspeed.TemplateError as exc:
        raise TemplateFailure(f"Invalid mapping template: {exc}") from exc
    return template


def render(template: str, *, body: str, params: dict[str, dict[str, str]], context: dict[str, Any],
           stage_variables: dict[str, str]) -> str:
    """The template's output. ``context`` is the ``$context`` map and is changed in place by ``#set``
    (``requestOverride`` / ``responseOverride``): the caller reads the overrides back from it."""
    namespace = {"input": Input(body, params), "util": Util(), "context": context,
                 "stageVariables": VtlMap(stage_variables)}
    try:
        return _compiled(template).merge(namespace)
    except TemplateFailure:
        raise
    except Exception as exc:  # airspeed raises its own errors and whatever a method call raised
        raise TemplateFailure(f"Mapping template failed: {exc}") from exc


def context_map(values: dict[str, Any]) -> VtlMap:
    """``$context`` from plain values (nested maps become VtlMaps, None becomes empty as AWS renders
    context variables that do not apply), with empty override maps for templates to set."""
    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return VtlMap((k, convert(v)) for k, v in value.items())
        if isinstance(value, bool):
            return JavaBoolean(value)
        return "" if value is None else value
    converted = convert(values)
    converted.setdefault("requestOverride", VtlMap(header=VtlMap(), querystring=VtlMap(), path=VtlMap()))
    converted.setdefault("responseOverride", VtlMap(header=VtlMap()))
    return converted

