"""Timestamps on the wire: the three AWS formats, read leniently and written exactly.

AWS writes ``iso8601`` in query/XML bodies and querystrings, epoch seconds
(``unixTimestamp``) in JSON bodies, and ``rfc822`` (HTTP-date) in headers, unless a
shape's ``timestampFormat`` says otherwise. Clients are not always that disciplined, so
reading accepts any of the three wherever one appears.
"""

from __future__ import annotations

import datetime as dt
from email.utils import formatdate, parsedate_to_datetime

from dateutil.parser import isoparse

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def to_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (naive values are taken as UTC, as AWS does)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_timestamp(value: str | int | float) -> dt.datetime:
    """Read a timestamp in any AWS format into an aware UTC datetime; ValueError if none fits."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        return _from_epoch(value)
    text = value.strip()
    if not text:
        raise ValueError("empty timestamp")
    try:
        return _from_epoch(float(text))
    except ValueError:
        pass
    if text[0].isdigit():
        try:
            return to_utc(isoparse(text))
        except (ValueError, OverflowError):
            pass
    try:
        return to_utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"not a timestamp: {text!r}") from exc


def _from_epoch(seconds: float) -> dt.datetime:
    try:
        return _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ValueError(f"timestamp out of range: {seconds!r}") from exc


def coerce_datetime(value: object) -> dt.datetime:
    """A handler's timestamp value (datetime, date, epoch number or string) as aware UTC."""
    if isinstance(value, dt.datetime):
        return to_utc(value)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float | str):
        return parse_timestamp(value)
    raise TypeError(f"not a timestamp: {value!r}")


def format_iso8601(value: dt.datetime) -> str:
    """``2024-05-01T12:00:00Z``, with milliseconds when the value has sub-second precision."""
    base = (f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
            f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
    if value.microsecond:
        return f"{base}.{value.microsecond // 1000:03d}Z"
    return base + "Z"


def format_epoch(value: dt.datetime) -> int | float:
    """Epoch seconds: an integer, or a float with millisecond precision."""
    delta = value - _EPOCH
    if value.microsecond:
        return round(delta.total_seconds(), 3)
    return delta.days * 86400 + delta.seconds


def format_rfc822(value: dt.datetime) -> str:
    """The HTTP-date form, ``Wed, 01 May 2024 12:00:00 GMT``."""
    return formatdate((value - _EPOCH).total_seconds(), usegmt=True)


def format_timestamp(value: object, timestamp_format: str) -> str | int | float:
    """Write ``value`` the way ``timestamp_format`` (``iso8601``/``unixTimestamp``/``rfc822``) says."""
    moment = coerce_datetime(value)
    fmt = timestamp_format.lower()
    if fmt == "unixtimestamp":
        return format_epoch(moment)
    if fmt == "rfc822":
        return format_rfc822(moment)
    return format_iso8601(moment)
