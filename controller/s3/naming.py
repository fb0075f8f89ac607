"""Names and identifiers in S3: bucket names, ARNs, canonical user ids, copy sources, tags.

Pure functions (no I/O), so the rules S3 enforces on what clients send can be tested
exhaustively without a server.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from controller.s3.errors import (
    InvalidArgument,
    InvalidBucketName,
    InvalidStorageClass,
    InvalidTag,
    KeyTooLongError,
    MetadataTooLarge,
)

_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

#: The storage classes S3 accepts on PUT; Cloudlet records them (all data lives on the same disks).
STORAGE_CLASSES = frozenset({
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
    "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE", "FSX_OPENZFS", "FSX_ONTAP"})

MAX_KEY_BYTES = 1024
MAX_USER_METADATA_BYTES = 2048
MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50


def check_bucket_name(name: str) -> None:
    """Raise ``InvalidBucketName`` unless ``name`` follows S3's general-purpose bucket naming rules."""
    problem = bucket_name_problem(name)
    if problem:
        raise InvalidBucketName(f"The specified bucket is not valid. {problem}", BucketName=name)


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid bucket name, or None when it is."""
    if not 3 <= len(name) <= 63:
        return "Bucket names must be between 3 and 63 characters long."
    if not _BUCKET_CHARS.fullmatch(name):
        return ("Bucket names can consist only of lowercase letters, numbers, dots and hyphens, and must begin "
                "and end with a letter or number.")
    if ".." in name or ".-" in name or "-." in name:
        return "Bucket names must not contain two adjacent periods, or a period next to a hyphen."
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "Bucket names must not be formatted as an IP address."
    if name.startswith(_RESERVED_PREFIXES):
        return "Bucket names must not start with a reserved prefix."
    if name.endswith(_RESERVED_SUFFIXES):
        return "Bucket names must not end with a reserved suffix."
    return None


def bucket_arn(partition: str, bucket: str) -> str:
    return f"arn:{partition}:s3:::{bucket}"


def object_arn(partition: str, bucket: str, key: str) -> str:
    return f"arn:{partition}:s3:::{bucket}/{key}"


@dataclass(frozen=True)
class S3Resource:
    """What an S3 ARN names: a bucket (``key`` None) or an object."""

    bucket: str
    key: str | None = None


def parse_s3_arn(arn: str) -> S3Resource | None:
    """``arn:aws:s3:::bucket[/key]`` → its bucket and key; None for anything else."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "s3" or parts[3] or parts[4]:
        return None
    bucket, slash, key = parts[5].partition("/")
    if not bucket:
        return None
    return S3Resource(bucket, key if slash else None)


def canonical_user_id(account_id: str) -> str:
    """The 64-hex-digit canonical user id S3 shows for an account (stable, not reversible)."""
    return hashlib.sha256(f"cloudlet-s3-canonical-user:{account_id}".encode()).hexdigest()


_VERSION_TAG_KEY = b"cloudlet-s3-version-id"


def new_version_id(sequence: int) -> str:
    """A version id: 32 URL-safe characters like S3's, that carry the version's place in listing order.

    ``sequence`` (the version's row sequence, which grows with every write) is kept in the
    id with a tag that recognizes Cloudlet's ids, so a ``version-id-marker`` still names a
    position in ListObjectVersions after its version is deleted (:func:`version_sequence`).
    """
    head = sequence.to_bytes(8, "big")
    salt = secrets.token_bytes(12)
    tag = hashlib.blake2b(head + salt, digest_size=4, key=_VERSION_TAG_KEY).digest()
    return base64.urlsafe_b64encode(head + tag + salt).decode()


def version_sequence(version_id: str) -> int | None:
    """The sequence inside a version id made by :func:`new_version_id`; None for any other string."""
    if len(version_id) != 32:
        return None
    try:
        raw = base64.urlsafe_b64decode(version_id.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    head, tag, salt = raw[:8], raw[8:12], raw[12:]
    if len(raw) != 24 or hashlib.blake2b(head + salt, digest_size=4, key=_VERSION_TAG_KEY).digest() != tag:
        return None
    return int.from_bytes(head, "big")


def new_upload_id() -> str:
    """An upload id that sorts by creation time (a fixed-width hex clock, then randomness).

    ListMultipartUploads orders a key's uploads by these ids, so an ``upload-id-marker``
    is a position whether or not its upload still exists.
    """
    return f"{time.time_ns():016x}{secrets.token_urlsafe(36)}"


def check_key(key: str) -> None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLongError("Your key is too long", Size=str(len(key.encode())), MaxSizeAllowed=str(MAX_KEY_BYTES))
    if not key:
        raise InvalidArgument("Object key must not be empty", ArgumentName="key", ArgumentValue="")


def check_storage_class(storage_class: str | None) -> str:
    """The storage class to record (STANDARD when none is asked for)."""
    if not storage_class:
        return "STANDARD"
    if storage_class not in STORAGE_CLASSES:
        raise InvalidStorageClass("The storage class you specified is not valid", StorageClassRequested=storage_class)
    return storage_class


def check_user_metadata(metadata: dict[str, str] | None) -> dict[str, str]:
    """User metadata as stored: names lower-cased (HTTP headers are), total size under 2 KB."""
    if not metadata:
        return {}
    normalized = {name.lower(): value for name, value in metadata.items()}
    size = sum(len(name.encode()) + len(value.encode()) for name, value in normalized.items())
    if size > MAX_USER_METADATA_BYTES:
        raise MetadataTooLarge("Your metadata headers exceed the maximum allowed metadata size.",
                               Size=str(size), MaxSizeAllowed=str(MAX_USER_METADATA_BYTES))
    return normalized


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None


def parse_copy_source(value: str) -> CopySource:
    """``x-amz-copy-source``: ``[/]bucket/key[?versionId=id]``, the key URL-encoded."""
    path, _, query = value.partition("?")
    version_id = None
    if query:
        params = dict(parse_qsl(query, keep_blank_values=True))
        version_id = params.get("versionId")
        if version_id is None:
            raise InvalidArgument("Unsupported copy source parameter.", ArgumentName="x-amz-copy-source",
                                  ArgumentValue=value)
    path = unquote(path).lstrip("/")
    bucket, slash, key = path.partition("/")
    if not bucket or not slash or not key:
        raise InvalidArgument("Invalid copy source object key", ArgumentName="x-amz-copy-source",
                              ArgumentValue=value)
    return CopySource(bucket, key, version_id or None)


def parse_tagging_header(value: str | None) -> dict[str, str]:
    """``x-amz-tagging: k1=v1&k2=v2`` (URL query encoding) → a tag dict, checked like a TagSet."""
    if not value:
        return {}
    pairs = parse_qsl(value, keep_blank_values=True)
    return check_tags([{"Key": k, "Value": v} for k, v in pairs], limit=MAX_OBJECT_TAGS)


def check_tags(tag_set: list[dict[str, str]], *, limit: int) -> dict[str, str]:
    """A TagSet as a dict, refusing what S3 refuses (duplicates, too many, too long)."""
    tags: dict[str, str] = {}
    for tag in tag_set:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if key in tags:
            raise InvalidTag("Cannot provide multiple Tags with the same key", TagKey=key)
        if not key or len(key) > 128 or not _tag_text(key):
            raise InvalidTag("The TagKey you have provided is invalid", TagKey=key)
        if len(value) > 256 or not _tag_text(value):
            raise InvalidTag("The TagValue you have provided is invalid", TagKey=key, TagValue=value)
        if key.lower().startswith("aws:"):
            raise InvalidTag("Your TagKey cannot be prefixed with aws:", TagKey=key)
        tags[key] = value
    if len(tags) > limit:
        what = "Object tags" if limit == MAX_OBJECT_TAGS else "Bucket tag count"
        raise InvalidTag(f"{what} cannot be greater than {limit}")
    return tags


_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def _tag_text(text: str) -> bool:
    """AWS's tag character set: letters, digits and spaces of any script, and ``_ . : / = + - @``."""
    return all(char in _TAG_PUNCTUATION or unicodedata.category(char)[0] in "LNZ" for char in text)


def tag_set(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
