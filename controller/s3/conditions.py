"""Conditional requests and byte ranges, as S3 evaluates them (RFC 7232/7233 with S3's choices).

Pure functions over the object's ETag, Last-Modified and size, so every combination of
headers is unit-tested without a server.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from controller.s3.errors import (
    InvalidArgument,
    InvalidRange,
    NotImplementedError_,
    NotModified,
    PreconditionFailed,
    no_such_key,
)

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _etags(header: str) -> set[str]:
    """The entity tags of an If-Match/If-None-Match list, without quotes or weak markers."""
    tags = set()
    for item in header.split(","):
        item = item.strip()
        if item.startswith("W/"):
            item = item[2:]
        tags.add(item.strip('"'))
    return tags


def etag_matches(header: str, etag: str) -> bool:
    tags = _etags(header)
    return "*" in tags or etag.strip('"') in tags


def _seconds(moment: dt.datetime) -> dt.datetime:
    """HTTP dates have whole seconds: compare Last-Modified at that precision."""
    return moment.replace(microsecond=0)


def check_read_conditions(*, etag: str, last_modified: dt.datetime, if_match: str | None = None,
                          if_none_match: str | None = None, if_modified_since: dt.datetime | None = None,
                          if_unmodified_since: dt.datetime | None = None) -> None:
    """GET/HEAD preconditions: raise PreconditionFailed (412) or NotModified (304), else return.

    If-Match takes precedence over If-Unmodified-Since, If-None-Match over
    If-Modified-Since (so a matching If-Match with a failing If-Unmodified-Since is a 200,
    as S3 documents).
    """
    modified = _seconds(last_modified)
    if if_match is not None:
        if not etag_matches(if_match, etag):
            raise PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                     Condition="If-Match")
    elif if_unmodified_since is not None and modified > if_unmodified_since:
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                 Condition="If-Unmodified-Since")
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            raise NotModified("Not Modified", headers=_not_modified_headers(etag, last_modified))
    elif if_modified_since is not None and modified <= if_modified_since:
        raise NotModified("Not Modified", headers=_not_modified_headers(etag, last_modified))


def _not_modified_headers(etag: str, last_modified: dt.datetime) -> dict[str, str]:
    return {"ETag": etag, "Last-Modified": last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT")}


def check_copy_source_conditions(*, etag: str, last_modified: dt.datetime, if_match: str | None,
                                 if_none_match: str | None, if_modified_since: dt.datetime | None,
                                 if_unmodified_since: dt.datetime | None) -> None:
    """``x-amz-copy-source-if-*``: every failure is a 412 (a copy has no 304)."""
    modified = _seconds(last_modified)
    failed = False
    if if_match is not None:
        failed = not etag_matches(if_match, etag)
    elif if_unmodified_since is not None:
        failed = modified > if_unmodified_since
    if not failed and if_none_match is not None:
        failed = etag_matches(if_none_match, etag)
    elif not failed and if_modified_since is not None:
        failed = modified <= if_modified_since
    if failed:
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                 Condition="x-amz-copy-source-If-Match")


def check_write_conditions(key: str, current_etag: str | None, *, if_match: str | None,
                           if_none_match: str | None) -> None:
    """Conditional writes: ``If-None-Match: *`` (create only) and ``If-Match`` (replace that version only).

    ``current_etag`` is the ETag of the key's current object, None when there is none
    (or only a delete marker).
    """
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise NotImplementedError_("If-None-Match on writes only supports the value *",
                                       Header="If-None-Match")
        if current_etag is not None:
            raise PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                     Condition="If-None-Match")
    if if_match is not None:
        if current_etag is None:
            raise no_such_key(key)
        if not etag_matches(if_match, current_etag):
            raise PreconditionFailed("At least one of the pre-conditions you specified did not hold",
                                     Condition="If-Match")


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range ``first..last`` of an object of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a ``Range`` header asks for, or None for the whole object.

    Syntactically invalid or multi-range headers are ignored (S3 sends the whole object);
    a range that starts past the end is ``InvalidRange`` (416).
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if not match:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise _invalid_range(header, size)
        return ByteRange(max(size - suffix, 0), size - 1, size)
    first = int(first_text)
    last = int(last_text) if last_text else None
    if last is not None and last < first:
        return None
    if first >= size:
        raise _invalid_range(header, size)
    last = size - 1 if last is None else last
    return ByteRange(first, min(last, size - 1), size)


def _invalid_range(header: str, size: int) -> InvalidRange:
    return InvalidRange("The requested range is not satisfiable", RangeRequested=header,
                        ActualObjectSize=str(size), headers={"Content-Range": f"bytes */{size}"})


def parse_copy_range(header: str, size: int) -> ByteRange:
    """``x-amz-copy-source-range: bytes=first-last`` (UploadPartCopy): both ends required and in bounds."""
    match = _RANGE.fullmatch(header.strip())
    if not match or not match.group(1) or not match.group(2):
        raise InvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where "
                              "first and last are the zero-based offsets of the first and last bytes to copy",
                              ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    first, last = int(match.group(1)), int(match.group(2))
    if last < first or last >= size:
        raise InvalidArgument(f"Range specified is not valid for source object of size: {size}",
                              ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    return ByteRange(first, last, size)
