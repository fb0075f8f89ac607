"""The rest protocols (``rest-json``, ``rest-xml``): members bound to HTTP parts, plus a body.

Each input member has a ``location``: a URI label, a querystring key (a map-typed member
takes all the remaining keys), a header, a header prefix (``x-amz-meta-``), or the body.
A ``payload`` member owns the whole body: a structure is parsed from XML/JSON, a
``streaming`` blob is handed over as the request's stream (never read here), any other
blob or string as bytes/text. Responses mirror that, with header timestamps in RFC 822,
the status from a ``statusCode`` member or the operation's ``responseCode``, and a
streaming payload passed through as chunks.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from controller.errors import ServiceError
from controller.protocol.eventstream import encode_event_stream
from controller.protocol.faults import InputError
from controller.protocol.http import HttpRequest, HttpResponse
from controller.protocol.json_protocol import (
    dump_json,
    json_error_document,
    json_structure,
    load_json_body,
    read_json_structure,
    read_json_value,
)
from controller.protocol.models import members_of
from controller.protocol.query import error_extras_xml
from controller.protocol.routing import compile_route, uri_labels
from controller.protocol.shapes import scalar_to_text, text_to_scalar
from controller.protocol.xmlcodec import XmlWriter, escape_text, parse_document, read_structure, read_value

CHUNK_SIZE = 64 * 1024

# S3 documents name the root element of responses that have no payload member; the model
# does not record them. Anything missing falls back to ``<Operation>Result``.
_S3_ROOTS = {
    "CompleteMultipartUpload": "CompleteMultipartUploadResult",
    "CreateMultipartUpload": "InitiateMultipartUploadResult",
    "CreateSession": "CreateSessionResult",
    "DeleteObjects": "DeleteResult",
    "GetBucketAccelerateConfiguration": "AccelerateConfiguration",
    "GetBucketAcl": "AccessControlPolicy",
    "GetBucketCors": "CORSConfiguration",
    "GetBucketLifecycle": "LifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "LifecycleConfiguration",
    "GetBucketLogging": "BucketLoggingStatus",
    "GetBucketNotification": "NotificationConfiguration",
    "GetBucketNotificationConfiguration": "NotificationConfiguration",
    "GetBucketRequestPayment": "RequestPaymentConfiguration",
    "GetBucketTagging": "Tagging",
    "GetBucketVersioning": "VersioningConfiguration",
    "GetBucketWebsite": "WebsiteConfiguration",
    "GetObjectAcl": "AccessControlPolicy",
    "GetObjectAttributes": "GetObjectAttributesResponse",
    "GetObjectTagging": "Tagging",
    "ListBucketAnalyticsConfigurations": "ListBucketAnalyticsConfigurationResult",
    "ListBucketInventoryConfigurations": "ListInventoryConfigurationsResult",
    "ListBucketMetricsConfigurations": "ListMetricsConfigurationsResult",
    "ListBuckets": "ListAllMyBucketsResult",
    "ListDirectoryBuckets": "ListAllMyDirectoryBucketsResult",
    "ListMultipartUploads": "ListMultipartUploadsResult",
    "ListObjectVersions": "ListVersionsResult",
    "ListObjects": "ListBucketResult",
    "ListObjectsV2": "ListBucketResult",
    "ListParts": "ListPartsResult",
}
_DEFAULT_NAMESPACES = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
# GetBucketLocation's answer is the bare text of its root element (clients parse it by hand).
_TEXT_ROOTS = {("s3", "GetBucketLocation"): "LocationConstraint"}

_XML = XmlWriter("member")


# ---------------------------------------------------------------------------------------
# requests


def read_rest(operation_model: OperationModel, request: HttpRequest, xml: bool) -> dict[str, Any]:
    """The operation's input from a rest-json (``xml=False``) or rest-xml request."""
    shape = operation_model.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    labels = uri_labels(operation_model, request)
    claimed_query = {key for key, _ in compile_route(operation_model).literal_query}
    query_map = None
    for member in members_of(shape):
        location = member.location
        try:
            if location == "uri":
                if member.name in labels:
                    params[member.name] = text_to_scalar(member.shape, labels[member.name])
            elif location == "querystring":
                if member.shape.type_name == "map":
                    query_map = member
                    continue
                claimed_query.add(member.wire)
                value = _read_querystring(member.shape, member.wire, request)
                if value is not None:
                    params[member.name] = value
            elif location == "header":
                text = request.headers.get(member.wire.lower())
                if text is not None:
                    params[member.name] = _read_header(member.shape, text)
            elif location == "headers":
                prefix = member.wire.lower()
                found = {name[len(prefix):]: value for name, value in request.headers.items()
                         if name.startswith(prefix)}
                if found:
                    params[member.name] = found
        except InputError as problem:
            raise problem.under(member.name, member.wire) from None
    if query_map is not None:
        remaining = _read_query_map(query_map.shape, request, claimed_query)
        if remaining:
            params[query_map.name] = remaining
    params.update(_host_labels(operation_model, request))
    _read_body(operation_model, shape, request, xml, params)
    return params


def _read_querystring(shape: Shape, key: str, request: HttpRequest) -> Any:
    if shape.type_name == "list":
        values = [value for name, value in request.query if name == key]
        return [text_to_scalar(shape.member, value) for value in values] if values else None
    text = request.query_value(key)
    return None if text is None else text_to_scalar(shape, text)


def _read_query_map(shape: Shape, request: HttpRequest, claimed: set[str]) -> dict[str, Any]:
    value_shape = shape.value
    result: dict[str, Any] = {}
    for key, value in request.query:
        if key in claimed:
            continue
        if value_shape.type_name == "list":
            result.setdefault(key, []).append(text_to_scalar(value_shape.member, value))
        else:
            result[key] = text_to_scalar(value_shape, value)
    return result


def split_header_list(text: str) -> list[str]:
    """A comma-separated header list, honouring double-quoted items (RFC 7230)."""
    items, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return items


def _read_header(shape: Shape, text: str) -> Any:
    if shape.type_name == "list":
        return [text_to_scalar(shape.member, item) for item in split_header_list(text)]
    if shape.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(text, validate=True))
        except (ValueError, binascii.Error) as exc:
            raise InputError("invalid", "Invalid base64-encoded JSON value.", value=text) from exc
    return text_to_scalar(shape, text)


def _host_labels(operation_model: OperationModel, request: HttpRequest) -> dict[str, str]:
    """Members bound to the ``hostPrefix`` (S3's ``{RequestRoute}.``) read from the Host header."""
    endpoint = operation_model.endpoint or {}
    prefix = endpoint.get("hostPrefix")
    host = request.header("host")
    if not prefix or not host or not prefix.startswith("{") or not prefix.endswith("}."):
        return {}
    label = prefix[1:-2]
    return {label: host.split(".", 1)[0]}


def _payload_member(shape: Shape) -> tuple[str, Shape] | None:
    name = shape.serialization.get("payload")
    return (name, shape.members[name]) if name else None


def is_streaming(shape: Shape) -> bool:
    return shape.type_name == "blob" and bool(shape.serialization.get("streaming"))


def _read_body(operation_model: OperationModel, shape: Shape, request: HttpRequest, xml: bool,
               params: dict[str, Any]) -> None:
    payload = _payload_member(shape)
    if payload is not None:
        name, member_shape = payload
        if is_streaming(member_shape):
            params[name] = request.body
            return
        body = request.body_bytes()
        if not body:
            return
        if member_shape.type_name == "blob":
            params[name] = body
        elif member_shape.type_name == "string":
            params[name] = body.decode("utf-8", "replace")
        else:
            try:
                params[name] = (read_value(member_shape, parse_document(body)) if xml
                                else read_json_value(member_shape, load_json_body(body)))
            except InputError as problem:
                problem.kind = "malformed"
                raise problem.under(name, member_shape.serialization.get("name", name)) from None
        return
    if not any(member.location is None for member in members_of(shape)):
        return
    body = request.body_bytes()
    if not body.strip():
        return
    if xml:
        params.update(read_structure(shape, parse_document(body)))
    else:
        params.update(read_json_structure(shape, load_json_body(body)))


# ---------------------------------------------------------------------------------------
# responses


def _response_headers(shape: Shape, output: dict[str, Any], headers: dict[str, str]) -> int | None:
    """Write header members into ``headers``; return a ``statusCode`` member's value, if any."""
    status = None
    for member in members_of(shape):
        location = member.location
        if location is None:
            continue
        value = output.get(member.name)
        if value is None:
            continue
        if location == "statusCode":
            status = int(value)
        elif location == "header":
            headers[member.wire] = header_text(member.shape, value)
        elif location == "headers":
            for key, item in value.items():
                headers[member.wire + key] = str(item)
    return status


def header_text(shape: Shape, value: Any) -> str:
    """A header member's value as header text (lists comma-joined, JSON values base64)."""
    if shape.type_name == "list":
        item_shape = shape.member
        texts = [scalar_to_text(item_shape, item, "rfc822") for item in value if item is not None]
        if item_shape.type_name == "string":
            texts = [f'"{text.replace(chr(34), chr(92) + chr(34))}"' if ("," in text or '"' in text) else text
                     for text in texts]
        return ",".join(texts)
    if shape.serialization.get("jsonvalue"):
        return base64.b64encode(dump_json(value)).decode("ascii")
    return scalar_to_text(shape, value, "rfc822")


def iter_chunks(stream: Any, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """A file-like object as an iterator of chunks, closing it at the end."""
    try:
        while True:
            chunk = stream.read(size)
            if not chunk:
                return
            yield chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def stream_body(value: Any) -> bytes | Iterable[bytes]:
    """A blob/string payload as a body: bytes as they are, files as chunks, iterables passed on."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if hasattr(value, "read"):
        return iter_chunks(value)
    return value


def _root_name(service_name: str, operation_model: OperationModel, shape: Shape) -> str:
    name = shape.serialization.get("name")
    if name:
        return name
    if service_name == "s3":
        return _S3_ROOTS.get(operation_model.name, f"{operation_model.name}Result")
    return f"{operation_model.name}Result"


def _namespace_attribute(service_name: str, shape: Shape) -> str:
    if "xmlNamespace" in shape.serialization:
        return ""
    namespace = _DEFAULT_NAMESPACES.get(service_name)
    return f' xmlns="{namespace}"' if namespace else ""


def write_rest_response(operation_model: OperationModel, output: dict[str, Any], request_id: str,
                        xml: bool) -> HttpResponse:
    """The HTTP response of a rest operation from its output dict."""
    service_name = operation_model.service_model.service_name
    headers = _request_id_headers(service_name, request_id)
    status = operation_model.http.get("responseCode", 200)
    shape = operation_model.output_shape
    if shape is None:
        return HttpResponse(status, headers, b"")
    status = _response_headers(shape, output, headers) or status
    body: bytes | Iterable[bytes] = b""
    payload = _payload_member(shape)
    if payload is not None:
        name, member_shape = payload
        value = output.get(name)
        if member_shape.serialization.get("eventstream"):
            body = encode_event_stream(member_shape, value or (), xml)
            headers.setdefault("Content-Type", "application/vnd.amazon.eventstream")
        elif member_shape.type_name in ("blob", "string"):
            body = stream_body(value)
        elif value is not None:
            body = _structure_body(service_name, member_shape, value, xml,
                                   member_shape.serialization.get("name", name))
            headers.setdefault("Content-Type", "application/xml" if xml else "application/json")
    elif any(member.location is None for member in members_of(shape)):
        text_root = _TEXT_ROOTS.get((service_name, operation_model.name))
        if xml and text_root:
            text = output.get(text_root)
            namespace = _DEFAULT_NAMESPACES.get(service_name, "")
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{text_root} xmlns="{namespace}">'
                    f"{escape_text(text or '')}</{text_root}>").encode()
        else:
            body = _structure_body(service_name, shape, output, xml, _root_name(service_name, operation_model, shape))
        headers.setdefault("Content-Type", "application/xml" if xml else "application/json")
    if operation_model.http.get("method") == "HEAD":
        body = b""
    if status == 200 and "Content-Range" in headers:
        # HTTP's rule, not S3's model: a response carrying part of the representation is 206.
        status = 206
    return HttpResponse(status, headers, body)


def _structure_body(service_name: str, shape: Shape, value: dict[str, Any], xml: bool, root: str) -> bytes:
    if not xml:
        return dump_json(json_structure(shape, value))
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _XML.structure(parts, shape, value, root, _namespace_attribute(service_name, shape))
    return "".join(parts).encode("utf-8")


def _request_id_headers(service_name: str, request_id: str) -> dict[str, str]:
    if service_name == "s3":
        return {"x-amz-request-id": request_id, "x-amz-id-2": host_id(request_id)}
    return {"x-amzn-RequestId": request_id}


def host_id(request_id: str) -> str:
    """S3's ``x-amz-id-2``: an opaque base64 token; derived from the request id to stay stable."""
    return base64.b64encode(request_id.encode("utf-8") * 2).decode("ascii")


def write_rest_error(service_model: ServiceModel, error: ServiceError, request_id: str, status: int,
                     error_shape: Shape | None, xml: bool, head: bool) -> HttpResponse:
    """rest-xml: S3's ``<Error>`` document; rest-json: ``x-amzn-ErrorType`` and a JSON body."""
    service_name = service_model.service_name
    headers = _request_id_headers(service_name, request_id)
    headers.update(error.headers)
    if xml:
        headers["Content-Type"] = "application/xml"
        code, message = escape_text(error.code), escape_text(error.message)
        extras = error_extras_xml(error, error_shape)
        rid = escape_text(request_id)
        if service_name == "s3":
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                    f"{extras}<RequestId>{rid}</RequestId><HostId>{host_id(request_id)}</HostId></Error>")
        else:
            fault = "Sender" if error.sender_fault else "Receiver"
            namespace = service_model.metadata.get("xmlNamespace", "")
            body = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type><Code>{code}</Code>'
                    f"<Message>{message}</Message>{extras}</Error><RequestId>{rid}</RequestId></ErrorResponse>")
        payload = body.encode("utf-8")
    else:
        document = json_error_document(error, error_shape)
        headers["x-amzn-ErrorType"] = document["__type"]
        headers["Content-Type"] = "application/json"
        payload = dump_json(document)
    # HEAD answers and 304 Not Modified never carry a body (RFC 9110).
    return HttpResponse(status, headers, b"" if head or status == 304 else payload)

