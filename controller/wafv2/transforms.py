"""WAF's text transformations, applied in priority order before a statement inspects a value (pure).

Values are text: request bytes are read as UTF-8 with ``surrogateescape``, so every byte survives and search
strings compare byte for byte. Each transformation follows AWS's description of it (ModSecurity's
transformation functions, which AWS's are named after): CMD_LINE deletes ``\\ " ' ^``, deletes spaces before
``/`` and ``(``, turns ``,`` and ``;`` into spaces, compresses whitespace and lower-cases; COMPRESS_WHITE_SPACE
turns whitespace into single spaces; REPLACE_COMMENTS turns each ``/* ... */`` into one space...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import posixpath
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_plus

ENCODING = "utf-8"
ERRORS = "surrogateescape"

_WHITESPACE = re.compile(r"[\s\xa0]+")
_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.S)
_URL_UNI = re.compile(r"%u([0-9a-fA-F]{4})")
_SQL_HEX = re.compile(r"0x((?:[0-9a-fA-F]{2})+)")
_JS_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[0-7]{1,3}|.)", re.S)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.S)
_C_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def text(value: bytes) -> str:
    return value.decode(ENCODING, ERRORS)


def _bytes(value: str) -> bytes:
    return value.encode(ENCODING, ERRORS)


def _compress(value: str) -> str:
    return _WHITESPACE.sub(" ", value)


def _cmd_line(value: str, *, windows: bool = True, unix: bool = True) -> str:
    removed = "\\\"'^" if windows else "\\\"'"
    value = "".join(ch for ch in value if ch not in removed)
    value = re.sub(r"\s+(?=[/(])", "", value)
    if windows:
        value = value.replace(",", " ").replace(";", " ")
    return _compress(value).lower()


def _base64(value: str, *, lenient: bool) -> str:
    data = re.sub(r"[^A-Za-z0-9+/]", "", value) if lenient else value.strip()
    data = data.rstrip("=")
    data += "=" * (-len(data) % 4)
    try:
        return text(base64.b64decode(data, validate=not lenient))
    except (binascii.Error, ValueError):
        return value


def _hex(value: str) -> str:
    try:
        return text(bytes.fromhex(value))
    except ValueError:
        return value


def _escape_seq(match: re.Match[str]) -> str:
    found = match.group(1)
    if found[0] in "ux" and len(found) > 1:
        return chr(int(found[1:], 16))
    if found[0] in "01234567":
        return chr(int(found, 8) & 0xFF)
    return _C_ESCAPES.get(found, found)


def _css(match: re.Match[str]) -> str:
    if match.group(1):
        code = int(match.group(1), 16)
        return chr(code) if code <= 0x10FFFF else "\ufffd"
    return match.group(2)


def _normalize_path(value: str) -> str:
    if not value:
        return value
    normal = posixpath.normpath(value)
    if value.startswith("//"):
        normal = "/" + normal.lstrip("/")
    if value.endswith("/") and not normal.endswith("/"):
        normal += "/"
    return normal


def _utf8_to_unicode(value: str) -> str:
    return "".join(ch if ord(ch) < 0x80 else f"%u{ord(ch):04x}" for ch in value)


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "NONE": lambda value: value,
    "LOWERCASE": str.lower,
    "UPPERCASE": str.upper,
    "COMPRESS_WHITE_SPACE": _compress,
    "REMOVE_WHITESPACE": lambda value: _WHITESPACE.sub("", value),
    "TRIM": lambda value: value.strip(),
    "TRIM_LEFT": lambda value: value.lstrip(),
    "TRIM_RIGHT": lambda value: value.rstrip(),
    "HTML_ENTITY_DECODE": html.unescape,
    "URL_DECODE": lambda value: unquote_plus(value, ENCODING, ERRORS),
    "URL_DECODE_UNI": lambda value: unquote_plus(_URL_UNI.sub(lambda m: chr(int(m.group(1), 16)), value),
                                                 ENCODING, ERRORS),
    "CMD_LINE": _cmd_line,
    "CMD_LINE_WIN": lambda value: _cmd_line(value, unix=False),
    "CMD_LINE_UNIX": lambda value: _cmd_line(value, windows=False),
    "BASE64_DECODE": lambda value: _base64(value, lenient=False),
    "BASE64_DECODE_EXT": lambda value: _base64(value, lenient=True),
    "HEX_DECODE": _hex,
    "MD5": lambda value: text(hashlib.md5(_bytes(value)).digest()),      # noqa: S324 (AWS's MD5, not a hash of trust)
    "SHA256": lambda value: text(hashlib.sha256(_bytes(value)).digest()),
    "REPLACE_COMMENTS": lambda value: _COMMENT.sub(" ", value),
    "REMOVE_COMMENTS_CHAR": lambda value: re.sub(r"/\*|\*/|--|#", "", value),
    "ESCAPE_SEQ_DECODE": lambda value: _JS_ESCAPE.sub(_escape_seq, value),
    "JS_DECODE": lambda value: _JS_ESCAPE.sub(_escape_seq, value),
    "JS_DECODE_EXT": lambda value: _JS_ESCAPE.sub(_escape_seq, value),
    "SQL_HEX_DECODE": lambda value: _SQL_HEX.sub(lambda m: _hex(m.group(1)), value),
    "CSS_DECODE": lambda value: _CSS_ESCAPE.sub(_css, value),
    "NORMALIZE_PATH": _normalize_path,
    "NORMALIZE_PATH_WIN": lambda value: _normalize_path(value.replace("\\", "/")),
    "REMOVE_NULLS": lambda value: value.replace("\x00", ""),
    "REPLACE_NULLS": lambda value: value.replace("\x00", " "),
    "UTF8_TO_UNICODE": _utf8_to_unicode,
}


def ordered(transformations: Iterable[dict[str, Any]]) -> list[str]:
    """The transformations' types in the order AWS applies them: lowest priority first."""
    return [item["Type"] for item in sorted(transformations, key=lambda item: item["Priority"])]


def apply(value: str, types: list[str]) -> str:
    for kind in types:
        value = TRANSFORMS[kind](value)
    return value
