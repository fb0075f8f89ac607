"""CORS for HTTP APIs, as API Gateway applies an API's CorsConfiguration: pure, over headers.

With CORS configured, API Gateway answers preflight ``OPTIONS`` requests itself (even with no OPTIONS route)
and sets the ``access-control-*`` headers on every answer to an allowed origin, replacing whatever the
integration sent. Origins match exactly (case-insensitively), ``*`` matches any, and ``https://*.example.com``
matches subdomains.
"""

from __future__ import annotations

from typing import Any

from controller.execute_api.request import InvokeRequest, InvokeResponse


def origin_allowed(cors: dict[str, Any], origin: str) -> str | None:
    """The ``access-control-allow-origin`` value for ``origin``, or None when it is not allowed."""
    origin = origin.strip()
    for allowed in cors.get("AllowOrigins") or []:
        if allowed == "*":
            return origin if cors.get("AllowCredentials") else "*"
        if allowed.lower() == origin.lower():
            return origin
        scheme, _, host_pattern = allowed.lower().partition("://")
        if host_pattern.startswith("*."):
            origin_scheme, _, origin_host = origin.lower().partition("://")
            if origin_scheme == scheme and origin_host.endswith(host_pattern[1:]):
                return origin
    return None


def is_preflight(request: InvokeRequest) -> bool:
    return (request.method == "OPTIONS" and bool(request.header("origin"))
            and bool(request.header("access-control-request-method")))


def _listed(values: list[str], wanted: list[str]) -> bool:
    lowered = {value.lower() for value in values}
    return "*" in lowered or all(item.lower() in lowered for item in wanted)


def preflight(cors: dict[str, Any], request: InvokeRequest) -> InvokeResponse:
    """API Gateway's own answer to a preflight: 204, with the CORS headers only when everything is allowed."""
    headers: list[tuple[str, str]] = []
    allow_origin = origin_allowed(cors, request.header("origin"))
    method = request.header("access-control-request-method").strip().upper()
    asked = [h.strip() for h in request.header("access-control-request-headers").split(",") if h.strip()]
    methods = cors.get("AllowMethods") or []
    allow_headers = cors.get("AllowHeaders") or []
    if allow_origin and _listed(methods, [method]) and (not asked or _listed(allow_headers, asked)):
        headers.append(("access-control-allow-origin", allow_origin))
        headers.append(("access-control-allow-methods", "*" if "*" in methods else ",".join(methods)))
        if allow_headers:
            headers.append(("access-control-allow-headers",
                            ",".join(asked) if "*" in allow_headers and asked else ",".join(allow_headers)))
        if cors.get("AllowCredentials"):
            headers.append(("access-control-allow-credentials", "true"))
        if cors.get("MaxAge") is not None:
            headers.append(("access-control-max-age", str(cors["MaxAge"])))
    return InvokeResponse(204, headers, b"")


def decorate(cors: dict[str, Any], request: InvokeRequest, response: InvokeResponse) -> InvokeResponse:
    """The integration's answer with the API's CORS headers in place of any it set itself."""
    kept = [(n, v) for n, v in response.headers if not n.lower().startswith("access-control-")]
    origin = request.header("origin")
    allow_origin = origin_allowed(cors, origin) if origin else None
    if allow_origin:
        kept.append(("access-control-allow-origin", allow_origin))
        if cors.get("AllowCredentials"):
            kept.append(("access-control-allow-credentials", "true"))
        if cors.get("ExposeHeaders"):
            kept.append(("access-control-expose-headers", ",".join(cors["ExposeHeaders"])))
        kept.append(("vary", "Origin"))
    return InvokeResponse(response.status, kept, response.body)
