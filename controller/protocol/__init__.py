"""The generic AWS wire protocol layer, driven by the service models inside botocore.

Nothing in here knows any particular operation: requests of the six AWS protocols
(``ec2``, ``query``, ``json``, ``rest-json``, ``rest-xml``, ``smithy-rpc-v2-cbor``) are parsed into the
operation's input dict, and output dicts and :class:`~controller.errors.ServiceError`
are serialized exactly as the model says.

Public surface (what the rest of the controller uses):

- :class:`HttpRequest`, :class:`HttpResponse`: the transport-neutral request/response.
- ``resolve_service(request) -> str``: which served botocore service a request is for;
  ``identify_service(request)`` names any AWS service (served or not) from the request, and
  ``unserved_model(name, request)`` renders an unserved service's errors from its metadata alone.
- ``load_service_model(name) -> botocore.model.ServiceModel`` (cached).
- ``find_operation(service_model, request) -> botocore.model.OperationModel``; ``wire_model(service_model,
  request)``: the model as the protocol the request speaks renders it (CloudWatch: CBOR, JSON or query).
- ``parse_request(operation_model, request) -> dict``.
- ``serialize_response(operation_model, output, request_id) -> HttpResponse``.
- ``serialize_error(service_model, error, request_id, operation_model=None) -> HttpResponse``.
- ``unavailable_operation(service_model, operation, why)``: the service's own error for an
  operation Cloudlet does not run.

``DEFAULT_SERVICES`` is the set ``resolve_service`` serves unless given ``services=``.
"""

from controller.protocol.codec import (
    parse_request,
    serialize_error,
    serialize_response,
    unavailable_operation,
)
from controller.protocol.http import HttpRequest, HttpResponse
from controller.protocol.models import load_service_model
from controller.protocol.routing import (
    DEFAULT_SERVICES,
    find_operation,
    identify_service,
    operation_hint,
    resolve_service,
    served_model_name,
    unserved_model,
    wire_model,
)

__all__ = [
    "DEFAULT_SERVICES",
    "HttpRequest",
    "HttpResponse",
    "find_operation",
    "identify_service",
    "load_service_model",
    "operation_hint",
    "parse_request",
    "resolve_service",
    "served_model_name",
    "serialize_error",
    "serialize_response",
    "unserved_model",
    "unavailable_operation",
    "wire_model",
]
