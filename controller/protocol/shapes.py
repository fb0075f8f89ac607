"""Shape walking every protocol shares: text scalars both ways, and input validation.

Query parameters, XML text, headers, URI labels and querystrings all carry scalars as
text; :func:`text_to_scalar` and :func:`scalar_to_text` are the one place that converts
them. :func:`validate` checks a parsed input against the model (required members and,
where the service enforces them, lengths, ranges, patterns and enums) and returns every
violation so Coral-style services can report them all at once.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from botocore.model import Shape

from controller.protocol.faults import ABSENT, InputError, Rules
from controller.protocol.models import cached_on, members_of, required_of
from controller.protocol.timestamps import format_timestamp, parse_timestamp

_TRUE_FALSE = {"true": True, "false": False}
_SPECIAL_FLOATS = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}


def text_to_scalar(shape: Shape, text: str) -> Any:
    """The typed value of ``text`` for a scalar shape; InputError(``invalid``) if it is not one."""
    kind = shape.type_name
    if kind == "string":
        return text
    try:
        if kind in ("integer", "long"):
            return int(text.strip())
        if kind in ("float", "double"):
            return float(text.strip())
        if kind == "boolean":
            return _TRUE_FALSE[text.strip().lower()]
        if kind == "timestamp":
            return parse_timestamp(text)
        if kind == "blob":
            return base64.b64decode(text, validate=True)
    except (ValueError, KeyError, binascii.Error) as exc:
        raise InputError("invalid", f"Invalid {_TYPE_WORDS.get(kind, kind)} value.", value=text) from exc
    return text


_TYPE_WORDS = {"integer": "integer", "long": "long", "float": "number", "double": "number",
               "boolean": "boolean", "timestamp": "timestamp", "blob": "base64"}


def scalar_to_text(shape: Shape, value: Any, default_timestamp_format: str) -> str:
    """The wire text of a scalar output value (XML text, header, querystring)."""
    kind = shape.type_name
    if kind == "string":
        return value if isinstance(value, str) else str(value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind in ("integer", "long"):
        return str(int(value))
    if kind in ("float", "double"):
        return float_text(value)
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", default_timestamp_format)
        return str(format_timestamp(value, fmt))
    if kind == "blob":
        return base64_text(value)
    return str(value)


def float_text(value: Any) -> str:
    """Floats as AWS writes them, including the special values."""
    if isinstance(value, str):
        return _SPECIAL_FLOATS.get(value, value)
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number.is_integer() and isinstance(value, int):
        return str(value)
    return repr(number)


def base64_text(value: Any) -> str:
    """A blob as base64 text (strings are taken as UTF-8)."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    return base64.b64encode(bytes(value)).decode("ascii")


# ---------------------------------------------------------------------------------------
# validation


def ec2_wire_name(name: str, shape: Shape) -> str:
    """EC2's input name for a member: ``queryName``, else the capitalized ``locationName``."""
    serialization = shape.serialization
    if "queryName" in serialization:
        return serialization["queryName"]
    if "name" in serialization:
        location_name = serialization["name"]
        return location_name[:1].upper() + location_name[1:]
    return name


def validate(shape: Shape, params: dict[str, Any], rules: Rules, *, ec2: bool = False) -> list[InputError]:
    """Every way ``params`` breaks the input shape under ``rules`` (empty when it is fine)."""
    return _validate_structure(shape, params, rules, ec2)


def _validate_structure(shape: Shape, params: dict[str, Any], rules: Rules, ec2: bool) -> list[InputError]:
    problems: list[InputError] = []
    required = required_of(shape)
    for member in members_of(shape):
        value = params.get(member.name)
        if value is None:
            if member.name in required:
                problems.append(InputError("missing", "", value=ABSENT).under(
                    member.name, ec2_wire_name(member.name, member.shape) if ec2 else member.wire))
            continue
        found = _validate_value(member.shape, value, rules, ec2)
        if found:
            wire = ec2_wire_name(member.name, member.shape) if ec2 else member.wire
            for problem in found:
                problem.under(member.name, wire)
            problems.extend(found)
    return problems


def _validate_value(shape: Shape, value: Any, rules: Rules, ec2: bool) -> list[InputError]:
    kind = shape.type_name
    if kind == "structure":
        if shape.is_document_type or not isinstance(value, dict):
            return []
        return _validate_structure(shape, value, rules, ec2)
    problems: list[InputError] = []
    metadata = shape.metadata
    if kind == "list":
        if rules.length:
            _check_length(shape, value, len(value), problems, "list")
        for index, item in enumerate(value, 1):
            if item is None:
                continue
            for problem in _validate_value(shape.member, item, rules, ec2):
                problems.append(problem.under(f"{index}.member", str(index)))
        return problems
    if kind == "map":
        if rules.length:
            _check_length(shape, value, len(value), problems, "list")
        for key, item in value.items():
            for problem in _validate_value(shape.key, key, rules, ec2):
                problems.append(problem)
            if item is not None:
                for problem in _validate_value(shape.value, item, rules, ec2):
                    problems.append(problem.under(str(key), str(key)))
        return problems
    if kind == "string":
        if isinstance(value, str) and NUL in value:
            problems.append(_nul_problem(value))
            return problems
        if rules.length and isinstance(value, str):
            _check_length(shape, value, len(value), problems, "string")
        if rules.pattern and "pattern" in metadata and isinstance(value, str):
            compiled = compiled_pattern(shape)
            if compiled is not None and compiled.fullmatch(value) is None:
                problems.append(InputError(
                    "constraint", value=value, reason="INVALID_PATTERN",
                    constraint=f"Member must satisfy regular expression pattern: {metadata['pattern']}"))
        if rules.enum and "enum" in metadata and value not in metadata["enum"]:
            problems.append(InputError(
                "constraint", value=value, reason="INVALID_ENUM",
                constraint=f"Member must satisfy enum value set: [{', '.join(metadata['enum'])}]"))
        return problems
    if kind == "blob":
        if rules.length and isinstance(value, bytes | bytearray):
            _check_length(shape, value, len(value), problems, "string")
        return problems
    if rules.value_range and kind in ("integer", "long", "float", "double") and not isinstance(value, bool) \
            and shape.name not in rules.service_ranges:
        minimum, maximum = metadata.get("min"), metadata.get("max")
        if minimum is not None and value < minimum:
            problems.append(InputError("constraint", value=value, reason="MIN_VALUE_EXCEEDED",
                                       constraint=f"Member must have value greater than or equal to {minimum}"))
        if maximum is not None and value > maximum:
            problems.append(InputError("constraint", value=value, reason="MAX_VALUE_EXCEEDED",
                                       constraint=f"Member must have value less than or equal to {maximum}"))
    return problems


#: The one character no string input may hold, whatever the service enforces: PostgreSQL's text cannot store
#: it (SQLite's can), so a NUL would be a 500 on one engine and a stored value on the other. AWS's services
#: refuse it too, by the patterns of their identifiers and names (``[\\w+=,.@-]+``, ``[\\u0020-\\uD7FF...]*``).
NUL = "\x00"


def _nul_problem(value: str) -> InputError:
    """A string holding NUL, refused as a pattern violation in the service's own words (shown as ``\\u0000``:
    XML 1.0 cannot carry the character itself)."""
    return InputError("constraint", "The value contains the null character (U+0000).",
                      value=value.replace(NUL, "\\u0000"), reason="INVALID_PATTERN",
                      constraint="Member must not contain the null character (U+0000)")


def _check_length(shape: Shape, value: Any, length: int, problems: list[InputError], noun: str) -> None:
    metadata = shape.metadata
    minimum, maximum = metadata.get("min"), metadata.get("max")
    shown = list(value) if noun == "list" and not isinstance(value, dict) else value
    if minimum is not None and length < minimum:
        problems.append(InputError("constraint", value=shown, reason="MIN_LENGTH_EXCEEDED",
                                   constraint=f"Member must have length greater than or equal to {minimum}"))
    if maximum is not None and length > maximum:
        problems.append(InputError("constraint", value=shown, reason="MAX_LENGTH_EXCEEDED",
                                   constraint=f"Member must have length less than or equal to {maximum}"))


# Java's Unicode classes, which Python's ``re`` lacks, as ranges (they always sit inside
# ``[...]`` in the models); letters are approximated as "anything past Latin-1 punctuation".
_JAVA_CLASSES = {
    r"\p{L}": r"a-zA-Z\u00aa-\U0010ffff",
    r"\p{N}": r"0-9",
    r"\p{Z}": r" \u00a0\u2000-\u200a\u2028\u2029\u3000",
}


#: How Lambda's (and a few other) models spell a region inside ARNs; Cloudlet's regions are named
#: ``<word>-<digit>`` (``home-1``), which that spelling refuses, so their own ARNs would fail validation.
_AWS_REGION_PATTERN = r"[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"
_ANY_REGION_PATTERN = r"([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}|[a-z]+-\d{1})"


def compiled_pattern(shape: Shape) -> re.Pattern[str] | None:
    """The shape's ``pattern`` compiled for Python, or None when it cannot be translated.

    AWS's services match these patterns with Java's regex engine, where ``\\w``, ``\\d`` and ``\\s`` are
    ASCII classes (an IAM name ``[\\w+=,.@-]+`` takes no ``ü``): hence ``re.ASCII``.
    """

    def build() -> re.Pattern[str] | None:
        pattern = shape.metadata["pattern"].replace(_AWS_REGION_PATTERN, _ANY_REGION_PATTERN)
        for java, python in _JAVA_CLASSES.items():
            pattern = pattern.replace(java, python)
        try:
            return re.compile(pattern, re.DOTALL | re.ASCII)
        except re.error:
            return None

    return cached_on(shape, "pattern", build)
