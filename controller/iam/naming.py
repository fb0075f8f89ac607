"""How IAM names things: unique ids, ARNs, paths, tags and list pagination.

Everything here is pure: the API modules call it to form what AWS would return, so
the shapes (``AIDA`` + 17 characters, ``arn:aws:iam::123456789012:user/path/name``,
an opaque ``Marker``) live in one place and are unit-tested without a database.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from controller.iam.errors import InvalidInput, LimitExceeded, ValidationError

T = TypeVar("T")

#: AWS unique ids are a 4-letter type prefix and 17 characters of this alphabet (21 in all).
ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ID_PREFIXES = {"user": "AIDA", "group": "AGPA", "role": "AROA", "policy": "ANPA", "instance-profile": "AIPA"}

#: Tags per IAM user, role, policy or instance profile.
MAX_TAGS = 50

DEFAULT_MAX_ITEMS = 100


def new_unique_id(kind: str) -> str:
    """A fresh id for an IAM entity of ``kind`` (``user``, ``group``, ``role``...)."""
    return ID_PREFIXES[kind] + "".join(secrets.choice(ID_ALPHABET) for _ in range(17))


def iam_arn(partition: str, account_id: str, kind: str, path: str, name: str) -> str:
    """``arn:aws:iam::ACCOUNT:KIND/PATH/NAME`` where ``path`` begins and ends with ``/``."""
    return f"arn:{partition}:iam::{account_id}:{kind}{path}{name}"


def check_path(path: str | None, member: str = "path") -> str:
    """The path, defaulted to ``/``; AWS requires it to begin and end with a slash."""
    if path is None:
        return "/"
    if not (path.startswith("/") and path.endswith("/")):
        raise ValidationError(f"The specified value for {member} is invalid. It must begin and end with / and "
                              "contain only alphanumeric characters and/or / characters.")
    return path


def name_key(name: str) -> str:
    """IAM names are unique regardless of case (``Bob`` and ``bob`` collide) but keep their case."""
    return name.lower()


def encode_document(document: str) -> str:
    """Policy documents leave IAM URL-encoded, as AWS sends them (botocore decodes them)."""
    return quote(document, safe="")


# -- tags -------------------------------------------------------------------------------------
def merge_tags(current: list[dict[str, str]], new: list[dict[str, str]]) -> list[dict[str, str]]:
    """Add or overwrite tags; IAM tag keys are unique regardless of case."""
    merged = {name_key(tag["Key"]): tag for tag in current}
    seen: set[str] = set()
    for tag in new:
        key = name_key(tag["Key"])
        if key in seen:
            raise InvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key)
        merged[key] = {"Key": tag["Key"], "Value": tag.get("Value", "")}
    if len(merged) > MAX_TAGS:
        raise LimitExceeded(f"The number of tags has reached the maximum limit of {MAX_TAGS}.")
    return list(merged.values())


def remove_tags(current: list[dict[str, str]], keys: Sequence[str]) -> list[dict[str, str]]:
    doomed = {name_key(key) for key in keys}
    return [tag for tag in current if name_key(tag["Key"]) not in doomed]


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or []}


# -- pagination --------------------------------------------------------------------------------
def paginate(items: Sequence[T], params: dict[str, Any], sort_key: Callable[[T], str],
             result_key: str) -> dict[str, Any]:
    """One page of ``items`` (sorted by ``sort_key``) after ``Marker``, at most ``MaxItems`` long.

    The marker is the sort key of the last item returned, so a page stays correct when
    items before it are deleted between calls (as AWS's markers do).
    """
    max_items = params.get("MaxItems") or DEFAULT_MAX_ITEMS
    ordered = sorted(items, key=sort_key)
    marker = params.get("Marker")
    if marker:
        after = decode_marker(marker)
        ordered = [item for item in ordered if sort_key(item) > after]
    page = ordered[:max_items]
    result: dict[str, Any] = {result_key: list(page), "IsTruncated": len(ordered) > max_items}
    if result["IsTruncated"]:
        result["Marker"] = encode_marker(sort_key(page[-1]))
    return result


def encode_marker(last_key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_key}).encode()).decode()


def decode_marker(marker: str) -> str:
    try:
        value = json.loads(base64.urlsafe_b64decode(marker.encode()))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise ValidationError("Invalid Marker.") from exc
    if not isinstance(value, str):
        raise ValidationError("Invalid Marker.")
    return value
