"""The protocol-neutral entry points: parse a request, serialize an output or an error.

Each picks the protocol from the model, hands off to the protocol module, and turns any
:class:`~controller.protocol.faults.InputError` into the service's own error.
"""

from __future__ import annotations

from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from controller.errors import ServiceError
from controller.protocol.cbor import PROTOCOL as CBOR
from controller.protocol.cbor import read_cbor_request, write_cbor_error, write_cbor_response
from controller.protocol.faults import (
    SQS_QUERY_CODES,
    InputError,
    rules_for,
    to_service_error,
    unavailable_operation_error,
)
from controller.protocol.http import HttpRequest, HttpResponse
from controller.protocol.json_protocol import (
    query_error_code,
    read_json_request,
    write_json_error,
    write_json_response,
)
from controller.protocol.models import cached_on, error_shapes, is_query_compatible, protocol_of
from controller.protocol.query import read_query, write_query_error, write_query_response
from controller.protocol.rest import read_rest, write_rest_error, write_rest_response
from controller.protocol.shapes import validate
from controller.protocol.xmlcodec import readable_in_xml


def parse_request(operation_model: OperationModel, request: HttpRequest) -> dict[str, Any]:
    """The operation's input dict from ``request``, validated the way the service validates.

    Raises the service's own :class:`ServiceError` for missing, mistyped or malformed input.
    A streaming payload (S3 object data) is ``request.body`` itself, unread.
    """
    service_model = operation_model.service_model
    protocol = protocol_of(service_model)
    rules = rules_for(service_model.service_name)
    try:
        if protocol in ("query", "ec2"):
            params = read_query(operation_model, request, protocol == "ec2")
        elif protocol == "json":
            params = read_json_request(operation_model, request)
        elif protocol == CBOR:
            params = read_cbor_request(operation_model, request)
        else:
            params = read_rest(operation_model, request, protocol == "rest-xml")
    except InputError as problem:
        raise to_service_error([problem], rules, protocol) from None
    shape = operation_model.input_shape
    if shape is not None:
        problems = validate(shape, params, rules, ec2=protocol == "ec2")
        if problems:
            raise to_service_error(problems, rules, protocol)
    return params


def serialize_response(operation_model: OperationModel, output: dict[str, Any] | None,
                       request_id: str) -> HttpResponse:
    """The HTTP response for an operation's output dict, exactly as the protocol writes it."""
    protocol = protocol_of(operation_model.service_model)
    output = output or {}
    if protocol in ("query", "ec2"):
        return write_query_response(operation_model, output, request_id, protocol == "ec2")
    if protocol == "json":
        return write_json_response(operation_model, output, request_id)
    if protocol == CBOR:
        return write_cbor_response(operation_model, output, request_id)
    return write_rest_response(operation_model, output, request_id, protocol == "rest-xml")


def find_error_shape(service_model: ServiceModel, code: str) -> Shape | None:
    """The model's error shape for ``code`` (shape name or query code), if it has one."""
    shape = error_shapes(service_model).get(code)
    if shape is None and is_query_compatible(service_model):
        shape_name = _reverse_query_codes(service_model).get(code)
        if shape_name:
            shape = error_shapes(service_model).get(shape_name)
    return shape


def _reverse_query_codes(service_model: ServiceModel) -> dict[str, str]:
    return cached_on(service_model, "reverse_query_codes",
                     lambda: {query: name for name, query in SQS_QUERY_CODES.items()})


def error_status(error: ServiceError, error_shape: Shape | None) -> int:
    """The error's status, unless the model pins one for that code."""
    if error_shape is not None:
        modeled = error_shape.metadata.get("error", {}).get("httpStatusCode")
        if modeled:
            return int(modeled)
    return error.status


def serialize_error(service_model: ServiceModel, error: ServiceError, request_id: str,
                    operation_model: OperationModel | None = None) -> HttpResponse:
    """The HTTP response for ``error`` as the service's protocol renders errors.

    A HEAD request's error has no body (S3 clients then read the status alone). The operation's
    model, when known, decides the protocol (a query-protocol call to SQS is answered in XML).
    """
    if operation_model is not None:
        service_model = operation_model.service_model
    protocol = protocol_of(service_model)
    error_shape = find_error_shape(service_model, error.code)
    status = error_status(error, error_shape)
    if protocol in ("query", "ec2", "rest-xml"):
        error = _readable_in_xml(error)
    if protocol in ("query", "ec2"):
        # The query wire code: the model's legacy code for a shape name (IAM's
        # NoSuchEntityException is sent as NoSuchEntity).
        error = _with_code(error, query_error_code(service_model, error, error_shape))
        return write_query_error(service_model, error, request_id, status, error_shape, protocol == "ec2")
    if protocol == "json":
        return write_json_error(service_model, error, request_id, status, error_shape)
    if protocol == CBOR:
        query_code = query_error_code(service_model, error, error_shape) if is_query_compatible(service_model) else None
        return write_cbor_error(error, request_id, status, query_code, error_shape)
    head = operation_model is not None and operation_model.http.get("method") == "HEAD"
    return write_rest_error(service_model, error, request_id, status, error_shape, protocol == "rest-xml", head)


def _readable_in_xml(error: ServiceError) -> ServiceError:
    """The error with control characters in its message and text extras spelled out (see readable_in_xml)."""
    extra = {name: readable_in_xml(value) if isinstance(value, str) else value for name, value in error.extra.items()}
    message = readable_in_xml(error.message)
    if message == error.message and extra == error.extra:
        return error
    return ServiceError(message, code=error.code, status=error.status, sender_fault=error.sender_fault,
                        headers=error.headers, **extra)


def _with_code(error: ServiceError, code: str) -> ServiceError:
    if code == error.code:
        return error
    return ServiceError(error.message, code=code, status=error.status, sender_fault=error.sender_fault,
                        headers=error.headers, **error.extra)


def unavailable_operation(service_model: ServiceModel, operation: str, why: str) -> ServiceError:
    """The service's own error for ``operation``, which exists in its model but Cloudlet cannot run."""
    return unavailable_operation_error(protocol_of(service_model), service_model.service_name, operation, why)
