"""The ``query`` and ``ec2`` protocols: form parameters in, XML out.

Requests are flat ``Key.member.1.Sub=value`` pairs (form body for POST, querystring for
GET); :func:`read_query` folds them into a tree once and walks the input shape over it.
The two protocols differ only in naming: EC2 lists are ``Name.N`` (no ``member``), names
come from ``queryName`` or the capitalized ``locationName``, and responses put
``<requestId>`` first and name list items ``item``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel, Shape

from controller.errors import ServiceError
from controller.protocol.faults import InputError
from controller.protocol.http import HttpRequest, HttpResponse
from controller.protocol.models import cached_on, members_of
from controller.protocol.shapes import ec2_wire_name, text_to_scalar
from controller.protocol.xmlcodec import XmlWriter, escape_text

_FORM_CACHE = "_cloudlet_form"

Tree = dict[str, Any]


def form_params(request: HttpRequest) -> dict[str, str]:
    """The request's query-protocol parameters: querystring plus a form-encoded body.

    Parsed once per request (kept on the request object) because routing needs
    ``Action`` before the operation's parameters are read.
    """
    cached = request.__dict__.get(_FORM_CACHE)
    if cached is not None:
        return cached
    params = dict(request.query)
    if has_form_body(request):
        body = request.body_bytes()
        if body:
            text = body.decode("utf-8", "replace")
            params.update(parse_qsl(text, keep_blank_values=True))
    request.__dict__[_FORM_CACHE] = params
    return params


def has_form_body(request: HttpRequest) -> bool:
    """Whether the body holds query-protocol parameters, which routing reads to find the ``Action``."""
    content_type = (request.header("content-type") or "").lower()
    return request.method == "POST" and (not content_type or "x-www-form-urlencoded" in content_type)


def _tree(params: dict[str, str]) -> Tree:
    """``{"A.member.1.B": "x"}`` as ``{"A": {"member": {"1": {"B": "x"}}}}``."""
    root: Tree = {}
    for key, value in params.items():
        node = root
        *parents, last = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if not isinstance(node.get(last), dict):
            node[last] = value
    return root


def _wire_members(shape: Shape, ec2: bool) -> tuple[tuple[str, str, Shape], ...]:
    """(member, parameter name, shape) for each member, as the client serializes them."""

    def build() -> tuple[tuple[str, str, Shape], ...]:
        table = []
        for member in members_of(shape):
            if ec2:
                wire = ec2_wire_name(member.name, member.shape)
            else:
                wire = member.wire
                member_shape = member.shape
                if member_shape.type_name == "list" and member_shape.serialization.get("flattened"):
                    wire = member_shape.member.serialization.get("name", wire)
            table.append((member.name, wire, member.shape))
        return tuple(table)

    return cached_on(shape, "ec2_members" if ec2 else "query_members", build)


class _Reader:
    """Walks an input shape over the parameter tree."""

    def __init__(self, ec2: bool) -> None:
        self.ec2 = ec2

    def structure(self, shape: Shape, node: Any) -> dict[str, Any]:
        if not isinstance(node, dict):
            if node == "":
                return {}
            raise InputError("invalid", "Expected a structure.", value=node)
        result: dict[str, Any] = {}
        for name, wire, member_shape in _wire_members(shape, self.ec2):
            sub = node.get(wire)
            if sub is None:
                continue
            try:
                result[name] = self.value(member_shape, sub)
            except InputError as problem:
                raise problem.under(name, wire) from None
        return result

    def value(self, shape: Shape, node: Any) -> Any:
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, node)
        if kind == "list":
            return self._list(shape, node)
        if kind == "map":
            return self._map(shape, node)
        if isinstance(node, dict):
            raise InputError("invalid", "Expected a single value.", value="")
        return text_to_scalar(shape, node)

    def _indexed(self, node: Any) -> list[tuple[str, Any]]:
        if not isinstance(node, dict):
            if node == "":
                return []
            raise InputError("invalid", "Expected a list.", value=node)
        try:
            return sorted(((key, item) for key, item in node.items() if key), key=lambda pair: int(pair[0]))
        except ValueError as exc:
            raise InputError("invalid", "List indexes must be numbers.", value="") from exc

    def _list(self, shape: Shape, node: Any) -> list[Any]:
        item_shape = shape.member
        flat = self.ec2 or shape.serialization.get("flattened")
        prefix = ""
        if not flat:
            if node == "":
                return []
            if not isinstance(node, dict):
                raise InputError("invalid", "Expected a list.", value=node)
            prefix = item_shape.serialization.get("name", "member")
            node = node.get(prefix, "")
        items = []
        for index, item in self._indexed(node):
            try:
                items.append(self.value(item_shape, item))
            except InputError as problem:
                wire = f"{prefix}.{index}" if prefix else index
                raise problem.under(f"{index}.member", wire) from None
        return items

    def _map(self, shape: Shape, node: Any) -> dict[Any, Any]:
        if not isinstance(node, dict):
            if node == "":
                return {}
            raise InputError("invalid", "Expected a map.", value=node)
        if not shape.serialization.get("flattened"):
            node = node.get("entry", "")
        key_shape, value_shape = shape.key, shape.value
        key_name = self._entry_name(key_shape, "key")
        value_name = self._entry_name(value_shape, "value")
        result: dict[Any, Any] = {}
        for index, entry in self._indexed(node):
            if not isinstance(entry, dict) or key_name not in entry:
                raise InputError("missing", value=None).under(key_name, f"{index}.{key_name}")
            key = self.value(key_shape, entry[key_name])
            if value_name in entry:
                result[key] = self.value(value_shape, entry[value_name])
        return result

    def _entry_name(self, shape: Shape, default: str) -> str:
        return ec2_wire_name(default, shape) if self.ec2 else shape.serialization.get("name", default)


def read_query(operation_model: OperationModel, request: HttpRequest, ec2: bool) -> dict[str, Any]:
    """The operation's input from the request's form parameters."""
    shape = operation_model.input_shape
    if shape is None:
        return {}
    return _Reader(ec2).structure(shape, _tree(form_params(request)))


# ---------------------------------------------------------------------------------------
# responses

_QUERY_WRITER = XmlWriter("member")
_EC2_WRITER = XmlWriter("item")


def ec2_namespace(service_model: ServiceModel) -> str:
    """EC2's response namespace, ``http://ec2.amazonaws.com/doc/<version>/`` (with the slash)."""
    namespace = service_model.metadata.get("xmlNamespace") or (
        f"http://ec2.amazonaws.com/doc/{service_model.api_version}/")
    return namespace if namespace.endswith("/") else namespace + "/"


def query_namespace(service_model: ServiceModel) -> str:
    metadata = service_model.metadata
    return metadata.get("xmlNamespace") or (
        f"https://{metadata['endpointPrefix']}.amazonaws.com/doc/{metadata['apiVersion']}/")


def write_query_response(operation_model: OperationModel, output: dict[str, Any], request_id: str,
                         ec2: bool) -> HttpResponse:
    """``<OpResponse><OpResult>..</OpResult><ResponseMetadata>`` (query) or EC2's flat form."""
    service_model = operation_model.service_model
    name = operation_model.name
    shape = operation_model.output_shape
    rid = escape_text(request_id)
    if ec2:
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{name}Response xmlns="{ec2_namespace(service_model)}">'
                 f"<requestId>{rid}</requestId>"]
        if shape is not None:
            _EC2_WRITER.members(parts, shape, output)
        parts.append(f"</{name}Response>")
    else:
        parts = [f'<{name}Response xmlns="{query_namespace(service_model)}">']
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
            parts.append(f"<{wrapper}>")
            _QUERY_WRITER.members(parts, shape, output)
            parts.append(f"</{wrapper}>")
        parts.append(f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{name}Response>")
    return HttpResponse(200, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id},
                        "".join(parts).encode("utf-8"))


def write_query_error(service_model: ServiceModel, error: ServiceError, request_id: str, status: int,
                      error_shape: Shape | None, ec2: bool) -> HttpResponse:
    """``<ErrorResponse>`` (query) or ``<Response><Errors>`` (EC2) for ``error``."""
    extras = error_extras_xml(error, error_shape)
    code, message, rid = escape_text(error.code), escape_text(error.message), escape_text(request_id)
    if ec2:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{message}</Message>{extras}</Error></Errors><RequestID>{rid}</RequestID></Response>")
    else:
        namespace = query_namespace(service_model)
        fault = "Sender" if error.sender_fault else "Receiver"
        body = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type><Code>{code}</Code>'
                f"<Message>{message}</Message>{extras}</Error><RequestId>{rid}</RequestId></ErrorResponse>")
    headers = {"Content-Type": "text/xml", "x-amzn-RequestId": request_id, **error.headers}
    return HttpResponse(status, headers, body.encode("utf-8"))


def error_extras_xml(error: ServiceError, error_shape: Shape | None) -> str:
    """The error's extra members as XML elements, typed by the error shape when it has them.

    Shared with rest-xml, whose S3 errors carry extras (``Key``, ``BucketName``) the same way.
    """
    if not error.extra:
        return ""
    parts: list[str] = []
    shape_members = error_shape.members if error_shape is not None else {}
    for name, value in error.extra.items():
        if value is None:
            continue
        member = shape_members.get(name)
        if member is not None:
            _QUERY_WRITER.value(parts, member, value, member.serialization.get("name", name))
        else:
            text = value if isinstance(value, str) else str(value)
            parts.append(f"<{name}>{escape_text(text)}</{name}>")
    return "".join(parts)

