"""API Gateway's patchOperations, applied to a stored document: pure, so every Update* shares one
set of rules and their unit tests.

Each Update* operation names the paths it accepts as :class:`Rule` patterns (``*`` matches one path
segment). A path is JSON-pointer-like: segments are split on ``/`` and ``~1`` stands for a ``/`` inside
one (``/binaryMediaTypes/image~1png``, ``/~1pets/GET/throttling/rateLimit``). Values arrive as strings,
as AWS sends them, and are converted by the rule's kind. Any operation that does not fit refuses the
whole request (BadRequestException) before anything is changed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from controller.apigateway import errors

OPS = ("add", "remove", "replace", "copy")


@dataclass(frozen=True)
class Rule:
    """A patchable path. ``kind``: ``str``, ``bool``, ``int``, ``float`` (a value at the path), ``item``
    (the last segment is an element of a list: add appends it, remove drops it, replace swaps it for the
    value), ``values`` (add/remove the value itself in the list at the path), ``any`` (remove or copy
    only: a whole sub-document)."""

    pattern: str
    kind: str = "str"

    def matches(self, segments: list[str]) -> bool:
        wanted = split(self.pattern)
        return len(wanted) == len(segments) and all(w in ("*", s) for w, s in zip(wanted, segments, strict=True))


def split(path: str) -> list[str]:
    """The segments of a patch path, with ``~1`` and ``~0`` decoded; BadRequestException if not a path."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise errors.BadRequestException(f"Invalid patch path {path!r}: it must start with '/'.")
    if path == "/":
        return []
    return [segment.replace("~1", "/").replace("~0", "~") for segment in path[1:].split("/")]


def convert(kind: str, value: Any, path: str) -> Any:
    """A patch value (a string on the wire) as the type ``kind`` stores."""
    if value is None:
        raise errors.BadRequestException(f"Invalid null value for patch path {path}.")
    text = str(value)
    try:
        if kind == "bool":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise errors.BadRequestException(
            f"Invalid value {text!r} for patch path {path}: expected {_KIND_WORDS[kind]}.") from None
    return text


_KIND_WORDS = {"bool": "true or false", "int": "an integer", "float": "a number"}


def apply(doc: dict[str, Any], operations: Iterable[dict[str, Any]], rules: Iterable[Rule]) -> dict[str, Any]:
    """``doc`` with ``operations`` applied in order (``doc`` itself is left alone)."""
    result = copy.deepcopy(doc)
    rule_list = list(rules)
    for operation in operations or ():
        op, path = operation.get("op"), operation.get("path")
        if op not in OPS:
            raise errors.BadRequestException(
                f"Invalid patch operation specified. Must be one of: [{', '.join(OPS)}]")
        segments = split(path or "")
        rule = _rule_for(rule_list, segments, op, path or "")
        if op == "copy":
            source = split(operation.get("from") or "")
            if not any(r.matches(source) for r in rule_list):
                raise errors.BadRequestException(f"Invalid patch path {operation.get('from')!r} for op 'copy'.")
            _copy(result, source, segments)
        elif rule.kind == "item":
            _item(result, segments, op, operation.get("value"))
        elif rule.kind == "values":
            _values(result, segments, op, operation.get("value"), path or "")
        elif op == "remove":
            _remove(result, segments)
        elif rule.kind == "any":
            raise errors.BadRequestException(f"Invalid patch operation '{op}' for path {path}.")
        else:
            _set(result, segments, convert(rule.kind, operation.get("value"), path or ""))
    return result


def _rule_for(rules: list[Rule], segments: list[str], op: str, path: str) -> Rule:
    for rule in rules:
        if rule.matches(segments):
            return rule
    raise errors.BadRequestException(f"Invalid patch path '{path}' specified for op '{op}'. "
                                     f"Must be one of: [{', '.join(rule.pattern for rule in rules)}]")


def _parent(doc: dict[str, Any], segments: list[str], create: bool) -> dict[str, Any] | None:
    node: Any = doc
    for segment in segments[:-1]:
        child = node.get(segment) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            if not create:
                return None
            child = {}
            node[segment] = child
        node = child
    return node


def get(doc: dict[str, Any], segments: list[str]) -> Any:
    node: Any = doc
    for segment in segments:
        if not isinstance(node, dict) or segment not in node:
            return None
        node = node[segment]
    return node


def _set(doc: dict[str, Any], segments: list[str], value: Any) -> None:
    parent = _parent(doc, segments, create=True)
    assert parent is not None
    parent[segments[-1]] = value


def _remove(doc: dict[str, Any], segments: list[str]) -> None:
    parent = _parent(doc, segments, create=False)
    if parent is not None:
        parent.pop(segments[-1], None)


def _copy(doc: dict[str, Any], source: list[str], target: list[str]) -> None:
    """Copy a value; a map copied onto a map merges into it (promoting a canary's variable overrides)."""
    value = copy.deepcopy(get(doc, source))
    if value is None:
        return
    current = get(doc, target)
    if isinstance(value, dict) and isinstance(current, dict):
        current.update(value)
    else:
        _set(doc, target, value)


def _item(doc: dict[str, Any], segments: list[str], op: str, value: Any) -> None:
    listed = get(doc, segments[:-1])
    listed = list(listed) if isinstance(listed, list) else []
    element = segments[-1]
    if op == "add" and element not in listed:
        listed.append(element)
    elif op == "remove":
        listed = [item for item in listed if item != element]
    elif op == "replace":
        if value is None:
            raise errors.BadRequestException(f"Invalid null value for patch path /{'/'.join(segments)}.")
        listed = [str(value) if item == element else item for item in listed]
    _set(doc, segments[:-1], listed)


def _values(doc: dict[str, Any], segments: list[str], op: str, value: Any, path: str) -> None:
    if value is None:
        raise errors.BadRequestException(f"Invalid null value for patch path {path}.")
    listed = get(doc, segments)
    listed = list(listed) if isinstance(listed, list) else []
    if op in ("add", "replace") and value not in listed:
        listed.append(value)
    elif op == "remove":
        if value not in listed:
            raise errors.NotFoundException(f"{value} is not in {path}.")
        listed.remove(value)
    _set(doc, segments, listed)


# --- a stage's method settings -------------------------------------------------------------------------

#: ``<group>/<setting>`` of a method-settings patch path -> (MethodSetting member, value kind).
METHOD_SETTINGS = {
    "metrics/enabled": ("metricsEnabled", "bool"),
    "logging/loglevel": ("loggingLevel", "str"),
    "logging/dataTrace": ("dataTraceEnabled", "bool"),
    "throttling/burstLimit": ("throttlingBurstLimit", "int"),
    "throttling/rateLimit": ("throttlingRateLimit", "float"),
    "caching/enabled": ("cachingEnabled", "bool"),
    "caching/ttlInSeconds": ("cacheTtlInSeconds", "int"),
    "caching/dataEncrypted": ("cacheDataEncrypted", "bool"),
    "caching/requireAuthorizationForCacheControl": ("requireAuthorizationForCacheControl", "bool"),
    "caching/unauthorizedCacheControlHeaderStrategy": ("unauthorizedCacheControlHeaderStrategy", "str"),
}

#: What a method setting holds until it is patched (the account's defaults, as GetStage shows them).
METHOD_SETTING_DEFAULTS: dict[str, Any] = {
    "metricsEnabled": False, "loggingLevel": "OFF", "dataTraceEnabled": False,
    "throttlingBurstLimit": 5000, "throttlingRateLimit": 10000.0, "cachingEnabled": False,
    "cacheTtlInSeconds": 300, "cacheDataEncrypted": False, "requireAuthorizationForCacheControl": True,
    "unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITH_RESPONSE_HEADER",
}


def method_setting_path(path: str) -> tuple[str, str, str] | None:
    """``(methodSettings key, member, kind)`` for a stage patch path such as ``/~1pets/GET/throttling/rateLimit``
    (key ``pets/GET``) or ``/*/*/metrics/enabled`` (key ``*/*``); None for any other path.

    The key is the resource path without its leading ``/`` and the HTTP method, as GetStage shows it.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    raw = path[1:].split("/")
    if len(raw) < 4:
        return None
    setting = METHOD_SETTINGS.get("/".join(raw[-2:]))
    if setting is None:
        return None
    resource = "/".join(segment.replace("~1", "/") for segment in raw[:-3]).lstrip("/")
    method = raw[-3]
    if not resource or not method:
        return None
    return f"{resource}/{method}", setting[0], setting[1]


def apply_method_settings(settings: dict[str, dict[str, Any]], operations: Iterable[dict[str, Any]]
                          ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Apply the method-settings operations of a stage patch; the others are returned for :func:`apply`.

    A method's own settings start as a copy of the stage's (``*/*``) when it has some, else the account's
    defaults, so overriding one limit of a method never loosens the others the stage set.
    """
    result = copy.deepcopy(settings)
    rest: list[dict[str, Any]] = []
    for operation in operations or ():
        target = method_setting_path(operation.get("path") or "")
        if target is None:
            rest.append(operation)
            continue
        key, member, kind = target
        if operation.get("op") == "remove":
            result.pop(key, None)
            continue
        if operation.get("op") not in ("add", "replace"):
            raise errors.BadRequestException(
                f"Invalid patch operation '{operation.get('op')}' for path {operation.get('path')}.")
        entry = result.setdefault(key, dict(result.get("*/*") or METHOD_SETTING_DEFAULTS))
        entry[member] = convert(kind, operation.get("value"), operation.get("path") or "")
    return result, rest
