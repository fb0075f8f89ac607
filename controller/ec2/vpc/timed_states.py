"""States that change with time alone, computed when read rather than by a background job.

A NAT gateway is ``pending`` until ``settles_at`` and ``available`` after; a deleted one
is ``deleting`` and then ``deleted``; deleted and failed gateways stay listed for an hour.
A peering request not answered within a week is ``expired``; rejected, failed, expired
and deleted connections stay listed for two hours (a week for deleted ones seen by the
requester in AWS; one rule is enough here). Reading the state through these functions
means every API call, route state and desired document agrees on it without writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

NAT_SETTLES = {"pending": "available", "deleting": "deleted"}
NAT_GONE = ("deleted", "failed")
NAT_FORWARDS = ("pending", "available")
NAT_LISTED_FOR = dt.timedelta(hours=1)

PEERING_PENDING = ("initiating-request", "pending-acceptance")
PEERING_ENDED = ("rejected", "failed", "expired", "deleted")
PEERING_LISTED_FOR = dt.timedelta(hours=2)
PEERING_EXPIRES_AFTER = dt.timedelta(days=7)


def nat_state(row: Mapping[str, Any], now: dt.datetime) -> str:
    """A NAT gateway's state now."""
    current = row["state"]
    if current in NAT_SETTLES and now >= row["settles_at"]:
        return NAT_SETTLES[current]
    return current


def nat_listed(row: Mapping[str, Any], now: dt.datetime) -> bool:
    """Whether DescribeNatGateways still shows the gateway."""
    if nat_state(row, now) not in NAT_GONE:
        return True
    ended = row["deleted_at"] or row["settles_at"]
    return now - ended < NAT_LISTED_FOR


def peering_status(row: Mapping[str, Any], now: dt.datetime) -> str:
    status = row["status"]
    if status in PEERING_PENDING and now >= row["expires_at"]:
        return "expired"
    return status


def peering_listed(row: Mapping[str, Any], now: dt.datetime) -> bool:
    status = peering_status(row, now)
    if status not in PEERING_ENDED:
        return True
    ended = row["expires_at"] if status == "expired" else row["updated_at"]
    return now - ended < PEERING_LISTED_FOR
