"""EFS's rules as pure functions: throughput and performance modes, lifecycle policies, tags, paging.

Each raises the EFS error AWS answers (``BadRequest``, ``ThroughputLimitExceeded``,
``TooManyRequests``...) and changes nothing; the handlers apply what these return.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import TypeVar

from controller.efs.errors import BadRequest, ThroughputLimitExceeded, TooManyRequests, ValidationException

#: A file system, a mount target: ``creating`` this long after creation, then ``available``.
CREATION_SECONDS = 2.0
#: ProvisionedThroughputInMibps: 1 to this (AWS: "the throughput limit of 1024 MiB/s").
MAX_PROVISIONED_MIBPS = 1024.0
#: Changing the throughput mode, or lowering provisioned throughput, once per this period.
THROUGHPUT_CHANGE_PERIOD = dt.timedelta(hours=24)
MAX_TAGS = 50
#: The metered size of an empty file system, as EFS reports it.
EMPTY_SIZE_BYTES = 6144

PERFORMANCE_MODES = ("generalPurpose", "maxIO")
THROUGHPUT_MODES = ("bursting", "provisioned", "elastic")
TRANSITION_TO_IA = ("AFTER_1_DAY", "AFTER_7_DAYS", "AFTER_14_DAYS", "AFTER_30_DAYS", "AFTER_60_DAYS",
                    "AFTER_90_DAYS", "AFTER_180_DAYS", "AFTER_270_DAYS", "AFTER_365_DAYS")
TRANSITION_TO_PRIMARY = ("AFTER_1_ACCESS",)

T = TypeVar("T")


def life_cycle_state(created_at: dt.datetime, now: dt.datetime) -> str:
    """``creating`` for :data:`CREATION_SECONDS` after creation, ``available`` from then on."""
    return "creating" if (now - created_at).total_seconds() < CREATION_SECONDS else "available"


# --- file system settings --------------------------------------------------------------------------------------


def check_new_file_system(performance_mode: str, throughput_mode: str, provisioned: float | None,
                          one_zone: bool) -> None:
    """CreateFileSystem's mode rules: maxIO is neither One Zone nor elastic; provisioned needs an amount."""
    if performance_mode == "maxIO" and one_zone:
        raise BadRequest("One Zone file systems do not support the Max I/O performance mode.")
    if performance_mode == "maxIO" and throughput_mode == "elastic":
        raise BadRequest("Elastic throughput mode is not supported for file systems using the Max I/O "
                         "performance mode.")
    check_throughput(throughput_mode, provisioned)


def check_throughput(throughput_mode: str, provisioned: float | None) -> None:
    """Provisioned throughput exactly when the mode is ``provisioned``, and within 1..1024 MiB/s."""
    if throughput_mode == "provisioned":
        if provisioned is None:
            raise BadRequest("ProvisionedThroughputInMibps is required when ThroughputMode is provisioned.")
        if not math.isfinite(provisioned) or provisioned < 1.0:
            raise BadRequest("ProvisionedThroughputInMibps must be a number of at least 1.0 MiB/s.")
        if provisioned > MAX_PROVISIONED_MIBPS:
            raise ThroughputLimitExceeded(f"The provisioned throughput of {provisioned:g} MiB/s exceeds the "
                                          f"limit of {MAX_PROVISIONED_MIBPS:g} MiB/s.")
    elif provisioned is not None:
        raise BadRequest("ProvisionedThroughputInMibps can only be set when ThroughputMode is provisioned.")


def updated_throughput(current_mode: str, current_mibps: float | None, restricted_at: dt.datetime | None,
                       performance_mode: str, new_mode: str | None, new_mibps: float | None,
                       now: dt.datetime) -> tuple[str, float | None, dt.datetime | None]:
    """UpdateFileSystem: the new (mode, provisioned MiB/s, restricted-at).

    Raising provisioned throughput is always allowed; changing the mode or lowering the amount is
    allowed once per 24 hours (TooManyRequests with the time to wait until, as AWS words it).
    """
    mode = new_mode or current_mode
    if new_mode is None and new_mibps is None:
        raise BadRequest("One of ThroughputMode or ProvisionedThroughputInMibps is required.")
    if mode == "elastic" and performance_mode == "maxIO":
        raise BadRequest("Elastic throughput mode is not supported for file systems using the Max I/O "
                         "performance mode.")
    mibps = new_mibps if mode == "provisioned" else None
    if mode == "provisioned" and mibps is None:
        if current_mode != "provisioned":
            raise BadRequest("ProvisionedThroughputInMibps is required when ThroughputMode is provisioned.")
        mibps = current_mibps
    if new_mibps is not None and mode != "provisioned":
        raise BadRequest("ProvisionedThroughputInMibps can only be set when ThroughputMode is provisioned.")
    check_throughput(mode, mibps)
    restricted = mode != current_mode or (
        current_mibps is not None and mibps is not None and mibps < current_mibps)
    if not restricted:
        return mode, mibps, restricted_at
    if restricted_at is not None and now < restricted_at + THROUGHPUT_CHANGE_PERIOD:
        until = (restricted_at + THROUGHPUT_CHANGE_PERIOD).strftime("%Y-%m-%dT%H:%M:%SZ")
        raise TooManyRequests("You have reached the maximum number of throughput mode changes or provisioned "
                              f"throughput value decreases. Wait until {until} UTC and try again.")
    return mode, mibps, now


def check_lifecycle_policies(policies: Sequence[dict[str, str]], throughput_mode: str) -> list[dict[str, str]]:
    """PutLifecycleConfiguration: one transition per policy object, each kind at most once; archiving only
    with elastic throughput, and later than the move to Infrequent Access."""
    seen: dict[str, str] = {}
    for policy in policies:
        given = {k: v for k, v in policy.items() if v is not None}
        if len(given) != 1:
            raise BadRequest("Each LifecyclePolicy object must have exactly one transition rule.")
        [(kind, value)] = given.items()
        if kind in seen:
            raise BadRequest(f"The lifecycle configuration has more than one {kind} rule.")
        seen[kind] = value
    if "TransitionToArchive" in seen:
        if throughput_mode != "elastic":
            raise BadRequest("TransitionToArchive requires a file system in the elastic throughput mode.")
        if "TransitionToIA" in seen and _days(seen["TransitionToArchive"]) <= _days(seen["TransitionToIA"]):
            raise BadRequest("TransitionToArchive must be later than TransitionToIA.")
    return [{kind: value} for kind, value in seen.items()]


def _days(rule: str) -> int:
    return int(rule.split("_")[1])


# --- tags ---------------------------------------------------------------------------------------------------------


def merged_tags(current: Sequence[dict[str, str]], added: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """Tags after adding ``added`` (a key given again takes the new value); at most 50, no ``aws:`` keys."""
    tags = {t["Key"]: t["Value"] for t in current}
    for tag in added:
        if tag["Key"].lower().startswith("aws:"):
            raise ValidationException(f"Tag key {tag['Key']} is reserved: keys cannot begin with aws:.")
        tags[tag["Key"]] = tag["Value"]
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"A resource can have at most {MAX_TAGS} tags.")
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def without_tags(current: Sequence[dict[str, str]], keys: Sequence[str]) -> list[dict[str, str]]:
    return [t for t in current if t["Key"] not in set(keys)]


def name_of(tags: Sequence[dict[str, str]]) -> str | None:
    """The ``Name`` tag's value (EFS shows it as the resource's Name)."""
    return next((t["Value"] for t in tags if t["Key"] == "Name"), None)


# --- paging -------------------------------------------------------------------------------------------------------


def page(items: Sequence[T], seq_of: Callable[[T], int], marker: str | None, limit: int | None,
         default_limit: int) -> tuple[list[T], str | None]:
    """One page of ``items`` (in ``seq`` order) from ``marker``, and the marker of the next page or None.

    Markers are opaque to clients; one that this function did not make answers BadRequest.
    """
    start = 0
    if marker is not None:
        after = decode_marker(marker)
        start = next((i for i, item in enumerate(items) if seq_of(item) >= after), len(items))
    size = limit or default_limit
    chunk = list(items[start:start + size])
    more = start + size < len(items)
    return chunk, encode_marker(seq_of(items[start + size])) if more else None


def encode_marker(seq: int) -> str:
    return base64.urlsafe_b64encode(f"efs:{seq}".encode()).decode()


def decode_marker(marker: str) -> int:
    try:
        text = base64.urlsafe_b64decode(marker.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "efs":
            raise ValueError(marker)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest(f"The marker {marker!r} is not valid.") from None
