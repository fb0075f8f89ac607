"""The canonical forms SigV4 signs, as pure text functions: URI, query string, header values.

Kept apart from :mod:`controller.auth.sigv4` (which parses and verifies signatures) because they
are the fiddly, byte-exact part: HTTP servers hand paths and headers over as Latin-1 text, AWS
canonicalizes the bytes underneath, and S3 encodes its paths differently from every other service.
"""

from __future__ import annotations

from urllib.parse import quote, unquote_to_bytes

from controller.protocol.http import HttpRequest


def canonical_uri(raw_path: str, *, s3: bool) -> str:
    """S3: each segment decoded then encoded once; others: the raw path, dot segments removed, encoded again."""
    if not raw_path:
        return "/"
    if s3:
        return "/".join(quote(unquote_to_bytes(_wire_bytes(segment)), safe="") for segment in raw_path.split("/"))
    return quote(_remove_dot_segments(raw_path) or "/", safe="/~")


def canonical_query_string(raw_query: str, *, drop_signature: bool = False) -> str:
    """Each name and value decoded and AWS-encoded, sorted by name then value."""
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name_bytes = _form_decode(name)
        if drop_signature and name_bytes.lower() == b"x-amz-signature":
            continue
        pairs.append((quote(name_bytes, safe=""), quote(_form_decode(value), safe="")))
    pairs.sort()
    return "&".join(f"{name}={value}" for name, value in pairs)


def canonical_header_value(value: str) -> str:
    """Trim and collapse runs of white space; keep the header's bytes as they came on the wire."""
    return " ".join(_wire_text(value).split())


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, and empty segments removed, as the non-S3 services normalize paths."""
    output: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if output:
                output.pop()
        elif segment and segment != ".":
            output.append(segment)
    last = "/" if path.endswith("/") and output else ""
    return ("/" if path.startswith("/") else "") + "/".join(output) + last


def raw_query(request: HttpRequest) -> str:
    if request.raw_query or not request.query:
        return request.raw_query
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in request.query)


def query_params(request: HttpRequest) -> dict[str, str]:
    """The decoded query parameters by lower-case name (first occurrence wins)."""
    params: dict[str, str] = {}
    raw = raw_query(request)
    if not raw:
        return params
    for part in raw.split("&"):
        name, _, value = part.partition("=")
        key = _form_decode(name).decode("utf-8", "surrogateescape").lower()
        params.setdefault(key, _form_decode(value).decode("utf-8", "surrogateescape"))
    return params


def _form_decode(text: str) -> bytes:
    return unquote_to_bytes(_wire_bytes(text).replace(b"+", b" "))


def _wire_bytes(text: str) -> bytes:
    """The bytes a server-decoded string came from: HTTP servers hand headers and paths over as Latin-1."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _wire_text(text: str) -> str:
    """``text`` as UTF-8 of its wire bytes, with non-UTF-8 bytes kept as surrogate escapes."""
    if text.isascii():
        return text
    return _wire_bytes(text).decode("utf-8", "surrogateescape")
