"""Who is calling a REST method: the method's ``authorizationType`` answered as API Gateway answers it.

- ``AWS_IAM``: a SigV4 signature for ``execute-api`` (checked by the same verifier as every API call), then the
  caller's IAM policies together with the API's resource policy for ``execute-api:Invoke`` on the method ARN.
- ``COGNITO_USER_POOLS``: an id or access token of one of the authorizer's pools in its identity source
  header (401 without one or with a bad one); methods with ``authorizationScopes`` need an access token that
  has one of them. The claims reach integrations as ``requestContext.authorizer.claims``.
- ``CUSTOM``: a Lambda authorizer. TOKEN sends the identity source header (checked against
  ``identityValidationExpression`` first); REQUEST sends the request's headers, query string, path and stage
  variables. The function answers a principal id, an IAM policy for ``execute-api:Invoke``, a context and
  optionally the API key (``usageIdentifierKey``); the answer is cached for ``authorizerResultTtlInSeconds``
  keyed by the identity source values, and the cached policy is evaluated again for each method ARN.

Refusals are :class:`Refused`, carrying the gateway response type the pipeline renders.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from controller.api import RequestContext, ResourceInfo
from controller.apigateway.snapshot import StageView
from controller.auth import signers, sigv4
from controller.auth.store import ANONYMOUS, Principal
from controller.cognito_idp import tokens
from controller.errors import ServiceError
from controller.execute_api import integrations
from controller.execute_api.request import InvokeRequest
from controller.execute_api.rest import proxy_events, throttle
from controller.iam import policy
from controller.iam.enforce import evaluate_for
from controller.protocol.http import HttpRequest

INVOKE = "execute-api:Invoke"


class Refused(Exception):
    """A request the guard turns away, as the gateway response ``response_type``."""

    def __init__(self, response_type: str, message: str, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.response_type, self.message, self.status, self.headers = response_type, message, status, headers


@dataclass
class Identity:
    """What an authorizer established about the caller."""

    principal: Principal = ANONYMOUS
    principal_id: str | None = None
    claims: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    usage_key: str | None = None
    #: The policy a Lambda authorizer returned (parsed), evaluated with the resource policy.
    returned_policy: policy.Policy | None = None


def request_context(cloud: Any, request: InvokeRequest, principal: Principal) -> RequestContext:
    """The IAM engine's view of an invoke: who, from where, when (condition keys come from it)."""
    return RequestContext(cloud=cloud, service="execute-api", operation="Invoke", request_id="",
                          region=cloud.config.region, principal=principal, source_ip=request.source_ip,
                          user_agent=request.user_agent, secure_transport=request.secure,
                          source_vpc=request.source_vpc, source_vpce=request.source_vpce,
                          host=request.host)


def header_source(identity_source: str | None, default: str = "Authorization") -> str:
    """The header name of ``method.request.header.X`` (TOKEN and Cognito authorizers read one header)."""
    first = (identity_source or "").split(",")[0].strip()
    return first.removeprefix("method.request.header.") if first.startswith("method.request.header.") else default


def iam_identity(cloud: Any, request: InvokeRequest) -> Identity:
    """The signer of a SigV4-signed invoke, or the refusal AWS gives an unsigned or badly signed one."""
    signed = HttpRequest(method=request.method, path=request.signed_path or request.path, query=request.query,
                         headers=request.headers, body=request.body, raw_query=request.raw_query)
    try:
        info = sigv4.parse_authorization(signed, service="execute-api")
        if info is None:
            raise Refused("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
        credential = signers.active_credential(cloud, info, "execute-api")
        signers.check_signature(credential, signed, info, now=dt.datetime.now(dt.UTC), service="execute-api",
                                signing_name="execute-api")
    except ServiceError as error:
        expired = error.code.startswith("ExpiredToken")
        raise Refused("EXPIRED_TOKEN" if expired else "INVALID_SIGNATURE", error.message) from None
    return Identity(principal=credential.principal)


def cognito_identity(cloud: Any, authorizer: dict[str, Any], method: dict[str, Any],
                     request: InvokeRequest) -> Identity:
    token = request.header(header_source(authorizer.get("identitySource")))
    token = token[7:] if token.lower().startswith("bearer ") else token
    if not token:
        raise Refused("UNAUTHORIZED", "Unauthorized")
    pools = [arn.rsplit("/", 1)[-1] for arn in authorizer.get("providerARNs") or []]
    try:
        claims = tokens.verify(cloud, token)
    except tokens.InvalidToken:
        raise Refused("UNAUTHORIZED", "Unauthorized") from None
    if claims.get("iss", "").rsplit("/", 1)[-1] not in pools:
        raise Refused("UNAUTHORIZED", "Unauthorized")
    scopes = method.get("authorizationScopes") or []
    if scopes:
        granted = str(claims.get("scope") or "").split()
        if claims.get("token_use") != "access" or not set(scopes) & set(granted):
            raise Refused("UNAUTHORIZED", "Unauthorized")
    as_text = {name: value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict)
               else ",".join(value) if isinstance(value, list) else str(value) for name, value in claims.items()}
    return Identity(claims=as_text)


def _identity_values(authorizer: dict[str, Any], request: InvokeRequest, path_parameters: dict[str, str],
                     stage_variables: dict[str, str], context: dict[str, Any]) -> list[str] | None:
    """The values a REQUEST authorizer's identity sources name, or None when one is missing (401)."""
    values = []
    query = dict(request.query)
    for source in [s.strip() for s in (authorizer.get("identitySource") or "").split(",") if s.strip()]:
        kind, _, name = source.removeprefix("method.request.").partition(".")
        if source.startswith("stageVariables."):
            value = stage_variables.get(source.removeprefix("stageVariables."))
        elif source.startswith("context."):
            value = context.get(source.removeprefix("context."))
        elif kind == "header":
            value = request.header(name) or None
        elif kind == "querystring":
            value = query.get(name)
        elif kind == "path":
            value = path_parameters.get(name)
        else:
            value = None
        if value in (None, ""):
            return None
        values.append(str(value))
    return values


def lambda_identity(cloud: Any, view: StageView, authorizer: dict[str, Any], request: InvokeRequest,
                    method_arn: str, event_base: dict[str, Any], path_parameters: dict[str, str],
                    stage_variables: dict[str, str], context: dict[str, Any]) -> Identity:
    """Ask (or remember) a Lambda authorizer; the policy it returns is checked by :func:`check_policy`."""
    kind = authorizer.get("type")
    ttl = int(authorizer.get("authorizerResultTtlInSeconds", 300))
    if kind == "TOKEN":
        token = request.header(header_source(authorizer.get("identitySource")))
        if not token:
            raise Refused("UNAUTHORIZED", "Unauthorized")
        expression = authorizer.get("identityValidationExpression")
        if expression and not re.fullmatch(expression, token):
            raise Refused("UNAUTHORIZED", "Unauthorized")
        values = [token]
        event: dict[str, Any] = {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
    else:
        found = _identity_values(authorizer, request, path_parameters, stage_variables, context)
        if found is None:
            if ttl > 0 or authorizer.get("identitySource"):
                raise Refused("UNAUTHORIZED", "Unauthorized")
            found = []
        values = found
        event = {"type": "REQUEST", "methodArn": method_arn, **event_base}
    key = (view.api.get("id", ""), authorizer.get("id", ""), *values)
    answer = throttle.runtime(cloud).cached_authorization(key) if ttl > 0 else None
    if answer is None:
        answer = _ask(cloud, view, authorizer, request, event)
        if ttl > 0:
            throttle.runtime(cloud).remember_authorization(key, ttl, answer)
    return answer


def _ask(cloud: Any, view: StageView, authorizer: dict[str, Any], request: InvokeRequest,
         event: dict[str, Any]) -> Identity:
    source_arn = (f"arn:aws:execute-api:{view.region}:{view.account_id}:{request.api_id}/authorizers/"
                  f"{authorizer.get('id')}")
    try:
        _, payload, function_error = integrations.invoke_lambda(
            cloud, authorizer.get("authorizerUri") or "", json.dumps(event).encode(), source_arn=source_arn,
            account_id=view.account_id)
    except ServiceError:
        raise Refused("AUTHORIZER_CONFIGURATION_ERROR", "Internal server error") from None
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = None
    if function_error:
        message = answer.get("errorMessage") if isinstance(answer, dict) else None
        if message == "Unauthorized":
            raise Refused("UNAUTHORIZED", "Unauthorized")
        raise Refused("AUTHORIZER_FAILURE", "Internal server error")
    if not isinstance(answer, dict) or not isinstance(answer.get("policyDocument"), dict | str):
        raise Refused("AUTHORIZER_CONFIGURATION_ERROR", "Internal server error")
    document = answer["policyDocument"]
    try:
        returned = policy.parse_policy(document if isinstance(document, str) else json.dumps(document),
                                       policy_id="authorizer policy", source_type="identity")
    except policy.PolicyError:
        raise Refused("AUTHORIZER_CONFIGURATION_ERROR", "Internal server error") from None
    context = answer.get("context") if isinstance(answer.get("context"), dict) else {}
    flat = {str(k): v for k, v in context.items() if isinstance(v, str | int | float | bool)}
    return Identity(principal_id=str(answer.get("principalId") or ""), context=flat,
                    usage_key=answer.get("usageIdentifierKey"), returned_policy=returned)


def check_policy(identity: Identity, method_arn: str, account_id: str, region: str) -> None:
    """A Lambda authorizer's policy must allow ``execute-api:Invoke`` on this method ARN (403 otherwise)."""
    request = policy.EvaluationRequest(action=INVOKE, resource=method_arn, principal_account=account_id,
                                       resource_account=account_id, default_region=region)
    assert identity.returned_policy is not None
    result = policy.evaluate(request, policy.PolicySet(identity=[identity.returned_policy]))
    if result.decision == policy.EXPLICIT_DENY:
        raise Refused("ACCESS_DENIED", "User is not authorized to access this resource with an explicit deny")
    if not result.allowed:
        raise Refused("ACCESS_DENIED", "User is not authorized to access this resource")


def check_resource_policy(cloud: Any, view: StageView, request: InvokeRequest, identity: Identity,
                          method_arn: str, *, iam: bool, authorized: bool) -> None:
    """The API's resource policy (and, for AWS_IAM, the caller's own policies) on ``execute-api:Invoke``.

    AWS's combinations: an explicit deny always refuses. Otherwise an AWS_IAM caller needs its own
    policies or the resource policy to allow it; a caller a Cognito or Lambda authorizer ``authorized`` needs
    nothing more; an unauthenticated caller (NONE) of an API with a resource policy needs the policy's allow.
    """
    document = view.api.get("policy")
    if not document and not iam:
        return
    ctx = request_context(cloud, request, identity.principal)
    info = ResourceInfo(owner_account=view.account_id, policy=document or None)
    result = evaluate_for(ctx, INVOKE, method_arn, info)
    if result.allowed or (authorized and result.decision != policy.EXPLICIT_DENY):
        return
    who = identity.principal.arn if identity.principal.kind != "anonymous" else "anonymous"
    message = f"User: {who} is not authorized to perform: {INVOKE} on resource: {method_arn}"
    if result.decision == policy.EXPLICIT_DENY:
        message += " with an explicit deny"
    raise Refused("ACCESS_DENIED", message)


def request_event(request: InvokeRequest, resource_path: str, path: str, path_parameters: dict[str, str],
                  stage_variables: dict[str, str], context: dict[str, Any]) -> dict[str, Any]:
    """The part of a REQUEST authorizer's event that is the proxy event's: headers, query, path, variables."""
    full = proxy_events.event(resource=resource_path, path=path, method=request.method,
                              headers=sorted(request.headers.items()), query=list(request.query),
                              path_parameters=path_parameters, stage_variables=stage_variables, body=b"",
                              binary_media_types=[], request_context=context)
    for unused in ("body", "isBase64Encoded"):
        full.pop(unused)
    return full
