"""Parameter mapping of HTTP API integrations (``RequestParameters`` of HTTP_PROXY integrations): pure.

Keys are ``append|overwrite|remove:header.<name>``, ``append|overwrite|remove:querystring.<name>`` and
``overwrite:path``; values are text in which ``$request.header.<name>``, ``$request.querystring.<name>``,
``$request.path.<name>``, ``$request.path``, ``$context.<name>`` and ``$stageVariables.<name>`` (also
written ``${...}`` inside other text) are replaced by the request's values (empty when absent).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from controller.apigatewayv2.lambda_payloads import Incoming

_KEY = re.compile(r"^(?:(append|overwrite|remove):(header|querystring)\.([A-Za-z0-9!#$%&'*+.^_`|~-]+)"
                  r"|(overwrite):(path))$")
_VARIABLE = re.compile(r"\$\{([A-Za-z][A-Za-z0-9._-]*)\}|\$((?:request|context|stageVariables)\.[A-Za-z0-9._-]+)")
#: Headers a mapping may not change (AWS reserves them).
RESERVED_HEADERS = {"connection", "content-length", "host", "transfer-encoding", "upgrade", "expect",
                    "proxy-authenticate", "te", "trailer", "x-amzn-trace-id", "authorization-upstream"}


@dataclass
class Outgoing:
    """What is sent to the backend: the path, the headers and the query string (names as sent)."""

    path: str
    headers: list[tuple[str, str]]
    query: list[tuple[str, str]]


def check(mapping: dict[str, str]) -> str | None:
    """Why ``mapping`` is refused (AWS's BadRequestException message), or None when it is valid."""
    for key in mapping:
        match = _KEY.match(key)
        if match is None:
            return (f"Invalid mapping expression specified: {key}: use append|overwrite|remove:header.<name>, "
                    "append|overwrite|remove:querystring.<name> or overwrite:path")
        if match[2] == "header" and match[3].lower() in RESERVED_HEADERS:
            return f"Invalid mapping expression specified: header {match[3]} is reserved"
    return None


def render(value: str, lookup: Callable[[str], str]) -> str:
    """``value`` with its ``$request...``/``${...}`` expressions replaced through ``lookup``."""
    return _VARIABLE.sub(lambda m: lookup(m[1] or m[2]), value)


def apply(mapping: dict[str, str], outgoing: Outgoing, lookup: Callable[[str], str]) -> Outgoing:
    """``outgoing`` changed as ``mapping`` says (values rendered from the original request)."""
    for key, value in mapping.items():
        match = _KEY.match(key)
        if match is None:
            continue
        if match[5] == "path":
            rendered = render(value, lookup)
            outgoing.path = rendered if rendered.startswith("/") else "/" + rendered
            continue
        action, where, name = match[1], match[2], match[3]
        pairs = outgoing.headers if where == "header" else outgoing.query
        if action in ("overwrite", "remove"):
            fold = where == "header"    # header names are case-insensitive, query names are not
            pairs[:] = [(n, v) for n, v in pairs if (n.lower() if fold else n) != (name.lower() if fold else name)]
        if action in ("append", "overwrite"):
            pairs.append((name, render(value, lookup)))
    return outgoing


def value_of(name: str, incoming: Incoming) -> str:
    """The request's value for an expression name (``request.header.x-user``, ``context.requestId``...)."""
    kind, _, rest = name.partition(".")
    if kind == "stageVariables":
        return incoming.stage_variables.get(rest, "")
    if kind == "request":
        where, _, key = rest.partition(".")
        if where == "header":
            return next((v for n, v in incoming.headers if n == key.lower()), "")
        if where == "querystring":
            return next((v for n, v in incoming.query if n == key), "")
        if where == "path":
            return incoming.path_parameters.get(key, "") if key else incoming.raw_path
        return ""
    context = {"requestId": incoming.request_id, "stage": incoming.stage, "routeKey": incoming.route_key,
               "apiId": incoming.api_id, "accountId": incoming.account_id, "domainName": incoming.domain_name,
               "httpMethod": incoming.method, "identity.sourceIp": incoming.source_ip,
               "identity.userAgent": incoming.user_agent}
    if rest in context:
        return context[rest]
    found = incoming.authorizer or {}
    if rest.startswith("authorizer.claims."):
        return str((found.get("jwt") or {}).get("claims", {}).get(rest.removeprefix("authorizer.claims."), ""))
    if rest.startswith("authorizer."):
        return str((found.get("lambda") or {}).get(rest.removeprefix("authorizer."), ""))
    return ""
