"""The data plane of REST APIs: one request to an invoke URL, through its stage, WAF, resource, guard and
integration to the answer.

The order is AWS's: the stage (``/{stage}/...``; an unknown one is 403 ``{"message":"Forbidden"}``), the
canary draw (``canarySettings.percentTraffic`` of the requests go to the canary's deployment, with its
variable overrides), the stage's web ACL (WAF is the first line, before any authorization), the resource
and method (none: 403 Missing Authentication Token), the guard (resource policy, authorizer, API key and
usage plan, throttles: :mod:`controller.execute_api.rest.guard`), required request parameters, then the
integration (:mod:`controller.execute_api.rest.backends`). Answers carry ``x-amzn-RequestId`` and
``x-amz-apigw-id``; refusals are the API's gateway responses (:mod:`controller.execute_api.rest.responses`).
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from typing import Any

from controller.apigateway.snapshot import StageView, stage_view
from controller.execute_api.request import InvokeRequest, InvokeResponse
from controller.execute_api.rest import access_log, backends, guard, mapping, matching, responses
from controller.wafv2 import inspect as waf


def handle(cloud: Any, request: InvokeRequest) -> InvokeResponse:
    """Serve one request to a REST API's invoke URL (the API exists: dispatch checked)."""
    started = time.monotonic()
    request_id = str(uuid.uuid4())
    apigw_id = base64.b64encode(secrets.token_bytes(12)).decode()[:16]
    stage, rest = matching.split_stage(request.path)
    view = stage_view(cloud, request.api_id, stage) if stage else None
    if view is None or not _reachable(view, request):
        response = responses.forbidden()
    else:
        context: dict[str, Any] = {}
        response = _serve(cloud, view, request, rest, request_id, apigw_id, context)
        access_log.write(cloud, view, response.status, int((time.monotonic() - started) * 1000), context)
    response.headers += [("x-amzn-RequestId", request_id), ("x-amz-apigw-id", apigw_id)]
    return response


def _reachable(view: StageView, request: InvokeRequest) -> bool:
    """Whether the API answers on this URL at all: not when its default endpoint is disabled, and a PRIVATE
    API only through an interface VPC endpoint (its resource policy decides which, in the guard)."""
    if view.api.get("disableExecuteApiEndpoint"):
        return False
    types = (view.api.get("endpointConfiguration") or {}).get("types") or []
    return "PRIVATE" not in types or request.source_vpce is not None


def domain_name(cloud: Any, view: StageView, request: InvokeRequest) -> str:
    """The API's domain as the request used it, or its execute-api name (path-form requests)."""
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else ""
    if host.startswith(request.api_id + "."):
        return host
    return f"{request.api_id}.execute-api.{view.region}.{cloud.config.service_domain}"


def _request_time(epoch_ms: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


def request_context(cloud: Any, view: StageView, request: InvokeRequest, *, request_id: str, apigw_id: str,
                    canary: bool) -> dict[str, Any]:
    """``requestContext`` of the proxy event and ``$context`` of templates, before a resource is matched."""
    epoch_ms = request.request_time_epoch_ms or int(time.time() * 1000)
    domain = domain_name(cloud, view, request)
    return {
        "accountId": view.account_id, "apiId": request.api_id, "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0], "extendedRequestId": apigw_id, "httpMethod": request.method,
        "identity": {"accessKey": None, "accountId": None, "apiKey": None, "apiKeyId": None, "caller": None,
                     "cognitoAuthenticationProvider": None, "cognitoAuthenticationType": None,
                     "cognitoIdentityId": None, "cognitoIdentityPoolId": None, "principalOrgId": None,
                     "sourceIp": request.source_ip, "user": None, "userAgent": request.user_agent,
                     "userArn": None, "vpcId": request.source_vpc, "vpceId": request.source_vpce},
        "path": request.path,
        "protocol": "HTTP/1.1", "requestId": request_id, "requestTime": _request_time(epoch_ms),
        "requestTimeEpoch": epoch_ms, "resourceId": None, "resourcePath": None,
        "stage": view.stage.get("stageName", ""), "isCanaryRequest": canary,
    }


def _scope(request: InvokeRequest, path_parameters: dict[str, str], context: dict[str, Any],
           variables: dict[str, str]) -> mapping.Scope:
    multi_query: dict[str, list[str]] = {}
    for name, value in request.query:
        multi_query.setdefault(name, []).append(value)
    return mapping.Scope(
        params={"path": dict(path_parameters), "querystring": {n: v[-1] for n, v in multi_query.items()},
                "header": dict(request.headers)},
        multi={"querystring": multi_query, "header": {n: [v] for n, v in request.headers.items()}},
        body=request.body, context=context, stage_variables=variables)


def _serve(cloud: Any, view: StageView, request: InvokeRequest, rest: str, request_id: str, apigw_id: str,
           context: dict[str, Any]) -> InvokeResponse:
    served = matching.pick(view.stage, view.deployment, view.canary_deployment)
    context.update(request_context(cloud, view, request, request_id=request_id, apigw_id=apigw_id,
                                   canary=served.canary))
    scope = _scope(request, {}, context, served.variables)
    refusal = _waf(cloud, view, request, scope)
    if refusal is not None:
        return refusal
    found = matching.match(served.deployment.get("resources") or [], request.method, rest)
    if found is None:
        return responses.render(view.gateway_responses, "MISSING_AUTHENTICATION_TOKEN",
                                "Missing Authentication Token", scope=scope)
    context.update(resourceId=found.resource.get("id"), resourcePath=found.resource.get("path"))
    scope = _scope(request, found.path_parameters, context, served.variables)
    method_arn = (f"arn:aws:execute-api:{view.region}:{view.account_id}:{request.api_id}/"
                  f"{context['stage']}/{request.method}/{rest.lstrip('/')}")
    try:
        guard.admit(cloud, view, guard.Place(found, served.variables, method_arn, rest), request, context)
    except guard.Refused as refused:
        return responses.render(view.gateway_responses, refused.response_type, refused.message, scope=scope,
                                status=refused.status, headers=refused.headers or {})
    missing = _missing_parameters(served.deployment, found.method, scope)
    if missing:
        return responses.render(view.gateway_responses, "BAD_REQUEST_PARAMETERS",
                                f"Missing required request parameters: [{', '.join(missing)}]", scope=scope)
    return backends.call(cloud, view, served, found, request, scope)


def _waf(cloud: Any, view: StageView, request: InvokeRequest, scope: mapping.Scope) -> InvokeResponse | None:
    """The stage's web ACL's block, or None (no web ACL, or it lets the request through)."""
    if not view.stage.get("webAclArn"):
        return None
    stage_arn = f"arn:aws:apigateway:{view.region}::/restapis/{request.api_id}/stages/{scope.context['stage']}"
    verdict = waf.inspect(cloud, stage_arn, request)
    if verdict is None:
        return None
    if verdict.body:
        return InvokeResponse(verdict.status, list(verdict.headers), verdict.body)
    return responses.render(view.gateway_responses, "WAF_FILTERED", "Forbidden", scope=scope,
                            status=verdict.status, headers=dict(verdict.headers))


def _missing_parameters(deployment: dict[str, Any], method: dict[str, Any], scope: mapping.Scope) -> list[str]:
    """Required method request parameters the request lacks, when the method's validator checks them."""
    validator_id = method.get("requestValidatorId")
    if not validator_id:
        return []
    validator = next((v for v in deployment.get("requestValidators") or [] if v.get("id") == validator_id), None)
    if validator is None or not validator.get("validateRequestParameters"):
        return []
    missing = []
    for key, required in sorted((method.get("requestParameters") or {}).items()):
        if required and mapping.source_value(key, scope) in (None, ""):
            missing.append(key.rsplit(".", 1)[-1])
    return missing
