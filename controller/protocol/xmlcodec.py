"""XML bodies, driven by shapes: a fast writer for responses and a reader for rest-xml requests.

The writer builds a list of strings (no DOM) and honours the model's XML traits:
``locationName``, ``flattened`` lists and maps, ``xmlAttribute`` members and
``xmlNamespace`` (with prefixes, as S3's ``xsi:type`` grantee needs). EC2 differs from the
query protocol only in naming list items ``item``, which ``item_name`` carries.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from botocore.model import Shape

from controller.protocol.faults import InputError
from controller.protocol.models import Member, cached_on, members_of
from controller.protocol.shapes import scalar_to_text, text_to_scalar

# Control characters are written as character references, as S3 writes them in keys it lists
# (clients that need them verbatim ask for ``encoding-type=url``); lone surrogates, which no
# UTF-8 document can hold, become U+FFFD.
_UNWRITABLE = {**{chr(code): f"&#x{code:X};" for code in range(0x20) if chr(code) not in "\t\n"},
               **{chr(code): "\ufffd" for code in range(0xD800, 0xE000)}}
_TEXT_ESCAPES = str.maketrans({**_UNWRITABLE, "&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR_ESCAPES = str.maketrans({**_UNWRITABLE, "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                               "\n": "&#xA;", "\t": "&#x9;"})


_CONTROLS_AS_TEXT = str.maketrans({chr(code): f"\\u{code:04x}" for code in range(0x20) if chr(code) not in "\t\n\r"})


def readable_in_xml(text: str) -> str:
    """Control characters spelled ``\\u0018``: for error text echoing a client's input, which every
    XML parser must read (a character reference to them is not XML 1.0, so clients choke on it)."""
    return text.translate(_CONTROLS_AS_TEXT)


def escape_text(text: str) -> str:
    """Escape character data (``\\r`` and other control characters too, see ``_UNWRITABLE``)."""
    return text.translate(_TEXT_ESCAPES)


def escape_attribute(text: str) -> str:
    return text.translate(_ATTR_ESCAPES)


def namespace_attribute(shape: Shape) -> str:
    """The ``xmlns`` attribute a shape's ``xmlNamespace`` trait asks for ("" if none)."""
    return cached_on(shape, "xmlns", lambda: _namespace_attribute(shape))


def _namespace_attribute(shape: Shape) -> str:
    namespace = shape.serialization.get("xmlNamespace")
    if not namespace:
        return ""
    if isinstance(namespace, str):
        return f' xmlns="{escape_attribute(namespace)}"'
    prefix = namespace.get("prefix")
    name = f"xmlns:{prefix}" if prefix else "xmlns"
    return f' {name}="{escape_attribute(namespace["uri"])}"'


def element_name(member: Member) -> str:
    """The element a structure member is written as (a flattened list takes its item's name)."""
    shape = member.shape
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        item_name = shape.member.serialization.get("name")
        if item_name:
            return item_name
    return member.wire


class _XmlMember:
    """A structure member's XML facts, computed once per shape."""

    __slots__ = ("name", "element", "shape", "is_attribute", "in_body", "is_scalar", "open_tag", "close_tag")

    def __init__(self, member: Member) -> None:
        self.name = member.name
        self.element = element_name(member)
        self.shape = member.shape
        self.is_attribute = bool(member.shape.serialization.get("xmlAttribute"))
        self.in_body = member.location is None
        self.is_scalar = member.shape.type_name not in ("structure", "list", "map")
        self.open_tag = f"<{self.element}{namespace_attribute(member.shape)}>"
        self.close_tag = f"</{self.element}>"


def xml_members(shape: Shape) -> tuple[_XmlMember, ...]:
    return cached_on(shape, "xml_members", lambda: tuple(_XmlMember(m) for m in members_of(shape)))


class XmlWriter:
    """Writes values of shapes as XML text into ``parts``.

    ``item_name`` is the default element of list items (``member``, or ``item`` for EC2);
    ``timestamp_format`` the default for timestamps in the body.
    """

    def __init__(self, item_name: str = "member", timestamp_format: str = "iso8601") -> None:
        self.item_name = item_name
        self.timestamp_format = timestamp_format

    def structure(self, parts: list[str], shape: Shape, value: dict[str, Any], name: str,
                  extra_attributes: str = "") -> None:
        """``<name ...>members</name>``, with attribute members and namespace on the tag."""
        attributes = namespace_attribute(shape) + extra_attributes
        for member in xml_members(shape):
            if member.is_attribute:
                item = value.get(member.name)
                if item is not None:
                    text = scalar_to_text(member.shape, item, self.timestamp_format)
                    attributes += f' {member.element}="{escape_attribute(text)}"'
        parts.append(f"<{name}{attributes}>")
        self.members(parts, shape, value)
        parts.append(f"</{name}>")

    def members(self, parts: list[str], shape: Shape, value: dict[str, Any]) -> None:
        """The child elements of a structure value (members bound to headers etc. are skipped)."""
        for member in xml_members(shape):
            if member.is_attribute or not member.in_body:
                continue
            item = value.get(member.name)
            if item is None:
                continue
            if member.is_scalar:
                text = scalar_to_text(member.shape, item, self.timestamp_format)
                parts.append(member.open_tag + text.translate(_TEXT_ESCAPES) + member.close_tag)
            else:
                self.value(parts, member.shape, item, member.element)

    def value(self, parts: list[str], shape: Shape, value: Any, name: str) -> None:
        kind = shape.type_name
        if kind == "structure":
            self.structure(parts, shape, value, name)
        elif kind == "list":
            self._list(parts, shape, value, name)
        elif kind == "map":
            self._map(parts, shape, value, name)
        else:
            text = escape_text(scalar_to_text(shape, value, self.timestamp_format))
            parts.append(f"<{name}{namespace_attribute(shape)}>{text}</{name}>")

    def _list(self, parts: list[str], shape: Shape, value: Any, name: str) -> None:
        item_shape = shape.member
        if shape.serialization.get("flattened"):
            for item in value:
                if item is not None:
                    self.value(parts, item_shape, item, name)
            return
        item_name = item_shape.serialization.get("name", self.item_name)
        parts.append(f"<{name}{namespace_attribute(shape)}>")
        for item in value:
            if item is not None:
                self.value(parts, item_shape, item, item_name)
        parts.append(f"</{name}>")

    def _map(self, parts: list[str], shape: Shape, value: dict[Any, Any], name: str) -> None:
        key_shape, value_shape = shape.key, shape.value
        key_name = key_shape.serialization.get("name", "key")
        value_name = value_shape.serialization.get("name", "value")
        flattened = shape.serialization.get("flattened")
        if not flattened:
            parts.append(f"<{name}{namespace_attribute(shape)}>")
        entry = name if flattened else "entry"
        for key, item in value.items():
            parts.append(f"<{entry}>")
            self.value(parts, key_shape, key, key_name)
            if item is not None:
                self.value(parts, value_shape, item, value_name)
            parts.append(f"</{entry}>")
        if not flattened:
            parts.append(f"</{name}>")


# ---------------------------------------------------------------------------------------
# reading request bodies


def parse_document(body: bytes) -> ElementTree.Element:
    """The root element of an XML body; InputError(``malformed``) if it is not XML."""
    try:
        return ElementTree.fromstring(body)
    except (ElementTree.ParseError, ValueError) as exc:
        raise InputError("malformed", f"The XML is not well-formed: {exc}") from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag[:1] == "{" else tag


def _children_by_name(element: ElementTree.Element) -> dict[str, list[ElementTree.Element]]:
    children: dict[str, list[ElementTree.Element]] = {}
    for child in element:
        children.setdefault(_local(child.tag), []).append(child)
    return children


def read_structure(shape: Shape, element: ElementTree.Element) -> dict[str, Any]:
    """The value of a structure shape from its element (members with a location are skipped)."""
    children = _children_by_name(element)
    result: dict[str, Any] = {}
    for member in xml_members(shape):
        if not member.in_body:
            continue
        try:
            if member.is_attribute:
                text = _attribute(element, member.element)
                if text is not None:
                    result[member.name] = text_to_scalar(member.shape, text)
                continue
            found = children.get(member.element)
            if not found:
                continue
            if member.shape.type_name in ("list", "map") and member.shape.serialization.get("flattened"):
                result[member.name] = _read_flattened(member.shape, found)
            else:
                result[member.name] = read_value(member.shape, found[0])
        except InputError as problem:
            raise problem.under(member.name, member.element) from None
    return result


def _attribute(element: ElementTree.Element, name: str) -> str | None:
    """An attribute by its qualified model name (``xsi:type``), whatever the document's prefix."""
    if name in element.attrib:
        return element.attrib[name]
    local = name.split(":", 1)[-1]
    for key, value in element.attrib.items():
        if _local(key) == local:
            return value
    return None


def read_value(shape: Shape, element: ElementTree.Element) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return read_structure(shape, element)
    if kind == "list":
        return [read_value(shape.member, child) for child in element]
    if kind == "map":
        return _read_entries(shape, list(element))
    try:
        return text_to_scalar(shape, element.text or "")
    except InputError as problem:
        problem.kind = "malformed"
        raise


def _read_flattened(shape: Shape, elements: list[ElementTree.Element]) -> Any:
    if shape.type_name == "list":
        return [read_value(shape.member, element) for element in elements]
    return _read_entries(shape, elements)


def _read_entries(shape: Shape, entries: list[ElementTree.Element]) -> dict[Any, Any]:
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    result: dict[Any, Any] = {}
    for entry in entries:
        children = _children_by_name(entry)
        keys = children.get(key_name)
        if not keys:
            raise InputError("malformed", f"A map entry has no <{key_name}>.")
        values = children.get(value_name)
        key = read_value(shape.key, keys[0])
        result[key] = read_value(shape.value, values[0]) if values else None
    return result
