"""How KMS shows its records: KeyMetadata, list entries, and pages of them (pure functions over rows).

ListKeys, ListAliases, ListGrants, ListResourceTags and ListKeyRotations page with an opaque
``NextMarker`` and ``Truncated`` (default 100 per page for the lists of keys and aliases, 50 for
grants and tags, AWS's defaults); a marker that no page handed out is InvalidMarkerException.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from controller.kms import key_specs, records
from controller.kms.errors import InvalidMarkerException

T = TypeVar("T")


def material_id(key_id: str, version: int) -> str:
    """The KeyMaterialId AWS shows for one version of a key's material (64 hex digits, stable)."""
    return hashlib.sha256(f"{key_id}/{version}".encode()).hexdigest()


def key_metadata(row: Mapping[str, Any], now: dt.datetime, current_version: int | None = None) -> dict[str, Any]:
    """DescribeKey's KeyMetadata (also CreateKey's)."""
    state = records.key_state(row, now)
    spec = row["key_spec"]
    metadata: dict[str, Any] = {
        "AWSAccountId": row["account_id"], "KeyId": row["key_id"], "Arn": row["arn"],
        "CreationDate": row["created_at"], "Enabled": state == records.ENABLED,
        "Description": row["description"], "KeyUsage": row["key_usage"], "KeyState": state,
        "Origin": row["origin"], "KeyManager": row["manager"], "CustomerMasterKeySpec": spec, "KeySpec": spec,
        "MultiRegion": False,
    }
    metadata.update(algorithm_members(spec, row["key_usage"]))
    if row["deletion_date"] is not None:
        metadata["DeletionDate"] = row["deletion_date"]
    if current_version is not None:
        metadata["CurrentKeyMaterialId"] = material_id(row["key_id"], current_version)
    return metadata


def algorithm_members(spec: str, usage: str) -> dict[str, list[str]]:
    """EncryptionAlgorithms, SigningAlgorithms or MacAlgorithms of a key (KeyMetadata, GetPublicKey)."""
    offered = key_specs.algorithms(spec, usage)
    members = {"EncryptionAlgorithms": list(offered.encryption), "SigningAlgorithms": list(offered.signing),
               "MacAlgorithms": list(offered.mac)}
    return {name: value for name, value in members.items() if value}


def page(items: Sequence[T], marker: str | None, limit: int | None, default_limit: int,
         position: Callable[[T], str]) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items`` (sorted by ``position``) after ``marker``, and the paging members of the answer."""
    start = 0
    if marker is not None:
        try:
            after = base64.b64decode(marker.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
        except (ValueError, UnicodeError):  # binascii.Error is a ValueError
            raise InvalidMarkerException("Invalid marker") from None
        positions = [position(item) for item in items]
        start = next((i + 1 for i, value in enumerate(positions) if value == after), -1)
        if start < 0:
            start = next((i for i, value in enumerate(positions) if value > after), len(items))
    size = limit or default_limit
    chunk = list(items[start:start + size])
    if start + size < len(items) and chunk:
        next_marker = base64.urlsafe_b64encode(position(chunk[-1]).encode("utf-8")).decode("ascii")
        return chunk, {"NextMarker": next_marker, "Truncated": True}
    return chunk, {"Truncated": False}
