"""Hypothesis strategies for an operation's input, from its botocore shape.

Every member gets a value that is either plausible (within the shape's type, enum, length
and range, often an identifier of a resource that exists, so calls get past the lookups)
or hostile: the wrong JSON/XML type, strings that are huge, empty, Unicode edge cases or
control characters, numbers out of range or not numbers at all, bad enum values, lists past
their maximum, and required members left out. Nothing here sends anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.model import OperationModel, Shape
from hypothesis import strategies as st

#: Length of the "huge" strings and blobs: past every model maximum, within what a server must survive.
HUGE = 70_000

HOSTILE_TEXT: tuple[str, ...] = (
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff\ud800", "\U0001f4a5" * 40, "\u202eevil", "İıſK", "\ufeff",
    "\r\n\t", "../../../etc/passwd", "*", "?", "%", "%zz", "%00", "<a>&amp;</a>", "<![CDATA[x]]>", "'\"`\\",
    "${jndi:x}", "{{7*7}}", "null", "true", "-1", "1e400", "NaN", "arn:aws:iam::000000000000:root",
    "arn:aws:s3:::", "::", "a" * 256, "é" * 2000, "\u0301" * 500, "x" * HUGE,
)
WRONG_TYPES: tuple[Any, ...] = (12345, -1, 1.5, True, False, [], ["a"], {}, {"a": "b"}, "text")
HOSTILE_NUMBERS: tuple[Any, ...] = (-1, 0, 2**31, 2**31 - 1, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30, 1.5,
                                    "abc", "1.5", "", "0x10", " 7 ")
HOSTILE_FLOATS: tuple[Any, ...] = (float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 5e-324, "abc", "")
HOSTILE_BOOLEANS: tuple[Any, ...] = ("yes", "TRUE", "1", 2, "", "null")
HOSTILE_TIMESTAMPS: tuple[Any, ...] = ("not-a-date", "2024-13-45T99:99:99Z", "", -1, 10**15, 1e20, "NaN",
                                       dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 12, 31, tzinfo=dt.UTC))
HOSTILE_BLOBS: tuple[Any, ...] = ("not base64 !!", "", b"\x00" * 10, b"\xff\xfe" * 100, bytes(range(256)) * 300, 12)

_PLAIN = "abcxyzABCXYZ0189-_."
_LIMITS = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _singular(name: str) -> str:
    for suffix, replacement in (("Ids", "Id"), ("Names", "Name"), ("Arns", "Arn"), ("ies", "y"), ("s", "")):
        if name.endswith(suffix):
            return name[: -len(suffix)] + replacement
    return name


class InputStrategies:
    """Strategies for operation inputs, biased towards existing resources named in ``anchors``.

    ``anchors`` maps member names (``Bucket``, ``UserName``, ``VpcId``...) to identifiers of
    resources the fuzzer created; ``hostile`` is the share (out of 10) of hostile values.
    """

    def __init__(self, anchors: Mapping[str, Sequence[Any]], *, protocol: str = "json", hostile: int = 2,
                 max_depth: int = 4) -> None:
        self.anchors = anchors
        self.hostile = hostile
        self.max_depth = max_depth
        # Only JSON carries a value's type: elsewhere botocore's serializers cannot even write a
        # string where a list or structure belongs, so containers get no wrong types there.
        self.typed_wire = protocol in ("json", "rest-json")

    def input(self, operation: OperationModel) -> st.SearchStrategy[dict[str, Any]]:
        """Half the inputs wholly plausible (to reach the handlers' own checks), half with hostile values."""
        shape = operation.input_shape
        if shape is None:
            return st.just({})
        calm = InputStrategies(self.anchors, hostile=0, max_depth=self.max_depth)
        calm.typed_wire = self.typed_wire
        return st.one_of(calm._structure(shape, 0), self._structure(shape, 0))

    def value(self, shape: Shape, name: str, depth: int) -> st.SearchStrategy[Any]:
        if depth > self.max_depth:
            return self.plausible(shape, name, depth)
        return st.integers(0, 9).flatmap(
            lambda roll: self.hostile_value(shape, name, depth) if roll < self.hostile
            else self.plausible(shape, name, depth))

    def _structure(self, shape: Shape, depth: int) -> st.SearchStrategy[dict[str, Any]]:
        required = set(shape.required_members)
        # The HTTP framing is the transport's: a Content-Length that lies about the body makes the
        # server wait for bytes that never come, which says nothing about the API.
        members = [(name, member) for name, member in shape.members.items()
                   if member.serialization.get("name", "").lower() != "content-length"]

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            result: dict[str, Any] = {}
            for name, member in members:
                # Required members are left out one time in ten; optional ones sent four in ten.
                keep = draw(st.integers(0, 9)) < (9 if name in required else 4)
                if keep and (depth <= self.max_depth or name in required):
                    result[name] = draw(self.value(member, name, depth + 1))
            return result

        return build()

    # -- plausible values -----------------------------------------------------------------

    def plausible(self, shape: Shape, name: str, depth: int) -> st.SearchStrategy[Any]:
        kind = shape.type_name
        metadata = shape.metadata
        if kind == "structure":
            if shape.is_document_type:
                return st.sampled_from([{}, {"a": 1}, [1, "x"], "doc"])
            return self._structure(shape, depth)
        if kind == "list":
            low = min(metadata.get("min", 0), 3)
            return st.lists(self.value(shape.member, _singular(name), depth + 1), min_size=low,
                            max_size=max(low, min(metadata.get("max", 3), 3)))
        if kind == "map":
            return st.dictionaries(self.plausible(shape.key, "key", depth + 1),
                                   self.value(shape.value, "value", depth + 1), max_size=3)
        if kind == "string":
            return self._string(shape, name)
        if kind in ("integer", "long"):
            low, high = metadata.get("min", 0), metadata.get("max", _LIMITS[kind][1])
            return st.integers(int(low), int(min(high, low + 1000)))
        if kind in ("float", "double"):
            return st.floats(min_value=metadata.get("min", 0), max_value=metadata.get("max", 1e6),
                             allow_nan=False, allow_infinity=False)
        if kind == "boolean":
            return st.booleans()
        if kind == "timestamp":
            return st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2040, 1, 1), timezones=st.just(dt.UTC))
        if kind == "blob":
            return st.binary(max_size=64)
        return st.none()

    def _string(self, shape: Shape, name: str) -> st.SearchStrategy[str]:
        metadata = shape.metadata
        options: list[st.SearchStrategy[str]] = []
        anchors = self.anchors.get(name)
        if anchors:
            options += [st.sampled_from(list(anchors))] * 3
        if "enum" in metadata:
            options.append(st.sampled_from(metadata["enum"]))
        low = int(metadata.get("min", 1))
        high = max(low, min(int(metadata.get("max", 24)), 24))
        if low <= 64:
            options.append(st.text(alphabet=_PLAIN, min_size=low, max_size=high))
            options.append(st.text(min_size=low, max_size=high))
        return st.one_of(options) if options else st.just("a" * low)

    # -- hostile values -------------------------------------------------------------------

    def hostile_value(self, shape: Shape, name: str, depth: int) -> st.SearchStrategy[Any]:
        kind = shape.type_name
        metadata = shape.metadata
        wrong = st.sampled_from(WRONG_TYPES)
        if kind == "structure":
            return st.one_of(wrong, st.just({})) if self.typed_wire else st.just({})
        if kind == "list":
            count = min(int(metadata.get("max", 100)) + 1, 1001)
            item = self.plausible(shape.member, _singular(name), depth + 1)
            too_many = item.map(lambda value: [value] * count)
            return st.one_of(wrong, st.just([None]), too_many) if self.typed_wire else st.one_of(st.just([]), too_many)
        if kind == "map":
            hostile_map = st.dictionaries(st.sampled_from(HOSTILE_TEXT), st.sampled_from(HOSTILE_TEXT),
                                          min_size=1, max_size=3)
            return st.one_of(wrong, hostile_map) if self.typed_wire else hostile_map
        if kind == "string":
            edges = list(HOSTILE_TEXT)
            if "max" in metadata and metadata["max"] < HUGE:
                edges.append("y" * (int(metadata["max"]) + 1))
            if "enum" in metadata:
                edges += ["NOT_AN_ENUM_VALUE", str(metadata["enum"][0]).lower() + "x"]
            return st.one_of(st.sampled_from(edges), wrong)
        if kind in ("integer", "long"):
            edges = list(HOSTILE_NUMBERS)
            edges += [metadata["min"] - 1] if "min" in metadata else []
            edges += [metadata["max"] + 1] if "max" in metadata else []
            return st.sampled_from(edges)
        if kind in ("float", "double"):
            return st.sampled_from(HOSTILE_FLOATS)
        if kind == "boolean":
            return st.sampled_from(HOSTILE_BOOLEANS)
        if kind == "timestamp":
            return st.sampled_from(HOSTILE_TIMESTAMPS)
        if kind == "blob":
            return st.sampled_from(HOSTILE_BLOBS)
        return wrong
