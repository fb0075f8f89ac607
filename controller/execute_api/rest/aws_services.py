"""AWS service integrations of REST APIs: the integration calls another service of this cloud as its role.

An integration of type AWS names the service and the call in its URI, as on AWS:
``arn:aws:apigateway:{region}:{service}:action/{Action}`` (the request template's output is the call's
parameters: form fields for query-protocol services such as SQS and SNS, the JSON body for JSON-protocol
ones) or ``arn:aws:apigateway:{region}:{service}:path/{path}`` (the integration's HTTP method on that path,
``/{account}/{queue}`` for SQS or ``/{bucket}/{key}`` for S3). The call goes through the same gateway as any
client's (routing, the operation, IAM, the audit trail) as a session of the integration's ``credentials``
role, which must trust ``apigateway.amazonaws.com``; API Gateway itself signs nothing here, so no secret is
involved. The service's HTTP answer is what the integration responses then map, selected by its status.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from controller import protocol
from controller.awslambda.events.role_access import role_session
from controller.execute_api.rest import mapping
from controller.gateway import Caller, Gateway, OnBehalf
from controller.iam import policy
from controller.iam.lookup import role_by_arn
from controller.protocol import HttpRequest

APIGATEWAY_PRINCIPAL = "apigateway.amazonaws.com"
#: The session name AWS gives the integration role's sessions (CloudTrail shows it).
SESSION_NAME = "BackplaneAssumeRoleSession"
_URI = re.compile(r"^arn:[^:]+:apigateway:(?P<region>[^:]*):(?:[^:.]+\.)?(?P<service>[^:.]+):"
                  r"(?P<kind>action|path)/(?P<rest>.*)$")


class Misconfigured(Exception):
    """The integration cannot call its service (bad URI, no role, a role API Gateway may not assume): AWS
    answers 500 and logs the reason."""


def _trusts_apigateway(role: dict[str, Any], source_arn: str) -> bool:
    try:
        trust = policy.parse_policy(role["trust_policy"], policy_id="trust", source_type="role-trust")
    except policy.PolicyError:
        return False
    request = policy.EvaluationRequest(
        action="sts:AssumeRole", resource=role["arn"], principal_arn=APIGATEWAY_PRINCIPAL,
        resource_account=role["account_id"], require_resource_policy=True,
        context={"aws:PrincipalServiceName": APIGATEWAY_PRINCIPAL, "aws:SourceArn": source_arn,
                 "aws:SourceAccount": role["account_id"]})
    return policy.evaluate(request, policy.PolicySet(resource=[trust])).allowed


def _request(cloud: Any, found: re.Match[str], method: str, body: bytes, content_type: str,
             outgoing: mapping.Outgoing) -> HttpRequest:
    """The service call an integration URI describes, as a client would send it to the endpoint."""
    service = found["service"]
    headers = {"host": f"{service}.{cloud.config.region}.amazonaws.com", **{n.lower(): v for n, v in outgoing.headers}}
    query = list(outgoing.query)
    if found["kind"] == "path":
        path = re.sub(r"\{([^}]+)\}", lambda m: quote(outgoing.path.get(m[1], ""), safe=""), found["rest"])
        if body:
            headers.setdefault("content-type", content_type)
        return HttpRequest(method=method, path="/" + quote(path, safe="/%"), query=query, headers=headers,
                           body=body, raw_query=urlencode(query))
    action = found["rest"]
    model = protocol.load_service_model(service)
    if model.protocol == "query" or model.metadata.get("awsQueryCompatible") is not None and not body.strip(
            ).startswith(b"{"):
        form = urlencode([("Action", action), ("Version", model.api_version)]) + (
            "&" + body.decode() if body else "")
        headers["content-type"] = "application/x-www-form-urlencoded; charset=utf-8"
        return HttpRequest(method="POST", path="/", query=query, headers=headers, body=form.encode(),
                           raw_query=urlencode(query))
    if model.protocol == "json":
        headers["x-amz-target"] = f"{model.metadata['targetPrefix']}.{action}"
        headers["content-type"] = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
        return HttpRequest(method="POST", path="/", query=query, headers=headers, body=body or b"{}",
                           raw_query=urlencode(query))
    raise Misconfigured(f"{service} is called by path, not by action: use {service}:path/...")


def call(cloud: Any, integration: dict[str, Any], uri: str, method: str, body: bytes, content_type: str,
         outgoing: mapping.Outgoing, *, source_ip: str, source_arn: str) -> mapping.Answer:
    """The service's answer to the integration's call, made as a session of the integration's role."""
    role_arn = integration.get("credentials") or ""
    with cloud.db.read() as conn:
        role = role_by_arn(conn, role_arn) if role_arn else None
    if role is None or not _trusts_apigateway(role, source_arn):
        raise Misconfigured(f"API Gateway does not have permission to assume the provided role {role_arn!r}")
    principal = role_session(cloud, role_arn, SESSION_NAME)
    if principal is None:
        raise Misconfigured(f"The role {role_arn} no longer exists")
    found = _URI.match(uri)
    service = protocol.served_model_name(found["service"], cloud.services) if found else None
    if found is None or service is None:
        raise Misconfigured(f"Invalid integration URI {uri!r}: arn:aws:apigateway:{{region}}:{{service}}:"
                            "action/{Action} or path/{path} for a service this cloud serves")
    sent = _request(cloud, found, method, body, content_type, outgoing)
    answer = Gateway(cloud).handle(sent, Caller(source_ip=source_ip, user_agent="AmazonAPIGateway"),
                                   on_behalf=OnBehalf(principal, service))
    data = answer.body if isinstance(answer.body, bytes) else b"".join(answer.body)
    return mapping.Answer(answer.status, list(answer.headers.items()), data)
