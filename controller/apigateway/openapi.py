"""OpenAPI (Swagger 2.0 and OpenAPI 3.0) definitions with API Gateway's extensions, read into what
ImportRestApi and PutRestApi create: pure, so the unit tests read documents directly.

Read: ``info`` (title, description, version), ``paths`` (every operation a method; path templates
become resources), each operation's ``responses`` (method responses), ``parameters`` in path/query/header
(method request parameters, required or not), ``security`` naming an API key (``apiKeyRequired``) or an
authorizer, and the extensions ``x-amazon-apigateway-integration`` (``x-amazon-apigateway-any-method`` for
ANY), ``x-amazon-apigateway-authorizer`` in the security schemes, ``x-amazon-apigateway-binary-media-types``,
``x-amazon-apigateway-api-key-source`` and ``x-amazon-apigateway-policy``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from controller.apigateway import errors

_METHODS = {"get": "GET", "post": "POST", "put": "PUT", "patch": "PATCH", "delete": "DELETE", "head": "HEAD",
            "options": "OPTIONS", "x-amazon-apigateway-any-method": "ANY"}
_PARAMETER_PLACES = {"path": "path", "query": "querystring", "header": "header"}


@dataclass
class Definition:
    """What one OpenAPI document defines, in API Gateway's shapes."""

    name: str
    description: str | None = None
    version: str | None = None
    binary_media_types: list[str] = field(default_factory=list)
    api_key_source: str | None = None
    policy: str | None = None
    #: path ("/pets/{id}") -> HTTP method -> PutMethod-shaped doc with "methodIntegration" (or without)
    paths: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    #: security scheme name -> CreateAuthorizer-shaped doc (without id)
    authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load(body: bytes) -> dict[str, Any]:
    """The document in ``body`` (JSON or YAML), or BadRequestException."""
    try:
        text = body.decode("utf-8")
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise errors.BadRequestException(f"Invalid OpenAPI input specified: the body is neither JSON nor "
                                         f"YAML ({type(exc).__name__}).") from None
    if not isinstance(document, dict) or not ("swagger" in document or "openapi" in document):
        raise errors.BadRequestException("Invalid OpenAPI input specified: no 'swagger' or 'openapi' version.")
    return document


def read(document: dict[str, Any]) -> Definition:
    info = document.get("info") or {}
    if not isinstance(info, dict) or not info.get("title"):
        raise errors.BadRequestException("Invalid OpenAPI input specified: info.title is required.")
    policy = document.get("x-amazon-apigateway-policy")
    definition = Definition(
        name=str(info["title"]), description=info.get("description"),
        version=str(info["version"]) if info.get("version") is not None else None,
        binary_media_types=list(document.get("x-amazon-apigateway-binary-media-types") or []),
        api_key_source=document.get("x-amazon-apigateway-api-key-source"),
        policy=json.dumps(policy) if isinstance(policy, dict) else policy)
    schemes = (document.get("securityDefinitions") or (document.get("components") or {}).get("securitySchemes")
               or {})
    api_keys, sigv4 = set(), set()
    for name, scheme in schemes.items():
        if not isinstance(scheme, dict):
            continue
        if "x-amazon-apigateway-authorizer" in scheme:
            definition.authorizers[name] = _authorizer(name, scheme)
        elif str(scheme.get("x-amazon-apigateway-authtype", "")).lower() == "awssigv4":
            sigv4.add(name)
        elif scheme.get("type") == "apiKey":
            api_keys.add(name)
    for path, operations in (document.get("paths") or {}).items():
        if not isinstance(path, str) or not path.startswith("/") or not isinstance(operations, dict):
            raise errors.BadRequestException(f"Invalid OpenAPI input specified: bad path {path!r}.")
        shared = operations.get("parameters") or []
        for key, operation in operations.items():
            method = _METHODS.get(key.lower())
            if method is None or not isinstance(operation, dict):
                continue
            definition.paths.setdefault(path, {})[method] = _method(
                method, operation, shared, (api_keys, sigv4), definition, f"{method} {path}")
    return definition


def _authorizer(name: str, scheme: dict[str, Any]) -> dict[str, Any]:
    extension = scheme["x-amazon-apigateway-authorizer"] or {}
    kind = str(extension.get("type", "token")).upper()
    doc: dict[str, Any] = {"name": name, "type": kind,
                           "authorizerResultTtlInSeconds": extension.get("authorizerResultTtlInSeconds", 300)}
    if kind == "TOKEN":
        doc["identitySource"] = f"method.request.header.{scheme.get('name') or 'Authorization'}"
    for source, target in (("authorizerUri", "authorizerUri"), ("authorizerCredentials", "authorizerCredentials"),
                           ("identitySource", "identitySource"), ("providerARNs", "providerARNs"),
                           ("identityValidationExpression", "identityValidationExpression")):
        if extension.get(source) is not None:
            doc[target] = extension[source]
    if scheme.get("x-amazon-apigateway-authtype"):
        doc["authType"] = scheme["x-amazon-apigateway-authtype"]
    return doc


def _method(method: str, operation: dict[str, Any], shared: list[Any], schemes: tuple[set[str], set[str]],
            definition: Definition, where: str) -> dict[str, Any]:
    """One operation as a method; ``schemes``: the names of the API key and the SigV4 (IAM) schemes."""
    api_keys, sigv4 = schemes
    doc: dict[str, Any] = {"httpMethod": method, "authorizationType": "NONE", "apiKeyRequired": False}
    if operation.get("operationId"):
        doc["operationName"] = operation["operationId"]
    parameters = {}
    for parameter in [*shared, *(operation.get("parameters") or [])]:
        if isinstance(parameter, dict) and parameter.get("in") in _PARAMETER_PLACES and parameter.get("name"):
            place = _PARAMETER_PLACES[parameter["in"]]
            parameters[f"method.request.{place}.{parameter['name']}"] = bool(parameter.get("required"))
    if parameters:
        doc["requestParameters"] = parameters
    for requirement in operation.get("security") or []:
        for name, scopes in (requirement or {}).items():
            if name in api_keys:
                doc["apiKeyRequired"] = True
            elif name in definition.authorizers:
                kind = definition.authorizers[name]["type"]
                doc["authorizationType"] = "COGNITO_USER_POOLS" if kind == "COGNITO_USER_POOLS" else "CUSTOM"
                doc["authorizerName"] = name
                if scopes:
                    doc["authorizationScopes"] = list(scopes)
            elif name in sigv4:
                doc["authorizationType"] = "AWS_IAM"
    responses = {}
    for status in (operation.get("responses") or {}):
        if str(status).isdigit():
            responses[str(status)] = {"statusCode": str(status)}
    integration = operation.get("x-amazon-apigateway-integration")
    if isinstance(integration, dict):
        doc["methodIntegration"] = _integration(integration)
        for status in doc["methodIntegration"].get("integrationResponses") or {}:
            responses.setdefault(status, {"statusCode": status})
    doc["methodResponses"] = responses
    if not isinstance(integration, dict):
        definition.warnings.append(f"No integration defined for method {where}")
    return doc


def _integration(extension: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"type": str(extension.get("type", "")).upper(),
                           "passthroughBehavior": str(extension.get("passthroughBehavior", "when_no_match")).upper(),
                           "timeoutInMillis": int(extension.get("timeoutInMillis", 29000)),
                           "connectionType": extension.get("connectionType", "INTERNET"),
                           "cacheKeyParameters": list(extension.get("cacheKeyParameters") or [])}
    if extension.get("httpMethod"):
        doc["httpMethod"] = str(extension["httpMethod"]).upper()
    for member in ("uri", "credentials", "requestParameters", "requestTemplates", "contentHandling",
                   "cacheNamespace", "connectionId"):
        if extension.get(member) is not None:
            doc[member] = extension[member]
    responses = {}
    for pattern, response in (extension.get("responses") or {}).items():
        if not isinstance(response, dict) or not response.get("statusCode"):
            continue
        status = str(response["statusCode"])
        entry: dict[str, Any] = {"statusCode": status}
        if pattern != "default":
            entry["selectionPattern"] = pattern
        for member in ("responseParameters", "responseTemplates", "contentHandling"):
            if response.get(member) is not None:
                entry[member] = response[member]
        responses[status] = entry
    if responses:
        doc["integrationResponses"] = responses
    return doc
