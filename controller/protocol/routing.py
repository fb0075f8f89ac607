"""Which service and which operation a request on the single shared endpoint is for.

Services are told apart the way AWS's edge does: the SigV4 credential scope names the
signing service; failing that, ``X-Amz-Target`` names a json service's target prefix,
``Action``+``Version`` a query service's API version, and a rest-json path template a
rest-json service; anything else is S3. Operations are found by ``Action`` (query, ec2),
by ``X-Amz-Target`` (json), or by matching the method and ``requestUri`` templates (rest),
where the most specific template wins: S3 tells ``GET /{Bucket}?acl`` from
``GET /{Bucket}?versioning`` and ``PUT /{Bucket}/{Key+}`` (PutObject) from the same path
with ``?partNumber&uploadId`` (UploadPart) or an ``x-amz-copy-source`` header (CopyObject).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel

from controller.protocol.catalog import (
    CatalogEntry,
    entries_signed_as,
    entries_with_api_version,
    entries_with_target,
    skeleton_model,
)
from controller.protocol.cbor import PROTOCOL as CBOR
from controller.protocol.faults import unknown_operation_error, unknown_service_error
from controller.protocol.http import HttpRequest
from controller.protocol.models import cached_on, load_service_model, members_of, protocol_of, required_of
from controller.protocol.query import form_params
from controller.protocol.query_compat import query_view, speaks_query

DEFAULT_SERVICES: tuple[str, ...] = (
    "sts", "iam", "ec2", "s3", "sqs", "sns", "lambda", "cloudtrail", "organizations")

_CREDENTIAL_RE = re.compile(r"Credential=([^,\s]+)")


class _ServiceIndex(NamedTuple):
    by_signing_name: dict[str, tuple[str, ...]]
    by_target_prefix: dict[str, str]
    by_api_version: dict[str, tuple[str, ...]]
    rest_json: tuple[str, ...]
    rest_xml: tuple[str, ...]


@lru_cache(maxsize=16)
def _service_index(services: tuple[str, ...]) -> _ServiceIndex:
    signing: dict[str, list[str]] = {}
    targets: dict[str, str] = {}
    versions: dict[str, list[str]] = {}
    rest_json, rest_xml = [], []
    for name in services:
        model = load_service_model(name)
        metadata = model.metadata
        for key in {metadata.get("signingName"), metadata.get("endpointPrefix"), name} - {None}:
            signing.setdefault(key, []).append(name)
        protocol = protocol_of(model)
        if "targetPrefix" in metadata:
            targets[metadata["targetPrefix"]] = name
        if protocol in ("query", "ec2"):
            versions.setdefault(metadata["apiVersion"], []).append(name)
        if protocol == "rest-json":
            rest_json.append(name)
        elif protocol == "rest-xml":
            rest_xml.append(name)
    return _ServiceIndex({k: tuple(v) for k, v in signing.items()}, targets,
                         {k: tuple(v) for k, v in versions.items()}, tuple(rest_json), tuple(rest_xml))


def served_model_name(endpoint_name: str, services: Iterable[str]) -> str | None:
    """The served botocore model an endpoint prefix or signing name (``sqs``, ``s3``, ``execute-api``) names,
    or None when none or several do (the name alone does not tell them apart)."""
    candidates = _service_index(tuple(services)).by_signing_name.get(endpoint_name) or ()
    return candidates[0] if len(candidates) == 1 else None


def signing_service(request: HttpRequest) -> str | None:
    """The service named in the SigV4 credential scope (header or presigned query), if any."""
    authorization = request.header("authorization")
    credential = None
    if authorization:
        match = _CREDENTIAL_RE.search(authorization)
        if match:
            credential = match.group(1)
    if credential is None:
        credential = request.query_value("X-Amz-Credential")
    if not credential:
        return None
    parts = credential.split("/")
    return parts[-2] if len(parts) >= 5 else None


def resolve_service(request: HttpRequest, services: Iterable[str] = DEFAULT_SERVICES) -> str:
    """The botocore model name of the service ``request`` is for; ServiceError if none of ``services``."""
    index = _service_index(tuple(services))
    signed_for = signing_service(request)
    candidates: tuple[str, ...] | None = None
    if signed_for is not None:
        candidates = index.by_signing_name.get(signed_for)
        if not candidates:
            raise unknown_service_error(f"The service {signed_for} is not served by this endpoint.")
        if len(candidates) == 1:
            return candidates[0]
    target = request.header("x-amz-target")
    if target:
        service = index.by_target_prefix.get(target.rsplit(".", 1)[0])
        if service and (candidates is None or service in candidates):
            return service
        raise unknown_service_error(f"No service has the target {target}.")
    version = _query_version(request)
    if version is not None:
        for service in index.by_api_version.get(version, ()):
            if candidates is None or service in candidates:
                return service
        if candidates is None:
            # An Action with an API version no served service has: a query call for another service.
            raise unknown_service_error(f"No service served here has the API version {version}.")
    for service in index.rest_json:
        if (candidates is None or service in candidates) and _matches_any_route(service, request):
            return service
    for service in index.rest_xml:
        if candidates is None or service in candidates:
            return service
    raise unknown_service_error("The request does not name a service this endpoint serves.")


def identify_service(request: HttpRequest) -> str | None:
    """The botocore model name of whichever AWS service ``request`` names, served or not.

    For requests :func:`resolve_service` refuses: the credential scope's signing name, the
    ``X-Amz-Target`` prefix or the query API version picks the candidates, and the target or
    the API version narrows them (``dynamodb`` signs for DynamoDB and DynamoDB Streams), else
    the model named like the signing name. Only model metadata is read (see :mod:`controller.protocol.catalog`).
    None when the request names no AWS service at all.
    """
    signed_for = signing_service(request)
    target = request.header("x-amz-target")
    target_prefix = target.rsplit(".", 1)[0] if target else ""
    version = _query_version(request)
    if signed_for is not None:
        candidates = entries_signed_as(signed_for)
    elif target_prefix:
        candidates = entries_with_target(target_prefix)
    elif version:
        candidates = entries_with_api_version(version)
    else:
        return None
    if len(candidates) <= 1:
        return candidates[0].name if candidates else None
    for keep in (lambda entry: bool(target_prefix) and entry.target_prefix == target_prefix,
                 lambda entry: bool(version) and entry.protocol in ("query", "ec2") and entry.api_version == version,
                 lambda entry: entry.name == signed_for):
        candidates = tuple(entry for entry in candidates if keep(entry)) or candidates
    return _first(candidates)


def operation_hint(request: HttpRequest) -> str:
    """The operation a request names without its service's model (target, ``Action``, rpc-v2 path), or ""."""
    target = request.header("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1][:128]
    match = _CBOR_PATH_RE.match(request.path)
    if match:
        return match.group(1)[:128]
    return form_params(request).get("Action", "")[:128]


def unserved_model(service: str, request: HttpRequest) -> ServiceModel:
    """The metadata-only model of an unserved service, speaking the protocol ``request`` speaks."""
    skeleton = skeleton_model(service)
    return skeleton_model(service, request_protocol(skeleton.metadata, request))


def _first(entries: Iterable[CatalogEntry]) -> str:
    return min(entry.name for entry in entries)


def _query_version(request: HttpRequest) -> str | None:
    if request.query_value("Action") is not None:
        return request.query_value("Version")
    if request.method == "POST":
        params = form_params(request)
        if "Action" in params:
            return params.get("Version")
    return None


def _matches_any_route(service: str, request: HttpRequest) -> bool:
    path = request.path
    return any(route.path_regex.match(path) for routes in _routes(load_service_model(service)).values()
               for route in routes)


# ---------------------------------------------------------------------------------------
# operations


def request_protocol(metadata: dict[str, Any], request: HttpRequest) -> str:
    """The protocol ``request`` speaks, among those its service's model offers.

    Models list several (``protocols``) where a service moved on: clients send the first they
    support, so CloudWatch hears rpc-v2-cbor from new clients and query from old ones.
    """
    offered = metadata.get("protocols") or [metadata["protocol"]]
    if len(offered) > 1:
        if request.header("smithy-protocol") == "rpc-v2-cbor" and CBOR in offered:
            return CBOR
        if request.header("x-amz-target") and "json" in offered:
            return "json"
        if "query" in offered and "Action" in form_params(request):
            return "query"
    return offered[0]


_CBOR_PATH_RE = re.compile(r"^/service/[^/]+/operation/([^/?]+)$")


def wire_model(service_model: ServiceModel, request: HttpRequest) -> ServiceModel:
    """The service's model in the protocol ``request`` speaks (see :func:`protocol_view`)."""
    protocol = request_protocol(service_model.metadata, request)
    return service_model if protocol == protocol_of(service_model) else protocol_view(service_model, protocol)


def protocol_view(service_model: ServiceModel, protocol: str) -> ServiceModel:
    """The same model with ``protocol`` as its protocol (built once per model and protocol).

    A model offering several protocols (CloudWatch: rpc-v2-cbor, json, query) names only the first
    as ``protocol``, yet botocore prefers json and older clients send query: the operations found for
    such a call come from this view, so parsing, serializing and errors follow what the client spoke.
    """

    def build() -> ServiceModel:
        description = service_model._service_description
        return ServiceModel({**description, "metadata": {**description["metadata"], "protocol": protocol}},
                            service_name=service_model.service_name)

    return cached_on(service_model, f"protocol_view_{protocol}", build)


def find_operation(service_model: ServiceModel, request: HttpRequest) -> OperationModel:
    """The operation ``request`` invokes; the service's own error if it names none.

    A query-protocol call to a json service that still serves query (SQS) gets the operation of
    the model's query view, so parsing and serializing follow the protocol the client spoke.
    """
    if speaks_query(service_model, request):
        service_model = query_view(service_model)
    protocol = request_protocol(service_model.metadata, request)
    if protocol != protocol_of(service_model):
        service_model = protocol_view(service_model, protocol)
    if protocol == CBOR:
        match = _CBOR_PATH_RE.match(request.path)
        action = match.group(1) if match else ""
        operation = _operation_by_name(service_model).get(action)
        if operation is None:
            raise unknown_operation_error(protocol, service_model.service_name, action or request.path)
        return operation
    if protocol in ("query", "ec2"):
        action = form_params(request).get("Action", "")
        operation = _operation_by_name(service_model).get(action)
        if operation is None:
            raise unknown_operation_error(protocol, service_model.service_name, action)
        return operation
    if protocol == "json":
        target = request.header("x-amz-target") or ""
        prefix, _, action = target.rpartition(".")
        operation = _operation_by_name(service_model).get(action)
        if operation is None or prefix != service_model.metadata.get("targetPrefix"):
            raise unknown_operation_error(protocol, service_model.service_name, target)
        return operation
    return _match_route(service_model, request)


def _operation_by_name(service_model: ServiceModel) -> dict[str, OperationModel]:
    return cached_on(service_model, "operations", lambda: {
        name: service_model.operation_model(name) for name in service_model.operation_names})


class Route(NamedTuple):
    """An operation's compiled ``requestUri``: path regex, label groups and required parts."""

    operation: OperationModel
    path_regex: re.Pattern[str]
    labels: tuple[tuple[str, str, bool], ...]   # (regex group, member name, greedy)
    literal_query: tuple[tuple[str, str | None], ...]
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]
    optional_query: tuple[str, ...]
    optional_headers: tuple[str, ...]
    literal_length: int
    preference: int


_LABEL_RE = re.compile(r"\{([^}]+)\}")


def compile_route(operation: OperationModel) -> Route:
    """The route of a rest operation (cached on the operation model)."""
    return cached_on(operation, "route", lambda: _compile(operation))


def _compile(operation: OperationModel) -> Route:
    uri = operation.http["requestUri"]
    path, _, query = uri.partition("?")
    label_members = {}
    required_query, required_headers, optional_query, optional_headers = [], [], [], []
    shape = operation.input_shape
    if shape is not None:
        required = required_of(shape)
        for member in members_of(shape):
            if member.location == "uri":
                label_members[member.wire] = member.name
            elif member.location == "querystring" and member.shape.type_name != "map":
                (required_query if member.name in required else optional_query).append(member.wire)
            elif member.location == "header":
                (required_headers if member.name in required else optional_headers).append(member.wire.lower())
    pattern, labels, literal_length, position = ["^"], [], 0, 0
    trimmed = path.rstrip("/")
    for number, match in enumerate(_LABEL_RE.finditer(trimmed)):
        literal = trimmed[position:match.start()]
        pattern.append(re.escape(literal))
        literal_length += len(literal)
        label = match.group(1)
        greedy = label.endswith("+")
        name = label.rstrip("+")
        group = f"g{number}"
        pattern.append(f"(?P<{group}>.+)" if greedy else f"(?P<{group}>[^/]+)")
        labels.append((group, label_members.get(name, name), greedy))
        position = match.end()
    literal = trimmed[position:]
    literal_length += len(literal)
    pattern.append(re.escape(literal) + "/?$")
    literal_query = []
    for item in filter(None, query.split("&")):
        key, has_value, value = item.partition("=")
        literal_query.append((key, value if has_value else None))
    preference = 0 if operation.deprecated else 1
    return Route(operation, re.compile("".join(pattern)), tuple(labels), tuple(literal_query),
                 tuple(required_query), tuple(required_headers), tuple(optional_query),
                 tuple(optional_headers), literal_length, preference)


def _routes(service_model: ServiceModel) -> dict[str, tuple[Route, ...]]:
    def build() -> dict[str, tuple[Route, ...]]:
        by_method: dict[str, list[Route]] = {}
        for operation in _operation_by_name(service_model).values():
            by_method.setdefault(operation.http.get("method", "POST"), []).append(compile_route(operation))
        return {method: tuple(routes) for method, routes in by_method.items()}

    return cached_on(service_model, "routes", build)


def _score(route: Route, request: HttpRequest, query_keys: dict[str, str]) -> tuple[int, ...] | None:
    if route.path_regex.match(request.path) is None:
        return None
    for key, value in route.literal_query:
        if key not in query_keys or (value is not None and query_keys[key] != value):
            return None
    for key in route.required_query:
        if key not in query_keys:
            return None
    headers = request.headers
    for name in route.required_headers:
        if name not in headers:
            return None
    required = len(route.literal_query) + len(route.required_query) + len(route.required_headers)
    optional = sum(1 for key in route.optional_query if key in query_keys) + sum(
        1 for name in route.optional_headers if name in headers)
    return (required, route.literal_length, route.preference, optional)


def _match_route(service_model: ServiceModel, request: HttpRequest) -> OperationModel:
    query_keys = dict(request.query)
    best: tuple[tuple[int, ...], Route] | None = None
    for route in _routes(service_model).get(request.method, ()):
        score = _score(route, request, query_keys)
        if score is not None and (best is None or score > best[0]):
            best = (score, route)
    if best is None:
        raise unknown_operation_error(protocol_of(service_model), service_model.service_name, "",
                                      request.method, request.path)
    return best[1].operation


def uri_labels(operation: OperationModel, request: HttpRequest) -> dict[str, str]:
    """The percent-decoded values of the operation's URI labels in ``request.path``."""
    route = compile_route(operation)
    match = route.path_regex.match(request.path)
    if match is None:
        return {}
    return {member: unquote(match.group(group)) for group, member, _ in route.labels}

