"""Listing keys the way S3 does: prefix, delimiter roll-up, markers, pages.

The rows come from a ``fetch`` callback (the state store) in S3's order: keys in
UTF-8 binary order, and for versions newest first within a key. Each row has a
``rank`` that orders rows of the same key (0 for plain listings, ``-sequence`` for
versions, the upload id for uploads). Everything here is pure, so the corner cases (markers inside a common
prefix, pages that end on a prefix, multi-character delimiters) are unit-tested.

When a key rolls up into a common prefix, listing jumps past the whole prefix with a
new ``fetch`` instead of reading every key under it, so ``ls`` of a bucket with a
million keys under ``logs/`` costs one row for ``logs/``.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from controller.s3.errors import InvalidArgument

#: Rank meaning "after every row of this key".
AFTER_KEY = 1 << 62


class Row(Protocol):
    key: str
    rank: int | str


@dataclass(frozen=True)
class Position:
    """A point in listing order. ``rank`` None: before every row of ``key``; else just after ``(key, rank)``.

    Ranks order the rows of one key (integers for versions, upload ids for uploads);
    :data:`AFTER_KEY` means after all of them.
    """

    key: str
    rank: int | str | None = None

    def sort_key(self) -> tuple[str, int, int | str]:
        """Orders positions: by key, then "before the key" < "after a row" < "after the key"."""
        if self.rank is None:
            return (self.key, 0, 0)
        if self.rank == AFTER_KEY:
            return (self.key, 2, 0)
        return (self.key, 1, self.rank)


#: ``fetch(after, upper, limit)``: rows strictly after ``after`` (from the start when None), keys below
#: ``upper`` (no bound when None), in listing order, at most ``limit``.
Fetch = Callable[[Position | None, str | None, int], Sequence[Row]]


@dataclass
class Page:
    """One page of a listing: rows and common prefixes interleaved in order, and where it stopped."""

    entries: list[Row | str]
    truncated: bool

    @property
    def rows(self) -> list[Row]:
        return [entry for entry in self.entries if not isinstance(entry, str)]

    @property
    def prefixes(self) -> list[str]:
        return [entry for entry in self.entries if isinstance(entry, str)]

    @property
    def last(self) -> Row | str | None:
        return self.entries[-1] if self.entries else None


def successor(text: str) -> str | None:
    """The smallest string greater than every string that starts with ``text`` (None if there is none)."""
    while text:
        code = ord(text[-1]) + 1
        if code == 0xD800:  # surrogates never occur in keys
            code = 0xE000
        if code <= 0x10FFFF:
            return text[:-1] + chr(code)
        text = text[:-1]
    return None


def start_position(prefix: str, delimiter: str | None, marker: str | None,
                   marker_rank: int | str | None = AFTER_KEY) -> Position | None:
    """Where a listing with this prefix and marker starts.

    A marker inside a common prefix (``photos/2024/x`` with delimiter ``/``) resumes after
    the whole prefix: that prefix was already reported, and keys under it roll up into it.
    """
    candidates: list[Position] = []
    if prefix:
        candidates.append(Position(prefix))
    if marker:
        if delimiter and marker.startswith(prefix):
            cut = marker.find(delimiter, len(prefix))
            if cut >= 0:
                after = successor(marker[: cut + len(delimiter)])
                if after is None:
                    return Position(marker, AFTER_KEY)
                candidates.append(Position(after))
            else:
                candidates.append(Position(marker, marker_rank))
        else:
            candidates.append(Position(marker, marker_rank))
    if not candidates:
        return None
    return max(candidates, key=Position.sort_key)


def iterate(fetch: Fetch, *, prefix: str, delimiter: str | None, start: Position | None,
            batch: int = 1000) -> Iterator[Row | str]:
    """Rows and common prefixes in listing order, from ``start`` on."""
    upper = successor(prefix) if prefix else None
    position = start
    while True:
        rows = fetch(position, upper, batch)
        for row in rows:
            if delimiter:
                cut = row.key.find(delimiter, len(prefix))
                if cut >= 0:
                    common = row.key[: cut + len(delimiter)]
                    yield common
                    after = successor(common)
                    if after is None:
                        return
                    position = Position(after)
                    break
            yield row
            position = Position(row.key, row.rank)
        else:
            if len(rows) < batch:
                return


def list_page(fetch: Fetch, *, prefix: str = "", delimiter: str | None = None, marker: str | None = None,
              marker_rank: int | str | None = AFTER_KEY, max_keys: int = 1000) -> Page:
    """Up to ``max_keys`` rows and common prefixes after ``marker``, and whether more follow."""
    if max_keys <= 0:
        return Page([], False)
    start = start_position(prefix, delimiter or None, marker, marker_rank)
    entries = list(itertools.islice(
        iterate(fetch, prefix=prefix, delimiter=delimiter or None, start=start, batch=min(max_keys + 1, 1000)),
        max_keys + 1))
    truncated = len(entries) > max_keys
    return Page(entries[:max_keys], truncated)


def entry_name(entry: Row | str) -> str:
    return entry if isinstance(entry, str) else entry.key


def encode_token(marker: str) -> str:
    """A ListObjectsV2 continuation token: opaque to clients, the marker to resume after."""
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogatepass")).decode()


def decode_token(token: str) -> str:
    """The marker inside a continuation token; InvalidArgument for anything this server did not issue."""
    try:
        marker = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        marker = None
    # a NUL is in no key (the protocol refuses it), so never in a token this server issued
    if marker is None or not marker or "\x00" in marker or encode_token(marker) != token:
        raise InvalidArgument("The continuation token provided is incorrect", ArgumentName="continuation-token",
                              ArgumentValue=token)
    return marker


def check_max_keys(value: int | None, *, name: str = "max-keys", default: int = 1000) -> int:
    """S3 caps pages at 1000 entries; negative values are refused."""
    if value is None:
        return default
    if value < 0:
        raise InvalidArgument(f"Argument {name} must be an integer between 0 and 2147483647",
                              ArgumentName=name, ArgumentValue=str(value))
    return min(value, default)


def url_encoder(encoding_type: str | None) -> Callable[[str], str]:
    """``encoding-type=url``: keys and prefixes URL-encoded in the response (S3 keeps ``/`` as is)."""
    if encoding_type is None:
        return lambda text: text
    if encoding_type != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request", ArgumentName="encoding-type",
                              ArgumentValue=encoding_type)
    return lambda text: quote(text, safe="/")
