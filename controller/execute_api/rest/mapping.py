"""Data mapping between a method and its integration (non-proxy integrations): pure.

Request side: ``requestParameters`` (``integration.request.{header,querystring,path}.X`` from
``method.request.{path,querystring,header}.Y``, ``'literals'``, ``stageVariables.Z``, ``context.*``), and the
request template chosen by the request's Content-Type under the integration's ``passthroughBehavior``.
Response side: the integration response chosen by ``selectionPattern`` (a regular expression matched against
the whole Lambda errorMessage, or the backend's HTTP status), its ``responseParameters``
(``method.response.header.X`` from ``integration.response.header.Y``, ``integration.response.body[.JSONPath]``
or literals) and the response template chosen by the request's Accept header.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

#: The media type a request without Content-Type is mapped as.
DEFAULT_CONTENT_TYPE = "application/json"


@dataclass
class Scope:
    """What parameter mappings and templates read of one request."""

    params: dict[str, dict[str, str]]                 # "path", "querystring", "header" -> name -> value
    multi: dict[str, dict[str, list[str]]]            # "querystring", "header" -> name -> values
    body: bytes
    context: dict[str, Any]                           # $context, plain values
    stage_variables: dict[str, str] = field(default_factory=dict)


@dataclass
class Answer:
    """An integration's answer, as response mappings read it."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def literal(source: str) -> str | None:
    """A quoted mapping value's text (``'application/json'``), else None."""
    if len(source) >= 2 and source[0] == source[-1] == "'":
        return source[1:-1]
    return None


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def _dig(values: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(values, dict) or part not in values:
            return None
        values = values[part]
    return values


def _body_path(body: bytes, expression: str) -> str | None:
    from controller.execute_api.rest.vtl import Input

    found = Input(body.decode("utf-8", "replace"), {}).json("$" + expression)
    if found.startswith('"'):
        return json.loads(found)
    return found or None


def source_value(source: str, scope: Scope | None, answer: Answer | None = None) -> str | None:
    """The value a mapping expression names, or None when the request does not have it."""
    source = source.strip()
    quoted = literal(source)
    if quoted is not None:
        return quoted
    if source.startswith("method.request.") and scope is not None:
        kind, _, name = source.removeprefix("method.request.").partition(".")
        if kind == "body":
            return scope.body.decode("utf-8", "replace") if not name else _body_path(scope.body, "." + name)
        if kind == "header":
            return _header(scope.params.get("header", {}), name)
        if kind in ("multivalueheader", "multivaluequerystring"):
            values = scope.multi.get(kind.removeprefix("multivalue"), {})
            found = values.get(name) if kind.endswith("querystring") else next(
                (v for k, v in values.items() if k.lower() == name.lower()), None)
            return ",".join(found) if found else None
        return scope.params.get(kind, {}).get(name)
    if source.startswith("stageVariables.") and scope is not None:
        return scope.stage_variables.get(source.removeprefix("stageVariables."))
    if source.startswith("context.") and scope is not None:
        value = _dig(scope.context, source.removeprefix("context."))
        return None if value is None or isinstance(value, dict) else str(value)
    if source.startswith("integration.response.") and answer is not None:
        rest = source.removeprefix("integration.response.")
        if rest.startswith("header."):
            return _header(dict(answer.headers), rest.removeprefix("header."))
        if rest.startswith("multivalueheader."):
            name = rest.removeprefix("multivalueheader.").lower()
            found = [v for k, v in answer.headers if k.lower() == name]
            return ",".join(found) if found else None
        if rest == "body":
            return answer.body.decode("utf-8", "replace")
        if rest.startswith("body."):
            return _body_path(answer.body, rest.removeprefix("body"))
    return None


@dataclass
class Outgoing:
    """What ``requestParameters`` put on the integration request."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    path: dict[str, str] = field(default_factory=dict)


def request_parameters(parameters: dict[str, str], scope: Scope) -> Outgoing:
    """Apply an integration's ``requestParameters`` (values the request lacks are left out, as AWS does)."""
    out = Outgoing()
    for target, source in sorted(parameters.items()):
        value = source_value(source, scope)
        if value is None:
            continue
        kind, _, name = target.removeprefix("integration.request.").partition(".")
        if kind == "header":
            out.headers.append((name, value))
        elif kind == "querystring":
            out.query.append((name, value))
        elif kind == "multivaluequerystring":
            out.query.extend((name, part) for part in value.split(","))
        elif kind == "path":
            out.path[name] = value
    return out


def media_type(content_type: str) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return content_type.split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class TemplateChoice:
    """How a request body reaches a non-proxy integration: through ``template``, unchanged (``passthrough``),
    or refused with 415 Unsupported Media Type (both False)."""

    template: str | None
    passthrough: bool
    content_type: str


def choose_request_template(templates: dict[str, str] | None, content_type: str,
                            passthrough_behavior: str) -> TemplateChoice:
    """The request template for the request's media type, under the integration's passthroughBehavior."""
    wanted = media_type(content_type) or DEFAULT_CONTENT_TYPE
    templates = templates or {}
    for key, template in templates.items():
        if media_type(key) == wanted:
            return TemplateChoice(template or "", False, key)
    if passthrough_behavior == "WHEN_NO_MATCH" or (passthrough_behavior == "WHEN_NO_TEMPLATES" and not templates):
        return TemplateChoice(None, True, wanted)
    return TemplateChoice(None, False, wanted)


def select_integration_response(responses: dict[str, dict[str, Any]], value: str) -> dict[str, Any] | None:
    """The integration response whose selectionPattern matches all of ``value`` (the Lambda errorMessage,
    or the HTTP status as text), else the default one (no pattern), else None."""
    default = None
    for response in responses.values():
        pattern = response.get("selectionPattern")
        if not pattern:
            default = default or response
            continue
        try:
            if re.fullmatch(pattern, value):
                return response
        except re.error:
            continue
    return default


def choose_response_template(templates: dict[str, str] | None, accept: str) -> tuple[str, str] | None:
    """(content type, template) by the request's Accept header, else application/json's, else the first."""
    if not templates:
        return None
    wanted = [media_type(part) for part in accept.split(",") if part.strip()]
    for kind in wanted:
        for key, template in templates.items():
            if media_type(key) == kind:
                return key, template
    if "application/json" in templates:
        return "application/json", templates["application/json"]
    return next(iter(templates.items()))


def response_parameters(parameters: dict[str, str], scope: Scope, answer: Answer) -> list[tuple[str, str]]:
    """The method response headers an integration response maps."""
    headers = []
    for target, source in sorted((parameters or {}).items()):
        if not target.startswith("method.response.header."):
            continue
        value = source_value(source, scope, answer)
        if value is not None:
            headers.append((target.removeprefix("method.response.header."), value))
    return headers
