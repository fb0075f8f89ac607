"""Calls one service of this cloud makes to another as a principal, the way AWS's services call each other.

Auto Scaling runs instances as its service-linked role, CloudWatch alarms stop instances and publish to topics:
on AWS these are ordinary API calls that IAM judges and CloudTrail records (``invokedBy`` the calling service).
Here too: :func:`call` serializes the parameters with botocore's own serializer, hands the request to the same
:class:`~controller.gateway.Gateway` a client's call goes through (``OnBehalf``: nothing is signed, everything
else, the operation, IAM and the audit record, is the same), and reads the answer with botocore's own parser. So
a service never reaches into another's tables, and the callee's validation and errors hold for it as for anyone.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from botocore import parsers, serialize
from botocore.model import OperationModel

from controller.api import Principal
from controller.gateway import Caller, Gateway, OnBehalf
from controller.protocol import HttpRequest, HttpResponse, load_service_model

#: Where a protocol offers several, the one this layer is asked in (plain JSON over CBOR: both are served,
#: and JSON reads better in a debugger).
_PREFERRED = ("json", "query", "ec2", "rest-json", "rest-xml")


class ServiceCallError(Exception):
    """The called service answered with an AWS error."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def call(cloud: Any, principal: Principal, service: str, operation: str, params: dict[str, Any], *,
         invoked_by: str, source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """The output of ``service``'s ``operation`` called with ``params`` as ``principal``; ServiceCallError when
    the service refuses. ``service`` is the botocore model name (``ec2``, ``elbv2``, ``cloudwatch``);
    ``invoked_by`` the calling service's principal (``autoscaling.amazonaws.com``), the user agent CloudTrail shows.
    """
    operation_model = load_service_model(service).operation_model(operation)
    protocol = _protocol(operation_model)
    answer = _answer(cloud, principal, service, operation_model, protocol, params, invoked_by, source_ip)
    parsed = parsers.create_parser(protocol).parse(
        {"status_code": answer.status, "headers": dict(answer.headers), "body": answer.body},
        operation_model.output_shape)
    if answer.status >= 300:
        error = parsed.get("Error", {})
        raise ServiceCallError(error.get("Code", "InternalFailure"), error.get("Message", ""), answer.status)
    parsed.pop("ResponseMetadata", None)
    return parsed


def raw_call(cloud: Any, principal: Principal, service: str, operation: str, params: dict[str, Any], *,
             invoked_by: str, source_ip: str = "127.0.0.1") -> HttpResponse:
    """The service's HTTP answer as it stands, its body whole: for a caller that needs the bytes as sent
    (an S3 object, which botocore's parser would decode as text). Errors are the answer's status."""
    operation_model = load_service_model(service).operation_model(operation)
    return _answer(cloud, principal, service, operation_model, _protocol(operation_model), params, invoked_by,
                   source_ip)


def _answer(cloud: Any, principal: Principal, service: str, operation_model: OperationModel, protocol: str,
            params: dict[str, Any], invoked_by: str, source_ip: str) -> HttpResponse:
    request = _request(cloud, operation_model, protocol, params)
    answer = Gateway(cloud).handle(request, Caller(source_ip=source_ip, user_agent=invoked_by),
                                   on_behalf=OnBehalf(principal, service))
    if not isinstance(answer.body, bytes):
        answer.body = b"".join(answer.body)
    return answer


def _protocol(operation_model: OperationModel) -> str:
    metadata = operation_model.service_model.metadata
    offered = metadata.get("protocols") or [metadata["protocol"]]
    return next((name for name in _PREFERRED if name in offered), offered[0])


def _request(cloud: Any, operation_model: OperationModel, protocol: str, params: dict[str, Any]) -> HttpRequest:
    """The HTTP request a client would send for this call, addressed to the service's regional endpoint."""
    serialized = serialize.create_serializer(protocol, include_validation=True).serialize_to_request(
        params, operation_model)
    prefix = operation_model.service_model.endpoint_prefix
    headers = {name.lower(): str(value) for name, value in serialized["headers"].items()}
    headers["host"] = f"{prefix}.{cloud.config.region}.amazonaws.com"
    body = serialized["body"]
    if isinstance(body, dict):  # query and ec2 serializers leave the form as a dict
        body = urlencode(body)
        headers.setdefault("content-type", "application/x-www-form-urlencoded; charset=utf-8")
    data = body.encode() if isinstance(body, str) else (body or b"")
    url = urlsplit(serialized["url_path"])
    # the path may carry a subresource (S3's ``?policy``, ``?list-type=2``); botocore leaves integers
    # (``max-keys``) and lists for its HTTP client to format, and the gateway reads text pairs
    query = parse_qsl(url.query, keep_blank_values=True)
    if isinstance(serialized["query_string"], dict):
        for name, value in serialized["query_string"].items():
            query += [(name, str(item)) for item in (value if isinstance(value, list) else [value])]
    raw_query = urlencode(query)
    return HttpRequest(method=serialized["method"], path=url.path or "/", query=query, headers=headers, body=data,
                       raw_query=raw_query)
