"""Cross-origin resource sharing for buckets: the stored rules, preflights and response headers.

Browsers ask first (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``,
never signed); S3 answers from the bucket's CORS rules, the first rule that allows the
origin, the method and every requested header winning. Actual requests from a page
carry ``Origin`` too, and their responses get the matching rule's
``Access-Control-*`` headers. Neither is an operation of the S3 model, so the gateway
calls :func:`preflight` and :func:`response_headers` for S3 requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from controller.errors import ServiceError
from controller.protocol.http import HttpRequest, HttpResponse
from controller.s3.errors import InvalidRequest, MalformedXML, no_such_bucket
from controller.s3.runtime import runtime

if TYPE_CHECKING:
    from controller.cloud import Cloud

CORS_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD"})
_HEADER_TEXT = re.compile(r"[\x21-\x7e]+")
MAX_RULES = 100

_NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
                "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
                "whitelisted by the resource's CORS spec.")


def check_configuration(configuration: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules of a PutBucketCors body, refusing what S3 refuses."""
    rules = configuration.get("CORSRules") or []
    if not rules or len(rules) > MAX_RULES:
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our published "
                           "schema")
    for rule in rules:
        if len(rule.get("ID") or "") > 255:
            raise InvalidRequest("The ID of a CORS rule can be at most 255 characters long.")
        for member, value in _header_values(rule):
            if not _HEADER_TEXT.fullmatch(value):
                raise InvalidRequest(f"{member[:-1]} \"{value}\" contains characters not allowed in an "
                                     "HTTP header.")
        for method in rule.get("AllowedMethods") or []:
            if method not in CORS_METHODS:
                raise InvalidRequest(f"Found unsupported HTTP method in CORS config. Unsupported method is {method}")
        for origin in rule.get("AllowedOrigins") or []:
            if origin.count("*") > 1:
                raise InvalidRequest(f'AllowedOrigin "{origin}" can not have more than one wildcard.')
        for header in rule.get("AllowedHeaders") or []:
            if header.count("*") > 1:
                raise InvalidRequest(f'AllowedHeader "{header}" can not have more than one wildcard.')
        if not rule.get("AllowedMethods") or not rule.get("AllowedOrigins"):
            raise MalformedXML("The XML you provided was not well-formed or did not validate against our "
                               "published schema")
    return rules


def _header_values(rule: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The rule's values that go back in response headers (so must be printable ASCII)."""
    for member in ("AllowedOrigins", "AllowedHeaders", "ExposeHeaders"):
        for value in rule.get(member) or []:
            yield member, value


@lru_cache(maxsize=1024)
def _pattern(wildcard: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in wildcard.split("*")), re.IGNORECASE)


def _matches(patterns: list[str], value: str) -> bool:
    return any(_pattern(pattern).fullmatch(value) for pattern in patterns)


def find_rule(rules: list[dict[str, Any]], origin: str, method: str,
              headers: list[str] | None = None) -> dict[str, Any] | None:
    """The first rule allowing ``origin``, ``method`` and every one of ``headers`` (lower-case)."""
    for rule in rules:
        if method not in (rule.get("AllowedMethods") or []):
            continue
        if not _matches(rule.get("AllowedOrigins") or [], origin):
            continue
        allowed_headers = rule.get("AllowedHeaders") or []
        if headers and not all(_matches(allowed_headers, header) for header in headers):
            continue
        return rule
    return None


def rule_headers(rule: dict[str, Any], origin: str, *, preflight: bool,
                 request_headers: list[str] | None = None) -> dict[str, str]:
    """The ``Access-Control-*`` headers S3 sends for a request a rule allowed."""
    wildcard = "*" in (rule.get("AllowedOrigins") or [])
    headers = {"Access-Control-Allow-Origin": "*" if wildcard else origin,
               "Access-Control-Allow-Methods": ", ".join(rule.get("AllowedMethods") or []),
               "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"}
    if not wildcard:
        headers["Access-Control-Allow-Credentials"] = "true"
    if rule.get("ExposeHeaders"):
        headers["Access-Control-Expose-Headers"] = ", ".join(rule["ExposeHeaders"])
    if rule.get("MaxAgeSeconds") is not None:
        headers["Access-Control-Max-Age"] = str(rule["MaxAgeSeconds"])
    if preflight and request_headers:
        headers["Access-Control-Allow-Headers"] = ", ".join(request_headers)
    return headers


def _bucket_of(request: HttpRequest) -> str:
    return unquote(request.path.lstrip("/").split("/", 1)[0])


def _rules_of(cloud: Cloud, bucket: str) -> list[dict[str, Any]]:
    row = runtime(cloud).bucket(bucket)
    if row is None:
        raise no_such_bucket(bucket)
    # rules stored before a check existed never break responses: one unfit for headers is skipped
    return [rule for rule in (row["cors"] or {}).get("CORSRules") or []
            if all(_HEADER_TEXT.fullmatch(value) for _, value in _header_values(rule))]


def preflight(cloud: Cloud, request: HttpRequest) -> HttpResponse:
    """Answer an ``OPTIONS`` preflight for a bucket or object; raises S3's error when not allowed."""
    origin = request.header("origin")
    method = request.header("access-control-request-method")
    if not origin or not method:
        raise ServiceError("Insufficient information. Origin request header needed.", code="BadRequest",
                           status=400)
    bucket = _bucket_of(request)
    if not bucket:
        raise ServiceError(_NOT_ALLOWED, code="AccessForbidden", status=403, Method=method,
                           ResourceType="BUCKET")
    rules = _rules_of(cloud, bucket)
    if not rules:
        raise ServiceError("CORSResponse: CORS is not enabled for this bucket.", code="AccessForbidden",
                           status=403, Method=method, ResourceType="BUCKET")
    requested = [name.strip().lower() for name in (request.header("access-control-request-headers") or "")
                 .split(",") if name.strip()]
    rule = find_rule(rules, origin, method, requested)
    if rule is None:
        raise ServiceError(_NOT_ALLOWED, code="AccessForbidden", status=403, Method=method,
                           ResourceType="OBJECT" if "/" in request.path.strip("/") else "BUCKET")
    return HttpResponse(200, rule_headers(rule, origin, preflight=True, request_headers=requested), b"")


def response_headers(cloud: Cloud, request: HttpRequest) -> dict[str, str]:
    """CORS headers for the response to an actual (non-preflight) request that carries ``Origin``."""
    origin = request.header("origin")
    bucket = _bucket_of(request)
    if not origin or not bucket:
        return {}
    try:
        rules = _rules_of(cloud, bucket)
    except ServiceError:
        return {}
    rule = find_rule(rules or [], origin, request.method.upper())
    return rule_headers(rule, origin, preflight=False) if rule else {}
